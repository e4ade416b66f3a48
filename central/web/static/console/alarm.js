// One alarm, opened: what happened and where, the action plan, and one click per step of the dispatch. Follows the
// live stream, so a second operator's action shows at once; an alarm someone else handles is taken over only on
// purpose.

import { ApiError, api } from "../common/api.js";
import { followLive } from "../common/live.js";
import { addMessages, applyI18n, lang, onLangChange, t } from "../common/i18n.js";
import { fmtAge, fmtDateTime, secondsSince } from "../common/time.js";
import { ACTING_ROLES, element, showLive, startConsole } from "./shell.js";
import { INCIDENTS, OUTCOMES, actionName, alarmClass, incidentName, outcomeName, priorityName, stateName } from "./words.js";

addMessages({
  "zh-CN": {
    "alarm.back": "← 返回队列", "alarm.actions": "处置", "alarm.guard": "保安姓名", "alarm.outcome": "结果",
    "alarm.incident": "警情分类", "alarm.note": "备注", "alarm.plan": "处置预案", "alarm.calls": "联系人",
    "alarm.site": "站点", "alarm.site_timeline": "站点时间线", "alarm.map": "位置", "alarm.snapshot": "现场抓拍",
    "alarm.around": "前后读数", "alarm.time": "时间", "alarm.kind": "类型", "alarm.device": "设备", "alarm.data": "内容",
    "alarm.trail": "处置记录", "alarm.history": "站点近期警情", "alarm.title": "{cls} · {site}",
    "alarm.facts": "{priority} · 防区 {zone} · 分区 {partition} · {state} · 已等待 {age}",
    "alarm.handler": "处理人：{name}", "alarm.unhandled": "尚无人处理", "alarm.escalated": "已于 {at} 转 110（{reason}）",
    "alarm.escalate_at": "{at} 前未接警将自动转 110",
    "alarm.taken": "该警情正由 {name} 处理。", "alarm.take_over": "接管此警情", "alarm.no_plan": "此类警情没有预案",
    "alarm.step_done": "完成", "alarm.step_skip": "不适用", "alarm.skip_reason": "不适用的原因",
    "alarm.plan_incomplete": "预案尚未完成：请先标记所有步骤", "alarm.marked": "{status}（{actor}，{at}）",
    "alarm.mark.done": "已完成", "alarm.mark.skipped": "不适用", "alarm.confirm_escalate": "确认将此警情转 110？",
    "alarm.not_found": "没有这条警情", "alarm.online": "在线", "alarm.offline": "离线", "alarm.armed": "布防",
    "alarm.disarmed": "撤防", "alarm.unknown": "未知", "alarm.name": "名称", "alarm.area": "片区", "alarm.address": "地址",
    "alarm.state": "状态", "alarm.last_reading": "最后读数", "alarm.fix": "定位时间 {at}，速度 {speed} km/h",
    "alarm.site_position": "站点位置", "alarm.resolved_by": "已处置：{outcome} / {incident}",
    "alarm.sla": "接警时限 {s} 秒", "alarm.late": "已超时",
  },
  en: {
    "alarm.back": "← Back to the queue", "alarm.actions": "Actions", "alarm.guard": "Guard's name",
    "alarm.outcome": "Outcome", "alarm.incident": "Incident class", "alarm.note": "Note", "alarm.plan": "Action plan",
    "alarm.calls": "Call list", "alarm.site": "Site", "alarm.site_timeline": "Site timeline", "alarm.map": "Position",
    "alarm.snapshot": "Camera snapshot", "alarm.around": "Readings around it", "alarm.time": "Time",
    "alarm.kind": "Kind", "alarm.device": "Device", "alarm.data": "Data", "alarm.trail": "Trail",
    "alarm.history": "The site's recent alarms", "alarm.title": "{cls} · {site}",
    "alarm.facts": "{priority} · zone {zone} · partition {partition} · {state} · waiting {age}",
    "alarm.handler": "Handled by {name}", "alarm.unhandled": "Nobody handles it yet",
    "alarm.escalated": "Escalated to 110 at {at} ({reason})", "alarm.escalate_at": "Goes to 110 at {at} unless acknowledged",
    "alarm.taken": "{name} is handling this alarm.", "alarm.take_over": "Take it over",
    "alarm.no_plan": "No action plan for this class", "alarm.step_done": "Done", "alarm.step_skip": "Not applicable",
    "alarm.skip_reason": "Why it does not apply", "alarm.plan_incomplete": "The action plan is not complete: mark every step first",
    "alarm.marked": "{status} ({actor}, {at})", "alarm.mark.done": "done", "alarm.mark.skipped": "not applicable",
    "alarm.confirm_escalate": "Escalate this alarm to 110?", "alarm.not_found": "No such alarm",
    "alarm.online": "online", "alarm.offline": "offline", "alarm.armed": "armed", "alarm.disarmed": "disarmed",
    "alarm.unknown": "unknown", "alarm.name": "Name", "alarm.area": "Area", "alarm.address": "Address",
    "alarm.state": "State", "alarm.last_reading": "Last reading", "alarm.fix": "Fix at {at}, {speed} km/h",
    "alarm.site_position": "The site's position", "alarm.resolved_by": "Resolved: {outcome} / {incident}",
    "alarm.sla": "Acknowledge within {s} s", "alarm.late": "late",
  },
});

