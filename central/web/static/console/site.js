// One site: its state and profile (editable by supervisors and admins, every change in the audit log), its open
// troubles and missing readings, and its history newest first with "load older". The site id is in the address
// (?site=ID): an id of a shop, not personal data.

import { api } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { fmtAge, fmtDateTime, secondsSince } from "../common/time.js";
import { element, showError, startConsole } from "./shell.js";
import { arming, armingName, eventName, kindName, presence, presenceName, SITE_ID } from "./site-words.js";
import { alarmClass, outcomeName } from "./words.js";

addMessages({
  "zh-CN": {
    "site.back": "← 全部站点", "site.last": "最近数据", "site.profile": "站点资料", "site.name": "名称",
    "site.area": "片区", "site.address": "地址", "site.lat": "纬度（WGS 84）", "site.lon": "经度（WGS 84）",
    "site.position": "位置", "site.kind": "类型", "site.version": "软件版本", "site.save": "保存资料",
    "site.saved": "已保存", "site.unchanged": "没有改动", "site.bad_coords": "纬度在 −90 到 90 之间、经度在 −180 到 180 之间，两者一起填写或一起留空",
    "site.bad_name": "名称不能为空",
    "site.tickets": "未关闭故障", "site.tickets.none": "没有未关闭的故障", "site.t.class": "故障",
    "site.t.device": "设备 / 防区", "site.t.opened": "发生时间", "site.gaps": "数据缺失",
    "site.gaps.none": "没有缺失的数据", "site.g.seqs": "缺失序号", "site.g.since": "发现时间",
    "site.timeline": "最近记录", "site.timeline.none": "暂无记录", "site.tl.at": "时间", "site.tl.what": "事件",
    "site.tl.device": "设备", "site.tl.summary": "内容", "site.older": "加载更早的记录", "site.unknown": "没有这个站点",
  },
  en: {
    "site.back": "← All sites", "site.last": "Last reading", "site.profile": "Profile", "site.name": "Name",
    "site.area": "Area", "site.address": "Address", "site.lat": "Latitude (WGS 84)", "site.lon": "Longitude (WGS 84)",
    "site.position": "Position", "site.kind": "Kind", "site.version": "Software version", "site.save": "Save profile",
    "site.saved": "Saved", "site.unchanged": "Nothing changed", "site.bad_coords": "Latitude from −90 to 90, longitude from −180 to 180, both or neither",
    "site.bad_name": "The name must not be empty",
    "site.tickets": "Open troubles", "site.tickets.none": "No open troubles", "site.t.class": "Trouble",
    "site.t.device": "Device / zone", "site.t.opened": "Since", "site.gaps": "Missing readings",
    "site.gaps.none": "No readings missing", "site.g.seqs": "Missing seqs", "site.g.since": "Found",
    "site.timeline": "Recent history", "site.timeline.none": "Nothing yet", "site.tl.at": "Time", "site.tl.what": "Event",
    "site.tl.device": "Device", "site.tl.summary": "Details", "site.older": "Load older", "site.unknown": "No such site",
  },
});

const EDITORS = ["supervisor", "admin"];
const PAGE = 100;
const session = startConsole("site");
const siteId = new URLSearchParams(location.search).get("site") || "";
const errorBox = document.getElementById("site-error");
const form = document.getElementById("profile-form");
const status = document.getElementById("profile-status");
const older = document.getElementById("older");
const timelineRows = document.getElementById("timeline-rows");
let site = null;
let tickets = [];
let gaps = [];
let events = [];
let cursor = null;

function base() {
  return `/api/sites/${encodeURIComponent(siteId)}`;
}

function renderHeader() {
  document.getElementById("site-title").textContent = site.name ? `${site.name} (${site.id})` : site.id;
  document.title = `${t("app.name")} · ${site.name || site.id}`;
  const online = document.getElementById("site-online");
  online.dataset.state = presence(site.online);
  online.textContent = presenceName(site.online);
  const armed = document.getElementById("site-armed");
  armed.dataset.state = arming(site.armed);
  armed.textContent = armingName(site.armed);
  tick();
}

function tick() {
  const age = document.getElementById("site-age");
  if (!site?.last_reading_at) {
    age.textContent = "—";
    return;
  }
  age.textContent = fmtAge(secondsSince(site.last_reading_at));
  age.title = fmtDateTime(site.last_reading_at);
}

function renderProfile(force = false) {
  const position = site.lat === null || site.lon === null ? "—" : `${site.lat}, ${site.lon}`;
  const entries = [["site.name", site.name || "—"], ["site.area", site.area || "—"], ["site.address", site.address || "—"],
    ["site.position", position], ["site.kind", site.kind], ["site.version", site.version || "—"]];
  document.getElementById("profile-view").replaceChildren(...entries.flatMap(([key, value]) => [
    element("dt", { text: t(key) }), element("dd", { text: value, "data-field": key.slice(5) })]));
  if (!EDITORS.includes(session.user.role)) return;
  form.hidden = false;
  if (!force && form.contains(document.activeElement)) return; // never overwrite what is being typed
  form.elements.name.value = site.name || "";
  form.elements.area.value = site.area || "";
  form.elements.address.value = site.address || "";
  form.elements.lat.value = site.lat ?? "";
  form.elements.lon.value = site.lon ?? "";
}

