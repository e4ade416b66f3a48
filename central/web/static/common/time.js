// Times as the user reads them: in the browser's own time zone and language. The API speaks UTC (ISO 8601).

import { lang } from "./i18n.js";

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

// Intl formatters are slow to make and quick to use: one per language and style.
const formatters = new Map();
function formatter(style) {
  const key = `${lang()}|${style}`;
  let found = formatters.get(key);
  if (!found) {
    const options = style === "time" ? { timeStyle: "medium" } : { dateStyle: "short", timeStyle: "medium" };
    found = new Intl.DateTimeFormat(lang(), options);
    formatters.set(key, found);
  }
  return found;
}

export function fmtDateTime(iso) {
  if (!iso) return "—";
  return formatter("datetime").format(new Date(iso));
}

export function fmtTime(iso) {
  if (!iso) return "—";
  return formatter("time").format(new Date(iso));
}

// 75 -> "1:15", 3725 -> "1:02:05": an age that ticks.
export function fmtAge(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function secondsSince(iso, now = Date.now()) {
  return (now - Date.parse(iso)) / 1000;
}

// A local date-time input's value ("2026-11-24T12:00") <-> ISO in UTC.
export function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromLocalInput(value) {
  return new Date(value).toISOString();
}
