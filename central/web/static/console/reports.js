// The monitoring centre's reports (supervisors and admins): a period of local days, then alarms by area and hour of
// day in the four warning colours, false alarms by site and response times by day; each exportable as CSV, and the
// page printable as it is.

import { api, download } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { fmtAge, timeZone } from "../common/time.js";
import { element, showError, startConsole } from "./shell.js";

addMessages({
  "zh-CN": {
    "reports.title": "报表", "reports.from": "起始日期", "reports.to": "截止日期（含）", "reports.show": "查询",
    "reports.last7": "近 7 天", "reports.last30": "近 30 天", "reports.print": "打印", "reports.csv": "导出 CSV",
    "reports.period": "统计期间：{from} 至 {to}（含），时区 {tz}",
    "reports.bad_dates": "请选择起始和截止日期，且起始不晚于截止。",
    "reports.empty": "此期间没有警情",
    "reports.legend": "预警级别图例",
    "reports.grid.title": "分区 × 时段 警情分布",
    "reports.grid.help": "每格为该分区在该时段（本地时间）的警情数；颜色与字母表示巡逻预警级别。",
    "reports.grid.area": "分区", "reports.grid.total": "合计", "reports.grid.hour": "{h}时",
    "reports.grid.cell": "{area}，{h}时：{n} 起，{level}",
    "reports.grid.relative": "相对级别：以本表最忙的一格（{busiest} 起）为准",
    "reports.grid.absolute": "绝对级别：按设定的警情数",
    "reports.unassigned": "未分区",
    "reports.level.red": "红色", "reports.level.orange": "橙色", "reports.level.yellow": "黄色", "reports.level.blue": "蓝色",
    "reports.mark.red": "红", "reports.mark.orange": "橙", "reports.mark.yellow": "黄", "reports.mark.blue": "蓝",
    "reports.level.at_least": "{level}：≥ {n} 起", "reports.level.below": "{level}：< {n} 起",
    "reports.false.title": "各站点误报率",
    "reports.false.help": "期间内发生、已处置的警情中误报所占比例。",
    "reports.col.site": "站点", "reports.col.name": "名称", "reports.col.area": "分区", "reports.col.raised": "警情",
    "reports.col.resolved": "已处置", "reports.col.false": "误报", "reports.col.real": "真实",
    "reports.col.cancelled": "用户取消", "reports.col.rate": "误报率",
    "reports.times.title": "每日响应时间",
    "reports.times.help": "从报警到各环节的用时（分:秒）：次数、平均、90% 分位。",
    "reports.col.day": "日期", "reports.col.dispatches": "警情", "reports.col.count": "次数",
    "reports.col.mean": "平均", "reports.col.p90": "P90",
    "reports.step.acknowledged": "接警", "reports.step.guard_assigned": "派保安", "reports.step.on_scene": "到场",
    "reports.step.resolved": "处置完毕", "reports.step.escalated": "转 110",
  },
  en: {
    "reports.title": "Reports", "reports.from": "From", "reports.to": "To (inclusive)", "reports.show": "Show",
    "reports.last7": "Last 7 days", "reports.last30": "Last 30 days", "reports.print": "Print",
    "reports.csv": "Export CSV",
    "reports.period": "Period: {from} to {to} (inclusive), time zone {tz}",
    "reports.bad_dates": "Choose both dates, the first not after the last.",
    "reports.empty": "No alarms in this period",
    "reports.legend": "Warning levels",
    "reports.grid.title": "Alarms by area and hour",
    "reports.grid.help": "Each cell counts the area's alarms in that hour (local time); colour and letter give the patrol warning level.",
    "reports.grid.area": "Area", "reports.grid.total": "Total", "reports.grid.hour": "{h}h",
    "reports.grid.cell": "{area}, {h}h: {n} alarms, {level}",
    "reports.grid.relative": "Relative levels: against the busiest cell of this table ({busiest} alarms)",
    "reports.grid.absolute": "Absolute levels: by the counts set",
    "reports.unassigned": "Unassigned",
    "reports.level.red": "Red", "reports.level.orange": "Orange", "reports.level.yellow": "Yellow", "reports.level.blue": "Blue",
    "reports.mark.red": "R", "reports.mark.orange": "O", "reports.mark.yellow": "Y", "reports.mark.blue": "B",
    "reports.level.at_least": "{level}: ≥ {n}", "reports.level.below": "{level}: < {n}",
    "reports.false.title": "False alarms by site",
    "reports.false.help": "Of the alarms raised in the period and resolved, the share that were false.",
    "reports.col.site": "Site", "reports.col.name": "Name", "reports.col.area": "Area", "reports.col.raised": "Alarms",
    "reports.col.resolved": "Resolved", "reports.col.false": "False", "reports.col.real": "Real",
    "reports.col.cancelled": "Cancelled", "reports.col.rate": "False rate",
    "reports.times.title": "Response times by day",
    "reports.times.help": "Time from the alarm to each step (min:s): count, mean, 90th percentile.",
    "reports.col.day": "Day", "reports.col.dispatches": "Alarms", "reports.col.count": "Count",
    "reports.col.mean": "Mean", "reports.col.p90": "P90",
    "reports.step.acknowledged": "Acknowledged", "reports.step.guard_assigned": "Guard assigned",
    "reports.step.on_scene": "On scene", "reports.step.resolved": "Resolved", "reports.step.escalated": "To 110",
  },
});

