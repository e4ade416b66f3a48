// Every site at a glance for the shift: online or not, armed or not, how long since it last spoke (ticking), lost
// readings and open troubles; filtered on the server (GET /api/sites?online=&armed=&troubles=&gaps=&area=), refreshed
// by the button and every 15 seconds.

import { api } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { fmtAge, fmtDateTime, fmtTime, secondsSince } from "../common/time.js";
import { element, showError, startConsole } from "./shell.js";
import { arming, armingName, presence, presenceName } from "./site-words.js";

addMessages({
  "zh-CN": {
    "sites.title": "站点", "sites.count": "{shown} / {total} 个站点", "sites.updated": "更新于 {time}",
    "sites.f.online": "在线状态", "sites.f.armed": "布撤防", "sites.f.area": "片区", "sites.f.all": "全部",
    "sites.f.troubles": "有未关闭故障", "sites.f.gaps": "有数据缺失", "sites.f.clear": "清除筛选",
    "sites.f.no_area": "（未分片区）",
    "sites.site": "站点", "sites.area": "片区", "sites.online": "在线", "sites.armed": "布撤防",
    "sites.last": "最近数据", "sites.gaps": "数据缺失", "sites.troubles": "未关闭故障",
    "sites.empty": "没有符合条件的站点", "sites.missing": "{gaps} 段，缺 {missing} 条", "sites.open": "打开站点 {id}",
  },
  en: {
    "sites.title": "Sites", "sites.count": "{shown} of {total} sites", "sites.updated": "Updated {time}",
    "sites.f.online": "Presence", "sites.f.armed": "Arming", "sites.f.area": "Area", "sites.f.all": "All",
    "sites.f.troubles": "With open troubles", "sites.f.gaps": "With missing readings", "sites.f.clear": "Clear filters",
    "sites.f.no_area": "(no area)",
    "sites.site": "Site", "sites.area": "Area", "sites.online": "Online", "sites.armed": "Arming",
    "sites.last": "Last reading", "sites.gaps": "Missing readings", "sites.troubles": "Open troubles",
    "sites.empty": "No site matches", "sites.missing": "{gaps} gaps, {missing} missing", "sites.open": "Open site {id}",
  },
});

startConsole("sites");
const form = document.getElementById("filters");
const rows = document.getElementById("site-rows");
const empty = document.getElementById("sites-empty");
const count = document.getElementById("sites-count");
const updated = document.getElementById("sites-updated");
const errorBox = document.getElementById("sites-error");
const areaSelect = document.getElementById("f-area");
const STALE_AFTER_S = 15 * 60; // a site silent this long is worth a look even if it says it is online
let shown = [];
let total = 0;
let loadedAt = null;

function query() {
  const params = new URLSearchParams();
  for (const name of ["online", "armed", "area"]) {
    const value = form.elements[name].value;
    if (value) params.set(name, value);
  }
  for (const name of ["troubles", "gaps"]) if (form.elements[name].checked) params.set(name, "true");
  return params.toString();
}

function badge(state, text) {
  return element("span", { className: "badge", "data-state": state, text });
}

function counted(value, text, level) {
  return element("span", { className: value > 0 ? `count ${level}` : "count", text });
}

function row(site) {
  const link = element("a", { href: `/console/site?site=${encodeURIComponent(site.id)}`, text: site.name || site.id });
  link.setAttribute("aria-label", t("sites.open", { id: site.id }));
  const name = element("td", { className: "name" }, link);
  if (site.name) name.append(" ", element("span", { className: "muted", text: site.id }));
  const age = element("td", { className: "age", title: fmtDateTime(site.last_reading_at) });
  age.dataset.since = site.last_reading_at || "";
  return element("tr", { className: presence(site.online), "data-site": site.id },
    name,
    element("td", { text: site.area || "—" }),
    element("td", {}, badge(presence(site.online), presenceName(site.online))),
    element("td", {}, badge(arming(site.armed), armingName(site.armed))),
    age,
    element("td", {}, counted(site.open_gaps, site.open_gaps ? t("sites.missing", { gaps: site.open_gaps, missing: site.missing_readings }) : "0", "bad")),
    element("td", {}, counted(site.open_tickets, String(site.open_tickets), "warn")),
  );
}

function tick() {
  const now = Date.now();
  for (const cell of rows.querySelectorAll("td.age")) {
    const since = cell.dataset.since;
    if (!since) {
      cell.textContent = t("sites.never");
      continue;
    }
    const seconds = secondsSince(since, now);
    cell.textContent = fmtAge(seconds);
    cell.classList.toggle("stale", seconds > STALE_AFTER_S);
  }
}

function render() {
  rows.replaceChildren(...shown.map(row));
  empty.hidden = shown.length > 0;
  count.textContent = t("sites.count", { shown: shown.length, total });
  updated.textContent = loadedAt ? t("sites.updated", { time: fmtTime(loadedAt) }) : "";
  tick();
}

function fillAreas(sites) {
  const chosen = areaSelect.value;
  const areas = [...new Set(sites.map((site) => site.area).filter((area) => area))].sort((a, b) => a.localeCompare(b));
  const options = [element("option", { value: "", "data-i18n": "sites.f.all", text: t("sites.f.all") })];
  for (const area of areas) options.push(element("option", { value: area, text: area }));
  areaSelect.replaceChildren(...options);
  areaSelect.value = areas.includes(chosen) ? chosen : "";
}

let loading = null;
async function load() {
  if (loading) loading.abort();
  const controller = new AbortController();
  loading = controller;
  try {
    const [all, filtered] = await Promise.all([
      api("staff", "/api/sites", { signal: controller.signal }),
      api("staff", `/api/sites?${query()}`, { signal: controller.signal }),
    ]);
    total = all.length;
    fillAreas(all);
    shown = filtered;
    loadedAt = new Date().toISOString();
    errorBox.textContent = "";
    render();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (error) {
    if (!controller.signal.aborted) showError(errorBox, error);
  }
}

form.addEventListener("change", load);
form.addEventListener("submit", (event) => event.preventDefault());
form.addEventListener("reset", () => setTimeout(load, 0));
document.getElementById("refresh").addEventListener("click", load);
onLangChange(() => {
  applyI18n();
  render();
});
setInterval(tick, 1000);
setInterval(load, 15_000);
load();
