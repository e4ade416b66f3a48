// The live alarm queue: a snapshot, then every change pushed by the server (no polling, no reloads). Ordered by
// priority, then age; the age ticks; a raised alarm past its acknowledgement target turns red; a new alarm flashes
// and sounds.

import { api } from "../common/api.js";
import { followLive } from "../common/live.js";
import { applyEvent } from "../common/open-queue.js";
import { addMessages, applyI18n, lang, onLangChange, t } from "../common/i18n.js";
import { fmtAge, fmtDateTime, secondsSince } from "../common/time.js";
import { element, showLive, startConsole } from "./shell.js";
import { alarmClass, priorityName, stateName } from "./words.js";

addMessages({
  "zh-CN": {
    "queue.title": "警情队列", "queue.priority": "级别", "queue.age": "等待", "queue.class": "警情",
    "queue.site": "站点", "queue.zone": "防区 / 分区", "queue.state": "状态", "queue.handler": "处理人",
    "queue.repeats": "次数", "queue.empty": "没有待处理的警情", "queue.count": "{n} 条未处置",
    "queue.help": "按级别、再按等待时间排序；红色表示超过接警时限。回车打开警情。",
    "queue.sound.on": "声音：开", "queue.sound.off": "声音：关", "queue.sound.blocked": "点击此处以启用报警声音", "queue.escalated": "已转110",
    "queue.breach": "超时", "queue.open": "打开警情 {id}",
  },
  en: {
    "queue.title": "Alarm queue", "queue.priority": "Priority", "queue.age": "Waiting", "queue.class": "Alarm",
    "queue.site": "Site", "queue.zone": "Zone / partition", "queue.state": "State", "queue.handler": "Handler",
    "queue.repeats": "Count", "queue.empty": "No open alarms", "queue.count": "{n} open",
    "queue.help": "By priority, then by waiting time; red: past the acknowledgement target. Enter opens an alarm.",
    "queue.sound.on": "Sound: on", "queue.sound.off": "Sound: off", "queue.sound.blocked": "Click here to allow the alarm sound", "queue.escalated": "110",
    "queue.breach": "late", "queue.open": "Open alarm {id}",
  },
});

const session = startConsole("queue");
const rows = document.getElementById("queue-rows");
const empty = document.getElementById("queue-empty");
const count = document.getElementById("queue-count");
const soundButton = document.getElementById("sound");
const open = new Map(); // dispatch id -> dispatch
const fresh = new Set(); // ids that arrived live (flash once)
let config = { ack_sla_s: {}, ack_sla_default_s: 180 };
let audio = null;
let soundOn = localStorage.getItem("shaobing.sound") !== "off";
document.body.dataset.alerts = "0";

function slaOf(dispatch) {
  return config.ack_sla_s[String(dispatch.priority)] ?? config.ack_sla_default_s;
}

function ordered() {
  return [...open.values()].sort((a, b) => a.priority - b.priority || Date.parse(a.raised_at) - Date.parse(b.raised_at) || a.id - b.id);
}

function row(dispatch) {
  const link = element("a", { href: `/console/alarm?id=${dispatch.id}`, text: priorityName(dispatch.priority) });
  link.setAttribute("aria-label", t("queue.open", { id: dispatch.id }));
  const classCell = element("td", {}, alarmClass(dispatch.alarm_class));
  if (dispatch.escalated) classCell.append(" ", element("span", { className: "badge", text: t("queue.escalated") }));
  const tr = element("tr", { className: `p${Math.min(dispatch.priority, 4)}` },
    element("td", { className: "priority" }, link),
    element("td", { className: "age", title: fmtDateTime(dispatch.raised_at) }),
    classCell,
    element("td", { text: dispatch.site }),
    element("td", { text: [dispatch.zone, dispatch.partition].filter((v) => v).join(" / ") || "—" }),
    element("td", {}, element("span", { className: "state-badge", "data-state": dispatch.state, text: stateName(dispatch.state) })),
    element("td", { text: dispatch.handler || "—" }),
    element("td", { text: String(dispatch.occurrences) }),
  );
  tr.dataset.id = String(dispatch.id);
  tr.dataset.state = dispatch.state;
  if (fresh.has(dispatch.id)) tr.classList.add("new");
  tr.addEventListener("click", (event) => {
    if (event.target.tagName !== "A") location.assign(link.href);
  });
  return tr;
}

