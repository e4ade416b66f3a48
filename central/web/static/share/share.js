// The police's read-only page behind a share link: the bike, its live position and last hour's track, refreshed
// every few seconds. No account: the token is the last part of this page's address, read from there and sent only to
// central's API (the page sends no Referer anywhere). An expired or revoked link says so (410), an unknown one that
// it does not exist (404); the page then stops asking.

import { addMessages, applyI18n, languageSwitch, onLangChange, t } from "../common/i18n.js";
import { fmtDateTime } from "../common/time.js";
import { statePills, renderPills } from "../owner/bike-state.js";
import { LiveMap } from "../owner/live-map.js";

addMessages({
  "zh-CN": {
    "shared.app": "车辆实时位置",
    "shared.map": "车辆位置地图",
    "shared.stolen": "车主已报案：此车被盗",
    "shared.read-only": "只读页面：位置每几秒自动更新。",
    "shared.where": "最新位置 {lat}, {lon}（{time}）",
    "shared.no-position": "尚无 GPS 定位",
    "shared.expires": "链接有效至 {time}",
    "shared.expired": "此链接已过期。请向车主或监控中心索取新链接。",
    "shared.revoked": "此链接已被撤销。请向车主或监控中心索取新链接。",
    "shared.unknown": "没有这个链接：请检查链接是否完整复制。",
    "shared.offline": "网络中断，正在重试…",
  },
  en: {
    "shared.app": "Bike's live position",
    "shared.map": "Map of the bike's position",
    "shared.stolen": "The owner has reported this bike stolen",
    "shared.read-only": "Read-only page: the position updates every few seconds.",
    "shared.where": "Last position {lat}, {lon} ({time})",
    "shared.no-position": "No GPS position yet",
    "shared.expires": "Link valid until {time}",
    "shared.expired": "This link has expired. Ask the owner or the monitoring centre for a new one.",
    "shared.revoked": "This link was revoked. Ask the owner or the monitoring centre for a new one.",
    "shared.unknown": "No such link: check that it was copied whole.",
    "shared.offline": "No connection, retrying…",
  },
});

const REFRESH_MS = 4000;
const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).at(-1) ?? "");
const $ = (id) => document.getElementById(id);
languageSwitch($("language"));
applyI18n();

let shared = null;
let lastFix = null;
let map = null;
let timer = null;
let goneKey = null;

function render() {
  if (goneKey) {
    $("gone").textContent = t(goneKey);
    return;
  }
  if (!shared) return;
  $("title").textContent = shared.plate ? `${shared.name} · ${shared.plate}` : shared.name;
  $("theft").hidden = shared.theft_state !== "confirmed";
  // the share answer has no arming; its pills say where and how fresh
  renderPills($("pills"), statePills({ ...shared, armed: false }).filter((pill) => pill.key !== "armed"));
  const position = shared.position;
  $("where").textContent = position
    ? t("shared.where", { lat: position.lat.toFixed(5), lon: position.lon.toFixed(5), time: fmtDateTime(position.fix_time) })
    : t("shared.no-position");
  $("expires").textContent = t("shared.expires", { time: fmtDateTime(shared.expires_at) });
}

function gone(key) {
  goneKey = key;
  clearInterval(timer);
  $("live").hidden = true;
  $("problem").hidden = true;
  $("gone").hidden = false;
  $("gone").dataset.reason = key.split(".")[1];
  render();
}

async function refresh() {
  let response;
  try {
    response = await fetch(`/api/share/${encodeURIComponent(token)}`, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch {
    $("problem").hidden = false;
    $("problem").textContent = t("shared.offline");
    return;
  }
  if (response.status === 404) return gone("shared.unknown");
  if (response.status === 410) {
    const detail = (await response.json().catch(() => ({}))).detail ?? "";
    return gone(detail.includes("revoked") ? "shared.revoked" : "shared.expired");
  }
  if (!response.ok) {
    $("problem").hidden = false;
    $("problem").textContent = t("shared.offline");
    return;
  }
  $("problem").hidden = true;
  shared = await response.json();
  $("live").hidden = false;
  map ??= await LiveMap.create($("map"));
  if (lastFix === null) map.showTrack(shared.track);
  const position = shared.position;
  if (position && position.fix_time !== lastFix) {
    map.showPosition(position);
    if (lastFix !== null) map.extendTrack(position);
    lastFix = position.fix_time;
  }
  render();
}

onLangChange(render);
await refresh();
if (!goneKey) timer = setInterval(refresh, REFRESH_MS);