const session = startConsole("alarm");
const acting = ACTING_ROLES.includes(session.user.role);
const id = Number(new URLSearchParams(location.search).get("id"));
const $ = (name) => document.getElementById(name);
let view = null; // the context as last loaded
let pendingTakeOver = null; // the request to send again with take_over
let map = null;

function facts(dispatch) {
  return t("alarm.facts", {
    priority: priorityName(dispatch.priority), zone: dispatch.zone ?? "—", partition: dispatch.partition ?? "—",
    state: stateName(dispatch.state),
    // A resolved alarm stops ticking: its age is how long it took.
    age: fmtAge(dispatch.resolved_at ? (Date.parse(dispatch.resolved_at) - Date.parse(dispatch.raised_at)) / 1000
      : secondsSince(dispatch.raised_at)),
  });
}

function renderSummary() {
  renderFacts();
  renderActions(view.dispatch);
}

// The facts line ticks every second; the buttons are left alone (a keyboard user's focus stays where it is).
function renderFacts() {
  const { dispatch, site } = view;
  $("alarm-title").textContent = t("alarm.title", { cls: alarmClass(dispatch.alarm_class), site: site?.name || dispatch.site });
  const lines = [facts(dispatch), dispatch.handler ? t("alarm.handler", { name: dispatch.handler }) : t("alarm.unhandled")];
  if (dispatch.escalated) lines.push(t("alarm.escalated", { at: fmtDateTime(dispatch.escalated_at), reason: dispatch.escalation_reason }));
  else if (dispatch.escalate_at) lines.push(t("alarm.escalate_at", { at: fmtDateTime(dispatch.escalate_at) }));
  if (dispatch.state === "raised") lines.push(t("alarm.sla", { s: view.ack_sla_s }));
  if (dispatch.state === "resolved") lines.push(t("alarm.resolved_by", { outcome: outcomeName(dispatch.outcome), incident: incidentName(dispatch.incident_class) }));
  $("alarm-facts").replaceChildren(...lines.flatMap((line, index) => (index ? [element("br"), line] : [line])));
  $("summary").dataset.state = dispatch.state;
  $("summary").classList.toggle("breach", dispatch.state === "raised" && secondsSince(dispatch.raised_at) > view.ack_sla_s);
}

