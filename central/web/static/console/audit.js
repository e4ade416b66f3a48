// The audit log read back: who did what when, between two times (in the user's time zone), by actor and target;
// newest first with "load older", and the same as a CSV download.

import { api, download } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { fmtDateTime, fromLocalInput, toLocalInput } from "../common/time.js";
import { element, showError, startConsole } from "./shell.js";
import { actionName as dispatchActionName } from "./words.js";

addMessages({
  "zh-CN": {
    "audit.title": "操作日志", "audit.csv": "下载 CSV", "audit.since": "从", "audit.until": "到", "audit.actor": "操作人",
    "audit.target": "对象", "audit.target.hint": "如 site:shop-0001", "audit.search": "查询", "audit.at": "时间",
    "audit.role": "角色", "audit.action": "操作", "audit.detail": "详情", "audit.empty": "这段时间没有记录",
    "audit.bad_period": "开始时间须早于结束时间", "audit.older": "加载更早的记录",
    "audit.a.site.profile": "修改站点资料", "audit.a.login": "登录", "audit.a.login_failed": "登录失败",
    "audit.a.logout": "退出", "audit.a.dispatch": "警情：{action}",
  },
  en: {
    "audit.title": "Audit log", "audit.csv": "Download CSV", "audit.since": "From", "audit.until": "To",
    "audit.actor": "Who", "audit.target": "Target", "audit.target.hint": "e.g. site:shop-0001", "audit.search": "Search",
    "audit.at": "Time", "audit.role": "Role", "audit.action": "Action", "audit.detail": "Details",
    "audit.empty": "Nothing in this period", "audit.bad_period": "The start must be before the end",
    "audit.older": "Load older",
    "audit.a.site.profile": "Site profile changed", "audit.a.login": "Logged in", "audit.a.login_failed": "Log-in failed",
    "audit.a.logout": "Logged out", "audit.a.dispatch": "Alarm: {action}",
  },
});

startConsole("audit");
const form = document.getElementById("audit-form");
const rows = document.getElementById("audit-rows");
const errorBox = document.getElementById("audit-error");
const older = document.getElementById("older");
const PAGE = 100;
let entries = [];
let cursor = null;
let searched = "";

const now = new Date();
form.elements.since.value = toLocalInput(new Date(now.getTime() - 24 * 3600 * 1000));
form.elements.until.value = toLocalInput(new Date(now.getTime() + 60 * 1000));

function params() {
  const since = form.elements.since.value;
  const until = form.elements.until.value;
  if (!since || !until || new Date(since) >= new Date(until)) throw new Error(t("audit.bad_period"));
  const result = new URLSearchParams({ since: fromLocalInput(since), until: fromLocalInput(until) });
  for (const name of ["actor", "target"]) {
    const value = form.elements[name].value.trim();
    if (value) result.set(name, value);
  }
  return result;
}

function actionName(action) {
  const key = `audit.a.${action}`;
  const text = t(key);
  if (text !== key) return text;
  if (action.startsWith("dispatch.")) return t("audit.a.dispatch", { action: dispatchActionName(action.slice(9)) });
  return action;
}

const shown = (value) => (value === null || value === undefined || value === "" ? "—" : value);

function detailText(detail) {
  // {"area": {"from": "东城片区", "to": "南城片区"}} -> area: 东城片区 → 南城片区
  return Object.entries(detail || {}).map(([key, value]) => {
    if (value && typeof value === "object" && "from" in value && "to" in value) {
      return `${key}: ${shown(value.from)} → ${shown(value.to)}`;
    }
    return `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`;
  }).join("; ");
}

function render() {
  rows.replaceChildren(...entries.map((entry) => element("tr", { "data-action": entry.action },
    element("td", { className: "at", text: fmtDateTime(entry.at) }),
    element("td", { text: entry.actor }),
    element("td", { text: t(`role.${entry.role}`) === `role.${entry.role}` ? entry.role : t(`role.${entry.role}`) }),
    element("td", { text: actionName(entry.action) }),
    element("td", { className: "target", text: entry.target || "—" }),
    element("td", { className: "detail", text: detailText(entry.detail) }))));
  document.getElementById("audit-empty").hidden = entries.length > 0;
  older.hidden = cursor === null;
}

async function search() {
  try {
    searched = params().toString();
    const page = await api("staff", `/api/audit?${searched}&limit=${PAGE}`);
    entries = page.items;
    cursor = page.next_cursor;
    errorBox.textContent = "";
    render();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (error) {
    showError(errorBox, error);
  }
}

older.addEventListener("click", async () => {
  older.disabled = true;
  try {
    const page = await api("staff", `/api/audit?${searched}&limit=${PAGE}&before=${encodeURIComponent(cursor)}`);
    entries = entries.concat(page.items);
    cursor = page.next_cursor;
    render();
  } catch (error) {
    showError(errorBox, error);
  } finally {
    older.disabled = false;
  }
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});
document.getElementById("download").addEventListener("click", async () => {
  try {
    await download("staff", `/api/audit.csv?${params().toString()}`, "audit.csv");
  } catch (error) {
    showError(errorBox, error);
  }
});
onLangChange(() => {
  applyI18n();
  render();
});
search();