// Rows are built once per version of a dispatch and reused: a change to one alarm rebuilds one row, not the queue.
const built = new Map(); // id -> { key, tr }
function rowOf(dispatch) {
  const key = `${dispatch.updated_at}|${dispatch.state}|${dispatch.handler}|${dispatch.occurrences}|${lang()}`;
  const cached = built.get(dispatch.id);
  if (cached && cached.key === key) return cached.tr;
  const tr = row(dispatch);
  built.set(dispatch.id, { key, tr });
  return tr;
}

function render() {
  const list = ordered();
  for (const id of built.keys()) if (!open.has(id)) built.delete(id);
  // Move only what is out of place: a new alarm is one insertion, not a rebuilt table.
  list.map(rowOf).forEach((tr, index) => {
    if (rows.children[index] !== tr) rows.insertBefore(tr, rows.children[index] ?? null);
  });
  while (rows.children.length > list.length) rows.lastElementChild.remove();
  empty.hidden = list.length > 0;
  count.textContent = t("queue.count", { n: list.length });
  document.title = `${list.length ? `(${list.length}) ` : ""}${t("app.name")}`;
  tick();
}

// Ages and breaches, once a second, without rebuilding rows.
function tick() {
  const now = Date.now();
  for (const tr of rows.children) {
    const dispatch = open.get(Number(tr.dataset.id));
    if (!dispatch) continue;
    const age = secondsSince(dispatch.raised_at, now);
    const cell = tr.querySelector(".age");
    cell.textContent = fmtAge(age);
    const breach = dispatch.state === "raised" && age > slaOf(dispatch);
    if (breach !== tr.classList.contains("breach")) {
      tr.classList.toggle("breach", breach);
      cell.title = breach ? t("queue.breach") : fmtDateTime(dispatch.raised_at);
    }
  }
}

function beep() {
  document.body.dataset.alerts = String(Number(document.body.dataset.alerts) + 1);
  if (!soundOn) return;
  try {
    audio ??= new AudioContext();
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.6);
    // A running AudioContext keeps an audio thread busy: let it rest between alarms.
    oscillator.addEventListener("ended", () => audio.suspend());
    if (audio.state === "suspended") {
      audio.resume().then(soundLabel);
      // The browser plays sound only after a click on the page: say so until the operator clicks.
      setTimeout(soundLabel, 300);
    }
  } catch {
    /* no audio device: the flash and the title still say it */
  }
}

function soundBlocked() {
  return soundOn && audio !== null && audio.state === "suspended" && !navigator.userActivation?.hasBeenActive;
}

function soundLabel() {
  const blocked = soundBlocked();
  soundButton.textContent = t(blocked ? "queue.sound.blocked" : soundOn ? "queue.sound.on" : "queue.sound.off");
  soundButton.classList.toggle("danger", blocked);
  soundButton.setAttribute("aria-pressed", String(soundOn));
}

// Any click lets the page play sound from then on.
document.addEventListener("click", () => setTimeout(soundLabel, 0), { once: true });

soundButton.addEventListener("click", () => {
  if (soundBlocked()) {
    soundLabel();
    return;
  }
  soundOn = !soundOn;
  localStorage.setItem("shaobing.sound", soundOn ? "on" : "off");
  if (soundOn && audio?.state === "suspended") audio.resume();
  soundLabel();
});

function onEvent(name, data) {
  const applied = applyEvent(open, name, data);
  if (applied === null || name === "resync") return;
  if (applied === "new") {
    // Highlighted for a few seconds: a still colour, not an animation (a console stays open all shift and must not
    // keep the machine busy repainting).
    const id = data.dispatch.id;
    fresh.add(id);
    setTimeout(() => {
      fresh.delete(id);
      rows.querySelector(`tr[data-id="${id}"]`)?.classList.remove("new");
    }, 4000);
    beep();
  }
  render();
  if (name === "change") document.body.dataset.lastChange = String(data.transition_id);
}

async function main() {
  soundLabel();
  applyI18n();
  try {
    config = await api("staff", "/api/web/config");
  } catch {
    /* defaults */
  }
  onLangChange(() => {
    soundLabel();
    render();
  });
  setInterval(tick, 1000);
  followLive("/api/live/dispatches", { onEvent, onState: showLive });
}

void session;
main();