const LEVELS = ["red", "orange", "yellow", "blue"];
const STEPS = ["acknowledged", "guard_assigned", "on_scene", "resolved", "escalated"];

const $ = (id) => document.getElementById(id);
let current = null; // {from, to, tz}
let answers = null; // the three reports of the period shown

// "2026-11-24" of a local date, and back: the dates are the user's local days.
function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function nextDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return isoDay(new Date(y, m - 1, d + 1));
}

function lastDays(n) {
  const today = new Date();
  $("to").value = isoDay(today);
  $("from").value = isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - (n - 1)));
}

function query() {
  const params = new URLSearchParams({ since: current.from, until: nextDay(current.to), tz: current.tz });
  return params.toString();
}

function cell(tag, text, className = "") {
  const node = element(tag, { className });
  node.textContent = text;
  return node;
}

function areaName(area) {
  return area ?? t("reports.unassigned");
}

function renderLegend(levels, busiest) {
  const items = [];
  const bounds = { red: levels.red, orange: levels.orange, yellow: levels.yellow };
  for (const level of LEVELS) {
    const swatch = element("span", { className: `swatch level-${level}` });
    swatch.textContent = t(`reports.mark.${level}`);
    const label = level === "blue"
      ? t("reports.level.below", { level: t("reports.level.blue"), n: levels.yellow })
      : t("reports.level.at_least", { level: t(`reports.level.${level}`), n: bounds[level] });
    items.push(element("li", { "data-level": level }, swatch, label));
  }
  const mode = levels.mode === "absolute" ? t("reports.grid.absolute") : t("reports.grid.relative", { busiest });
  items.push(element("li", { className: "muted" }, mode));
  $("grid-legend").replaceChildren(...items);
}

function renderGrid(grid) {
  renderLegend(grid.levels, grid.busiest);
  const table = $("grid");
  $("grid-empty").hidden = grid.rows.length > 0;
  table.hidden = grid.rows.length === 0;
  const head = element("tr", {}, cell("th", t("reports.grid.area")));
  head.firstChild.scope = "col";
  for (const hour of grid.hours) {
    const th = cell("th", String(hour).padStart(2, "0"), "number");
    th.scope = "col";
    th.title = t("reports.grid.hour", { h: hour });
    head.append(th);
  }
  const totalHead = cell("th", t("reports.grid.total"), "number");
  totalHead.scope = "col";
  head.append(totalHead);
  const body = grid.rows.map((row) => {
    const name = cell("th", areaName(row.area));
    name.scope = "row";
    const tr = element("tr", { "data-area": row.area ?? "" }, name);
    for (const entry of row.cells) {
      const td = element("td", { className: `level-${entry.level}${entry.count ? "" : " zero"}` });
      td.dataset.level = entry.level;
      td.dataset.hour = String(entry.hour);
      if (entry.count) {
        td.append(String(entry.count), element("span", { className: "mark", text: t(`reports.mark.${entry.level}`) }));
      }
      td.title = t("reports.grid.cell", { area: areaName(row.area), h: entry.hour, n: entry.count,
        level: t(`reports.level.${entry.level}`) });
      td.setAttribute("aria-label", td.title);
      tr.append(td);
    }
    tr.append(cell("td", String(row.total), "total number"));
    return tr;
  });
  table.replaceChildren(element("thead", {}, head), element("tbody", {}, ...body));
}

function percent(rate) {
  return rate === null ? "—" : `${(rate * 100).toFixed(1)}%`;
}