// The buttons the dispatch's state allows (the server checks the same).
function renderActions(dispatch) {
  const bar = $("actions");
  bar.querySelectorAll("button").forEach((b) => b.remove());
  // A form being filled in stays open when someone else's change reloads the page, unless its step is gone.
  if (!acting || !["raised", "acknowledged"].includes(dispatch.state)) $("guard-form").hidden = true;
  if (!acting || dispatch.state === "resolved") {
    $("resolve-form").hidden = true;
    return;
  }
  const add = (action, handler, style = "") => {
    const button = element("button", { type: "button", className: style, text: actionName(action) });
    button.dataset.action = action;
    button.addEventListener("click", handler);
    bar.append(button);
  };
  if (dispatch.state === "raised") add("acknowledge", () => act({ action: "acknowledge" }), "primary");
  if (["raised", "acknowledged"].includes(dispatch.state)) add("assign_guard", () => showForm("guard-form", "guard"));
  if (dispatch.state === "guard_assigned") add("on_scene", () => act({ action: "on_scene" }), "primary");
  if (!dispatch.escalated) add("escalate", () => {
    if (confirm(t("alarm.confirm_escalate"))) act({ action: "escalate" });
  }, "danger");
  add("resolve", () => showForm("resolve-form", "outcome"));
}

function showForm(form, focus) {
  $(form).hidden = false;
  $(focus).focus();
}

function renderPlan() {
  const list = $("plan");
  const plan = view.plan;
  if (!plan) {
    list.replaceChildren(element("li", { className: "muted", text: t("alarm.no_plan") }));
    $("calls").replaceChildren();
    return;
  }
  const open = view.dispatch.state !== "resolved" && acting;
  // A reason being typed survives a reload caused by someone else's change.
  const typing = new Map([...list.querySelectorAll("li[data-step] form input")].map((input) => [
    input.closest("li").dataset.step, { value: input.value, focused: document.activeElement === input }]));
  list.replaceChildren(...plan.steps.map((step) => {
    const text = lang() === "en" && step.text_en ? step.text_en : step.text;
    const item = element("li", {}, element("span", { text }));
    item.dataset.step = step.key;
    item.dataset.status = step.mark?.status ?? "open";
    if (step.mark) {
      item.append(" ", element("span", { className: "muted", text: t("alarm.marked", {
        status: t(`alarm.mark.${step.mark.status}`), actor: step.mark.actor, at: fmtDateTime(step.mark.at) }) }));
      if (step.mark.note) item.append(element("div", { className: "muted", text: step.mark.note }));
    }
    if (open && !step.mark) {
      const done = element("button", { type: "button", text: t("alarm.step_done") });
      done.dataset.mark = "done";
      done.addEventListener("click", () => mark(step.key, { status: "done" }));
      const skip = element("button", { type: "button", className: "link", text: t("alarm.step_skip") });
      skip.dataset.mark = "skipped";
      // Not applicable needs a reason: asked for in a small form under the step, not in a browser dialog.
      skip.addEventListener("click", () => {
        if (item.querySelector("form")) return;
        const reason = element("input", { name: "reason", maxLength: 1000, required: true });
        reason.setAttribute("aria-label", t("alarm.skip_reason"));
        reason.placeholder = t("alarm.skip_reason");
        const form = element("form", { className: "inline-form skip-form" }, reason,
          element("button", { type: "submit", className: "primary", text: t("alarm.step_skip") }));
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          const note = reason.value.trim();
          if (note) mark(step.key, { status: "skipped", note });
        });
        item.append(form);
        reason.focus();
      });
      item.append(" ", done, " ", skip);
      const typed = typing.get(step.key);
      if (typed) {
        skip.click();
        const input = item.querySelector("form input");
        input.value = typed.value;
      }
    }
    return item;
  }));
  for (const [key, typed] of typing) {
    if (typed.focused) list.querySelector(`li[data-step="${key}"] form input`)?.focus();
  }
  $("calls").replaceChildren(...plan.calls.map((call) => element("li", {},
    element("span", { text: `${call.name} ` }), element("a", { href: `tel:${call.phone}`, text: call.phone }),
    call.note ? element("span", { className: "muted", text: ` · ${call.note}` }) : "")));
}

