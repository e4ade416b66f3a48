// One bike, followed live: its position and last hour's track on the map (fetched every few seconds, no reloads),
// arm / disarm, "my bike is stolen" behind a confirmation, a history window with its downloads, and share links for
// the police. The bike was chosen on the list (sessionStorage): its IMEI is never in this page's address.

import { ApiError, api, download } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { fmtDateTime, fromLocalInput, toLocalInput } from "../common/time.js";
import { bikeTitle, chosenBike, renderPills, statePills } from "./bike-state.js";
import { element, errorText, startOwnerPage } from "./common.js";
import { LiveMap } from "./live-map.js";

addMessages({
  "zh-CN": {
    "bike.back": "‹ 我的车",
    "bike.map": "车辆位置地图",
    "bike.arm": "设防",
    "bike.disarm": "撤防",
    "bike.stolen": "我的车被盗了",
    "bike.theft-confirmed": "已向 110 报警。",
    "bike.theft-link": "民警可通过以下链接查看车辆实时位置：",
    "bike.where": "最新位置 {lat}, {lon}（{time}）",
    "bike.no-position": "定位器还没有发送位置。",
    "bike.no-position-theft": "定位器还没有发送位置，暂时无法报警。请拨打 110。",
    "stolen.title": "确认车辆被盗？",
    "stolen.explain": "将立即向 110 报警，并把车辆的实时位置链接交给民警。",
    "stolen.confirm": "确认被盗，立即报警",
    "stolen.cancel": "取消",
    "history.title": "历史轨迹",
    "history.from": "开始",
    "history.to": "结束",
    "history.show": "在地图上显示",
    "history.points": "共 {count} 个定位点",
    "history.more": "共 {count} 个定位点（只显示前 {count} 个，请缩短时间段）",
    "history.bad-window": "请填写开始和结束时间，开始要早于结束",
    "share.title": "分享实时位置（给民警）",
    "share.explain": "任何拿到链接的人都能看到车辆位置，直到链接过期或被撤销。",
    "share.ttl": "有效期",
    "share.ttl.hour": "1 小时",
    "share.ttl.day": "1 天",
    "share.ttl.week": "7 天",
    "share.create": "生成链接",
    "share.new": "新链接",
    "share.copy": "复制",
    "share.copied": "已复制",
    "share.copy-failed": "无法自动复制，请长按链接复制",
    "share.revoke": "撤销",
    "share.active": "有效至 {time}",
    "share.expired": "已过期",
    "share.revoked": "已撤销",
    "share.by-me": "我",
    "share.by-other": "监控中心 {name}",
    "share.none": "没有分享链接",
  },
  en: {
    "bike.back": "‹ My bikes",
    "bike.map": "Map of the bike's position",
    "bike.arm": "Arm",
    "bike.disarm": "Disarm",
    "bike.stolen": "My bike is stolen",
    "bike.theft-confirmed": "110 has been alerted.",
    "bike.theft-link": "The police follow the bike live with this link:",
    "bike.where": "Last position {lat}, {lon} ({time})",
    "bike.no-position": "The tracker has not sent a position yet.",
    "bike.no-position-theft": "The tracker has sent no position yet, so nothing can be handed to the police. Call 110.",
    "stolen.title": "Is your bike stolen?",
    "stolen.explain": "110 is alerted at once and given a live link to the bike's position.",
    "stolen.confirm": "Yes, stolen: alert 110",
    "stolen.cancel": "Cancel",
    "history.title": "History",
    "history.from": "From",
    "history.to": "To",
    "history.show": "Show on map",
    "history.points": "{count} positions",
    "history.more": "{count} positions (only the first {count} shown: shorten the window)",
    "history.bad-window": "Fill in both times, the first before the second",
    "share.title": "Share the live position (for the police)",
    "share.explain": "Anyone with the link sees where the bike is until the link expires or is revoked.",
    "share.ttl": "Valid for",
    "share.ttl.hour": "1 hour",
    "share.ttl.day": "1 day",
    "share.ttl.week": "7 days",
    "share.create": "Create link",
    "share.new": "New link",
    "share.copy": "Copy",
    "share.copied": "Copied",
    "share.copy-failed": "Could not copy: press and hold the link to copy it",
    "share.revoke": "Revoke",
    "share.active": "valid until {time}",
    "share.expired": "expired",
    "share.revoked": "revoked",
    "share.by-me": "me",
    "share.by-other": "monitoring centre {name}",
    "share.none": "No share links",
  },
});