function renderFalseAlarms(report) {
  const columns = [["site", ""], ["name", ""], ["area", ""], ["raised", "number"], ["resolved", "number"],
    ["false", "number"], ["real", "number"], ["cancelled", "number"], ["rate", "number"]];
  const head = element("tr", {}, ...columns.map(([key, className]) => {
    const th = cell("th", t(`reports.col.${key}`), className);
    th.scope = "col";
    return th;
  }));
  const rows = report.sites.map((site) => element("tr", { "data-site": site.site },
    cell("td", site.site), cell("td", site.name ?? "—"), cell("td", areaName(site.area)),
    cell("td", String(site.raised), "number"), cell("td", String(site.resolved), "number"),
    cell("td", String(site.false), "number"), cell("td", String(site.real), "number"),
    cell("td", String(site.cancelled_by_user), "number"), cell("td", percent(site.false_rate), "number rate")));
  $("false-empty").hidden = report.sites.length > 0;
  $("false-alarms").hidden = report.sites.length === 0;
  $("false-alarms").replaceChildren(element("thead", {}, head), element("tbody", {}, ...rows));
}

function seconds(value) {
  return value === null ? "—" : fmtAge(value);
}

function renderTimes(report) {
  const top = element("tr", {}, cell("th", ""), cell("th", ""));
  const sub = element("tr", {}, cell("th", t("reports.col.day")), cell("th", t("reports.col.dispatches"), "number"));
  for (const step of STEPS) {
    const group = cell("th", t(`reports.step.${step}`), "group");
    group.colSpan = 3;
    group.scope = "colgroup";
    top.append(group);
    sub.append(cell("th", t("reports.col.count"), "number group-start"), cell("th", t("reports.col.mean"), "number"),
      cell("th", t("reports.col.p90"), "number"));
  }
  for (const th of sub.children) th.scope = "col";
  const rows = report.days.map((day) => {
    const tr = element("tr", { "data-day": day.day }, cell("td", day.day), cell("td", String(day.dispatches), "number"));
    for (const step of STEPS) {
      const stats = day.steps[step];
      tr.append(cell("td", String(stats.count), "number group-start"), cell("td", seconds(stats.mean_s), "number"),
        cell("td", seconds(stats.p90_s), "number"));
    }
    return tr;
  });
  $("times").replaceChildren(element("thead", {}, top, sub), element("tbody", {}, ...rows));
}

function render() {
  if (!answers) return;
  $("period-line").textContent = t("reports.period", { from: current.from, to: current.to, tz: current.tz });
  renderGrid(answers.grid);
  renderFalseAlarms(answers.falseAlarms);
  renderTimes(answers.times);
  document.body.dataset.loaded = "1";
}

async function show() {
  const from = $("from").value;
  const to = $("to").value;
  $("period-error").textContent = "";
  if (!from || !to || from > to) {
    $("period-error").textContent = t("reports.bad_dates");
    return;
  }
  current = { from, to, tz: timeZone() };
  $("reports-error").textContent = "";
  document.body.dataset.loaded = "0";
  try {
    const q = query();
    const [grid, falseAlarms, times] = await Promise.all([
      api("staff", `/api/reports/area-hours?${q}`),
      api("staff", `/api/reports/false-alarms?${q}`),
      api("staff", `/api/reports/daily-response-times?${q}`),
    ]);
    answers = { grid, falseAlarms, times };
    render();
  } catch (error) {
    showError($("period-error"), error);
  }
}

function exportButton(id, report) {
  $(id).addEventListener("click", async () => {
    if (!current) return;
    try {
      await download("staff", `/api/reports/${report}.csv?${query()}`, `${report}.csv`);
    } catch (error) {
      showError($("reports-error"), error);
    }
  });
}

function main() {
  try {
    startConsole("reports");
  } catch {
    return; // not logged in (on the way to the login page) or not allowed: the frame says so
  }
  lastDays(7);
  $("period-form").addEventListener("submit", (event) => {
    event.preventDefault();
    show();
  });
  $("last7").addEventListener("click", () => { lastDays(7); show(); });
  $("last30").addEventListener("click", () => { lastDays(30); show(); });
  $("print").addEventListener("click", () => window.print());
  exportButton("grid-csv", "area-hours");
  exportButton("false-csv", "false-alarms");
  exportButton("times-csv", "daily-response-times");
  onLangChange(() => {
    applyI18n();
    render();
  });
  show();
}

main();