function renderTroubles() {
  document.getElementById("ticket-rows").replaceChildren(...tickets.map((ticket) => element("tr", {},
    element("td", { text: ticket.detail ? `${ticket.trouble_class} — ${ticket.detail}` : ticket.trouble_class }),
    element("td", { text: [ticket.device, ticket.zone].filter((v) => v).join(" / ") || "—" }),
    element("td", { text: fmtDateTime(ticket.opened_at) }))));
  document.getElementById("tickets-empty").hidden = tickets.length > 0;
  document.getElementById("gap-rows").replaceChildren(...gaps.map((gap) => element("tr", {},
    element("td", { text: t("sites.gap", { first: gap.first_seq, last: gap.last_seq, size: gap.size }) }),
    element("td", { text: fmtDateTime(gap.detected_at) }))));
  document.getElementById("gaps-empty").hidden = gaps.length > 0;
}

function describe(event) {
  const detail = event.detail;
  switch (event.type) {
    case "reading":
      return [kindName(event.kind), event.summary];
    case "dispatch_raised":
      return [eventName(event.type), `${alarmClass(detail.alarm_class)}${detail.zone ? ` · ${detail.zone}` : ""} (#${detail.dispatch_id})`];
    case "dispatch_resolved":
      return [eventName(event.type), `${alarmClass(detail.alarm_class)} · ${detail.outcome ? outcomeName(detail.outcome) : ""} (#${detail.dispatch_id})`];
    case "offline":
    case "online":
      return [eventName(event.type), ""];
    case "ticket_opened":
    case "ticket_closed":
      return [eventName(event.type), [detail.trouble_class, detail.zone, detail.detail].filter((v) => v).join(" · ")];
    case "gap":
      return [eventName(event.type), t("sites.gap", { first: detail.first_seq, last: detail.last_seq, size: detail.size })];
    default:
      return [eventName(event.type), event.summary];
  }
}

function renderTimeline() {
  timelineRows.replaceChildren(...events.map((event) => {
    const [what, summary] = describe(event);
    return element("tr", { "data-type": event.type },
      element("td", { className: "at", text: fmtDateTime(event.at) }),
      element("td", { className: "what", text: what }),
      element("td", { text: event.device || "" }),
      element("td", { className: "summary", text: summary }));
  }));
  document.getElementById("timeline-empty").hidden = events.length > 0;
  older.hidden = cursor === null;
}

function renderAll() {
  if (!site) return;
  renderHeader();
  renderProfile();
  renderTroubles();
  renderTimeline();
}

async function loadOlder() {
  older.disabled = true;
  try {
    const page = await api("staff", `${base()}/timeline?limit=${PAGE}&before=${encodeURIComponent(cursor)}`);
    events = events.concat(page.items);
    cursor = page.next_cursor;
    renderTimeline();
  } catch (error) {
    showError(errorBox, error);
  } finally {
    older.disabled = false;
  }
}

async function load() {
  try {
    const [found, openTickets, openGaps, page] = await Promise.all([
      api("staff", base()), api("staff", `${base()}/tickets`), api("staff", `${base()}/gaps`),
      api("staff", `${base()}/timeline?limit=${PAGE}`),
    ]);
    site = found;
    tickets = openTickets;
    gaps = openGaps;
    events = page.items;
    cursor = page.next_cursor;
    errorBox.textContent = "";
    renderAll();
    document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
  } catch (error) {
    if (error.status === 404) errorBox.textContent = t("site.unknown");
    else showError(errorBox, error);
  }
}

function number(value) {
  const text = value.trim().replace(",", ".");
  return text === "" ? null : Number(text);
}

function changes() {
  const name = form.elements.name.value.trim();
  if (!name) throw new Error(t("site.bad_name"));
  const lat = number(form.elements.lat.value);
  const lon = number(form.elements.lon.value);
  const bad = (value, limit) => value !== null && !(Number.isFinite(value) && Math.abs(value) <= limit);
  if ((lat === null) !== (lon === null) || bad(lat, 90) || bad(lon, 180)) throw new Error(t("site.bad_coords"));
  const wanted = { name, area: form.elements.area.value.trim() || null, address: form.elements.address.value.trim() || null, lat, lon };
  const body = {};
  for (const [key, value] of Object.entries(wanted)) if (value !== site[key]) body[key] = value;
  if ("lat" in body || "lon" in body) Object.assign(body, { lat, lon });
  return body;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  status.classList.remove("error");
  let body;
  try {
    body = changes();
  } catch (error) {
    status.textContent = error.message;
    status.classList.add("error");
    return;
  }
  if (Object.keys(body).length === 0) {
    status.textContent = t("site.unchanged");
    return;
  }
  const save = document.getElementById("profile-save");
  save.disabled = true;
  try {
    site = await api("staff", base(), { method: "PATCH", body });
    renderHeader();
    renderProfile(true);
    status.textContent = t("site.saved");
  } catch (error) {
    showError(status, error);
  } finally {
    save.disabled = false;
  }
});

older.addEventListener("click", loadOlder);
document.getElementById("refresh").addEventListener("click", load);
onLangChange(() => {
  applyI18n();
  renderAll();
});
setInterval(tick, 1000);
if (SITE_ID.test(siteId)) load();
else errorBox.textContent = t("site.unknown");