const REFRESH_MS = 4000;
const RECENT_MS = 3600_000;
const HISTORY_LIMIT = 10_000;
const session = startOwnerPage();
const imei = chosenBike();
if (!imei) {
  location.replace("/my/");
  throw new Error("no bike chosen");
}
const base = `/api/my/bikes/${imei}`;
applyI18n();

const $ = (id) => document.getElementById(id);
const problem = $("problem");
let bike = null;
let lastFix = null;
const map = await LiveMap.create($("map"));

function showProblem(error) {
  problem.hidden = !error;
  problem.textContent = error ? (typeof error === "string" ? error : errorText(error)) : "";
}

function render() {
  if (!bike) return;
  $("title").textContent = bikeTitle(bike);
  renderPills($("pills"), statePills(bike));
  const toggle = $("arm-toggle");
  toggle.disabled = false;
  toggle.textContent = t(bike.armed ? "bike.disarm" : "bike.arm");
  toggle.dataset.action = bike.armed ? "disarm" : "arm";
  toggle.className = bike.armed ? "big" : "big primary";
  $("theft-notice").hidden = bike.theft_state !== "confirmed";
  $("stolen").hidden = bike.theft_state === "confirmed";
  const position = bike.position;
  $("position-text").textContent = position
    ? t("bike.where", { lat: position.lat.toFixed(5), lon: position.lon.toFixed(5), time: fmtDateTime(position.fix_time) })
    : t("bike.no-position");
}

function took(updated) {
  bike = updated;
  const position = bike.position;
  if (position && position.fix_time !== lastFix) {
    map.showPosition(position);
    if (lastFix !== null && Date.parse(position.fix_time) > Date.parse(lastFix)) map.extendTrack(position);
    lastFix = position.fix_time;
  }
  render();
}

async function refresh() {
  try {
    took(await api("owner", base));
    showProblem(null);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      location.replace("/my/"); // released meanwhile, or not this owner's
      return;
    }
    showProblem(error);
  }
}

async function loadRecentTrack() {
  const to = new Date(Date.now() + 60_000);
  const from = new Date(Date.now() - RECENT_MS);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: "3600" });
  const answer = await api("owner", `${base}/track?${query}`);
  map.showTrack(answer.points);
}

// -- arming and theft -------------------------------------------------------------------------------------------

$("arm-toggle").addEventListener("click", async () => {
  const toggle = $("arm-toggle");
  toggle.disabled = true;
  try {
    took(await api("owner", `${base}/${bike.armed ? "disarm" : "arm"}`, { method: "POST" }));
    showProblem(null);
  } catch (error) {
    showProblem(error);
    toggle.disabled = false;
  }
});

const dialog = $("stolen-dialog");
$("stolen").addEventListener("click", () => dialog.showModal());
$("stolen-cancel").addEventListener("click", () => dialog.close());
$("stolen-confirm").addEventListener("click", async () => {
  $("stolen-confirm").disabled = true;
  try {
    const answer = await api("owner", `${base}/theft`, { method: "POST" });
    $("theft-link").value = answer.link.url;
    $("theft-link-row").hidden = false;
    showProblem(null);
    await refresh();
    await loadShares();
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && !bike?.position) showProblem(t("bike.no-position-theft"));
    else showProblem(error);
  } finally {
    $("stolen-confirm").disabled = false;
    dialog.close();
  }
});

