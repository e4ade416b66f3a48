// The console's words for alarm classes, states, steps and outcomes, in both languages.

import { addMessages, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "class.burglary": "入侵", "class.intrusion": "入侵", "class.alarm": "报警", "class.panic": "紧急求助",
    "class.duress": "胁迫", "class.holdup": "抢劫", "class.fire": "火警", "class.medical": "医疗求助",
    "class.tamper": "防拆", "class.forced_door": "门被强行打开", "class.held_door": "门长时间未关",
    "class.theft": "电动车被盗", "class.sos": "SOS 求救", "class.power_cut": "断电", "class.vibration": "震动",
    "class.headcount": "井下超员", "class.key_person_absent": "重点人员失联",
    "state.raised": "待处理", "state.acknowledged": "已接警", "state.guard_assigned": "已派保安",
    "state.on_scene": "已到场", "state.resolved": "已处置",
    "action.raise": "报警", "action.repeat": "重复报警", "action.acknowledge": "接警", "action.assign_guard": "派保安",
    "action.on_scene": "到场", "action.confirm": "确认警情", "action.escalate": "转 110", "action.resolve": "处置完毕",
    "action.cancel": "用户取消", "action.plan_step": "预案步骤",
    "outcome.real": "真实警情", "outcome.false": "误报", "outcome.cancelled_by_user": "用户取消",
    "outcome.test": "测试", "outcome.unknown": "不明",
    "incident.public_order": "治安", "incident.criminal": "刑事", "incident.traffic_accident": "交通事故",
    "incident.help_request": "求助", "incident.none": "无",
    "priority.1": "P1 生命安全", "priority.2": "P2 医疗", "priority.3": "P3 入侵", "priority.4": "P4 其他",
  },
  en: {
    "class.burglary": "Burglary", "class.intrusion": "Intrusion", "class.alarm": "Alarm", "class.panic": "Panic",
    "class.duress": "Duress", "class.holdup": "Hold-up", "class.fire": "Fire", "class.medical": "Medical",
    "class.tamper": "Tamper", "class.forced_door": "Door forced open", "class.held_door": "Door held open",
    "class.theft": "E-bike theft", "class.sos": "SOS", "class.power_cut": "Power cut", "class.vibration": "Vibration",
    "class.headcount": "Too many underground", "class.key_person_absent": "Key person out of sight",
    "state.raised": "Raised", "state.acknowledged": "Acknowledged", "state.guard_assigned": "Guard assigned",
    "state.on_scene": "On scene", "state.resolved": "Resolved",
    "action.raise": "Raised", "action.repeat": "Repeat", "action.acknowledge": "Acknowledge",
    "action.assign_guard": "Assign guard", "action.on_scene": "On scene", "action.confirm": "Confirm",
    "action.escalate": "Escalate to 110", "action.resolve": "Resolve", "action.cancel": "Cancelled by user",
    "action.plan_step": "Plan step",
    "outcome.real": "Real", "outcome.false": "False alarm", "outcome.cancelled_by_user": "Cancelled by user",
    "outcome.test": "Test", "outcome.unknown": "Unknown",
    "incident.public_order": "Public order", "incident.criminal": "Criminal",
    "incident.traffic_accident": "Traffic accident", "incident.help_request": "Help request", "incident.none": "None",
    "priority.1": "P1 life safety", "priority.2": "P2 medical", "priority.3": "P3 intrusion", "priority.4": "P4 other",
  },
});

function known(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

export const alarmClass = (value) => known("class", value);
export const stateName = (value) => known("state", value);
export const actionName = (value) => known("action", value);
export const outcomeName = (value) => known("outcome", value);
export const incidentName = (value) => known("incident", value);
export const priorityName = (value) => known("priority", value);

export const OUTCOMES = ["real", "false", "cancelled_by_user", "test", "unknown"];
export const INCIDENTS = ["public_order", "criminal", "traffic_accident", "help_request", "none"];