function renderSite() {
  const site = view.site;
  const rows = site ? [
    ["alarm.name", site.name || site.id], ["alarm.area", site.area || "—"], ["alarm.address", site.address || "—"],
    ["alarm.state", `${site.online === null ? t("alarm.unknown") : t(site.online ? "alarm.online" : "alarm.offline")} · ${site.armed === null ? t("alarm.unknown") : t(site.armed ? "alarm.armed" : "alarm.disarmed")}`],
    ["alarm.last_reading", fmtDateTime(site.last_reading_at)],
  ] : [];
  $("site").replaceChildren(...rows.flatMap(([key, value]) => [element("dt", { text: t(key) }), element("dd", { text: value })]));
  $("site-link").href = `/console/site?site=${encodeURIComponent(view.dispatch.site)}`;
}

async function renderMap() {
  const position = view.position;
  $("map-card").hidden = !position;
  if (!position) return;
  $("position").textContent = position.source === "tracker"
    ? t("alarm.fix", { at: fmtDateTime(position.fix_time), speed: position.speed_kmh ?? "—" })
    : t("alarm.site_position");
  $("map").setAttribute("aria-label", `${position.lat.toFixed(5)}, ${position.lon.toFixed(5)}`);
  const L = await leaflet();
  if (!L) return;
  const here = [position.lat, position.lon];
  if (!map) {
    map = L.map("map", { zoomControl: true }).setView(here, 16);
    const config = await api("staff", "/api/web/config");
    if (config.tile_url) L.tileLayer(config.tile_url, { attribution: config.tile_attribution, maxZoom: config.tile_max_zoom }).addTo(map);
    L.control.scale().addTo(map);
    map._marker = L.circleMarker(here, { radius: 9, color: "#c62828", fillOpacity: 0.8 }).addTo(map);
  } else {
    map._marker.setLatLng(here);
    map.panTo(here);
  }
}

// Leaflet (bundled under /static/vendor/leaflet) only when a page has something to draw.
function leaflet() {
  if (window.L) return Promise.resolve(window.L);
  return new Promise((resolve) => {
    const css = element("link", { rel: "stylesheet", href: "/static/vendor/leaflet/leaflet.css" });
    const script = element("script", { src: "/static/vendor/leaflet/leaflet.js" });
    script.addEventListener("load", () => resolve(window.L));
    script.addEventListener("error", () => resolve(null));
    document.head.append(css, script);
  });
}

function renderSnapshot() {
  const snapshot = view.snapshot;
  $("snapshot-card").hidden = !snapshot;
  if (!snapshot) return;
  $("snapshot").src = snapshot.image;
  $("snapshot").alt = `${snapshot.camera} ${fmtDateTime(snapshot.ts)}`;
  $("snapshot-facts").textContent = `${snapshot.camera} · ${fmtDateTime(snapshot.ts)}`;
}

// A reading's fields on one line: pictures left out (shown apart), long values cut.
const PICTURES = new Set(["snapshot", "photo_wlt"]);
function summary(data) {
  return Object.entries(data)
    .filter(([key, value]) => value !== null && typeof value !== "object" && !PICTURES.has(key))
    .map(([key, value]) => {
      const text = String(value);
      return `${key}=${text.length > 80 ? `${text.slice(0, 80)}…` : text}`;
    })
    .join(" ");
}

function renderAround() {
  $("around").replaceChildren(...view.around.map((reading) => {
    const tr = element("tr", {}, element("td", { text: fmtDateTime(reading.ts) }), element("td", { text: reading.kind }),
      element("td", { text: reading.device }), element("td", { text: summary(reading.data) }));
    if (reading.id === view.dispatch.reading_id) tr.className = "this-alarm";
    return tr;
  }));
  if (!view.history.length) {
    $("history").replaceChildren(element("li", { className: "muted", text: t("common.none") }));
    return;
  }
  $("history").replaceChildren(...view.history.map((dispatch) => element("li", {},
    element("a", { href: `/console/alarm?id=${dispatch.id}`, text: `${fmtDateTime(dispatch.raised_at)} ${alarmClass(dispatch.alarm_class)}` }),
    element("span", { className: "muted", text: ` · ${stateName(dispatch.state)}${dispatch.outcome ? ` · ${outcomeName(dispatch.outcome)}` : ""}` }))));
}

