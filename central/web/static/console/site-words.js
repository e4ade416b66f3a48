// Words of the sites pages in both languages: presence, arming, timeline event types, reading kinds.

import { addMessages, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "presence.online": "在线", "presence.offline": "离线", "presence.unknown": "未知",
    "arming.armed": "布防", "arming.disarmed": "撤防", "arming.unknown": "未知",
    "event.reading": "数据", "event.dispatch_raised": "警情产生", "event.dispatch_resolved": "警情处置完毕",
    "event.ticket_opened": "故障", "event.ticket_closed": "故障恢复", "event.offline": "离线", "event.online": "上线",
    "event.gap": "数据缺失",
    "kind.alarm": "报警", "kind.trouble": "故障", "kind.arming": "布撤防", "kind.test": "测试",
    "kind.id_read": "身份证读取", "kind.card_swipe": "刷卡", "kind.door": "门", "kind.position": "位置",
    "kind.status": "状态", "kind.motion": "移动",
    "sites.refresh": "刷新", "sites.never": "从未", "sites.gap": "序号 {first}–{last}（{size} 条）",
  },
  en: {
    "presence.online": "Online", "presence.offline": "Offline", "presence.unknown": "Unknown",
    "arming.armed": "Armed", "arming.disarmed": "Disarmed", "arming.unknown": "Unknown",
    "event.reading": "Reading", "event.dispatch_raised": "Alarm raised", "event.dispatch_resolved": "Alarm resolved",
    "event.ticket_opened": "Trouble", "event.ticket_closed": "Trouble cleared", "event.offline": "Went offline",
    "event.online": "Back online", "event.gap": "Readings missing",
    "kind.alarm": "Alarm", "kind.trouble": "Trouble", "kind.arming": "Arming", "kind.test": "Test",
    "kind.id_read": "ID card read", "kind.card_swipe": "Card swipe", "kind.door": "Door", "kind.position": "Position",
    "kind.status": "Status", "kind.motion": "Motion",
    "sites.refresh": "Refresh", "sites.never": "never", "sites.gap": "seq {first}–{last} ({size})",
  },
});

function known(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

export const presence = (online) => (online === true ? "online" : online === false ? "offline" : "unknown");
export const arming = (armed) => (armed === true ? "armed" : armed === false ? "disarmed" : "unknown");
export const presenceName = (online) => t(`presence.${presence(online)}`);
export const armingName = (armed) => t(`arming.${arming(armed)}`);
export const eventName = (type) => known("event", type);
export const kindName = (kind) => known("kind", kind);
export const SITE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