// -- history --------------------------------------------------------------------------------------------------------

function historyWindow() {
  const from = $("history-from").value;
  const to = $("history-to").value;
  if (!from || !to || new Date(from) >= new Date(to)) return null;
  return new URLSearchParams({ from: fromLocalInput(from), to: fromLocalInput(to) });
}

$("history-from").value = toLocalInput(new Date(Date.now() - 24 * RECENT_MS));
$("history-to").value = toLocalInput(new Date(Date.now() + 60_000));

$("history-show").addEventListener("click", async () => {
  const query = historyWindow();
  const result = $("history-result");
  if (!query) {
    result.textContent = t("history.bad-window");
    return;
  }
  query.set("limit", String(HISTORY_LIMIT));
  try {
    const answer = await api("owner", `${base}/track?${query}`);
    map.showHistory(answer.points);
    result.textContent = t(answer.next_cursor ? "history.more" : "history.points", { count: answer.points.length });
  } catch (error) {
    result.textContent = errorText(error);
  }
});

for (const button of document.querySelectorAll("button.download")) {
  button.addEventListener("click", async () => {
    const query = historyWindow();
    const result = $("history-result");
    if (!query) {
      result.textContent = t("history.bad-window");
      return;
    }
    const format = button.dataset.format;
    try {
      await download("owner", `${base}/track.${format}?${query}`, `track.${format}`);
    } catch (error) {
      result.textContent = errorText(error);
    }
  });
}

// -- share links ----------------------------------------------------------------------------------------------------

function linkState(link) {
  if (link.revoked_at) return t("share.revoked");
  if (!link.active) return t("share.expired");
  return t("share.active", { time: fmtDateTime(link.expires_at) });
}

let shares = [];

function renderShares() {
  const list = $("share-links");
  if (!shares.length) {
    list.replaceChildren(element("li", { className: "muted", text: t("share.none") }));
    return;
  }
  const mine = `owner:${session.owner?.id}`;
  list.replaceChildren(...shares.map((link) => {
    const who = link.created_by === mine ? t("share.by-me") : t("share.by-other", { name: link.created_by });
    const item = element("li", { "data-link-id": link.id, "data-active": String(link.active) },
      element("span", { text: `${fmtDateTime(link.created_at)} · ${who} · ${linkState(link)}` }));
    if (link.active) {
      const revoke = element("button", { type: "button", className: "revoke", text: t("share.revoke") });
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        try {
          await api("owner", `${base}/shares/${link.id}`, { method: "DELETE" });
          await loadShares();
        } catch (error) {
          showProblem(error);
          revoke.disabled = false;
        }
      });
      item.append(revoke);
    }
    return item;
  }));
}

async function loadShares() {
  try {
    shares = (await api("owner", `${base}/shares`)).reverse(); // newest first
    renderShares();
  } catch (error) {
    showProblem(error);
  }
}

$("share-create").addEventListener("click", async () => {
  try {
    const made = await api("owner", `${base}/share`, { method: "POST", body: { ttl_s: Number($("share-ttl").value) } });
    $("share-new").value = made.url;
    $("share-new-row").hidden = false;
    $("copied").textContent = "";
    await loadShares();
  } catch (error) {
    showProblem(error);
  }
});

for (const button of document.querySelectorAll("button.copy")) {
  button.addEventListener("click", async () => {
    const input = $(button.dataset.target);
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      $("copied").textContent = t("share.copied");
    } catch {
      $("copied").textContent = document.execCommand("copy") ? t("share.copied") : t("share.copy-failed");
    }
  });
}

onLangChange(() => {
  render();
  renderShares();
});

await refresh();
try {
  await loadRecentTrack();
} catch (error) {
  showProblem(error);
}
await loadShares();
setInterval(refresh, REFRESH_MS);