function renderTrail(detail) {
  $("trail").replaceChildren(...detail.transitions.map((transition) => {
    const detail = transition.detail ?? {};
    const extra = detail.guard || detail.step || (detail.outcome && outcomeName(detail.outcome)) || detail.reason || "";
    return element("li", { text: `${fmtDateTime(transition.at)} · ${actionName(transition.action)} · ${transition.actor}${extra ? ` · ${extra}` : ""}` });
  }));
}

function render(detail) {
  renderSummary();
  renderPlan();
  renderSite();
  renderAround();
  renderSnapshot();
  renderTrail(detail);
  void renderMap();
  applyI18n();
}

async function load() {
  try {
    const [context, detail] = await Promise.all([
      api("staff", `/api/dispatches/${id}/context`),
      api("staff", `/api/dispatches/${id}`),
    ]);
    view = context;
    view.dispatch = detail;
    render(detail);
  } catch (error) {
    $("alarm-title").textContent = error instanceof ApiError && error.status === 404 ? t("alarm.not_found") : String(error.message);
  }
}

function explain(error, retry) {
  const notice = $("alarm-notice");
  if (error instanceof ApiError && error.status === 409 && error.detail?.reason === "handled_by_other") {
    pendingTakeOver = retry;
    const button = element("button", { type: "button", id: "take-over", className: "danger", text: t("alarm.take_over") });
    button.addEventListener("click", () => {
      notice.hidden = true;
      pendingTakeOver?.();
    });
    notice.replaceChildren(element("span", { text: `${t("alarm.taken", { name: error.detail.handler })} ` }), button);
    notice.hidden = false;
    button.focus();
    return;
  }
  const text = error instanceof ApiError && error.status === 409 && String(error.message).includes("action plan")
    ? t("alarm.plan_incomplete") : String(error.message);
  $("action-error").textContent = text;
}

async function send(path, body) {
  $("action-error").textContent = "";
  try {
    await api("staff", path, { method: "POST", body });
    $("alarm-notice").hidden = true;
    if (body.action === "assign_guard") $("guard-form").hidden = true;
    if (body.action === "resolve") $("resolve-form").hidden = true;
    await load();
  } catch (error) {
    explain(error, () => send(path, { ...body, take_over: true }));
  }
}

const act = (body) => send(`/api/dispatches/${id}/actions`, body);
const mark = (step, body) => send(`/api/dispatches/${id}/plan/${encodeURIComponent(step)}`, body);

$("guard-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const guard = $("guard").value.trim();
  if (guard) act({ action: "assign_guard", guard });
});

$("resolve-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const note = $("resolve-note").value.trim();
  act({ action: "resolve", outcome: $("outcome").value, incident_class: $("incident").value, ...(note ? { note } : {}) });
});

function fillChoices() {
  $("outcome").replaceChildren(...OUTCOMES.map((value) => element("option", { value, text: outcomeName(value) })));
  $("incident").replaceChildren(...INCIDENTS.map((value) => element("option", { value, text: incidentName(value) })));
}

let reloadTimer = null;
function onEvent(name, data) {
  // Another operator (or the escalation timer) changed this alarm: show it at once.
  if ((name === "change" && data.dispatch.id === id) || name === "snapshot") {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, 50);
  }
}

fillChoices();
onLangChange(() => {
  fillChoices();
  if (view) load();
});
setInterval(() => view && renderFacts(), 1000);
await load();
followLive("/api/live/dispatches", { onEvent, onState: showLive });
