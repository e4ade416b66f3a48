// Calls to central's JSON API with the session's bearer token, and the server-sent-event stream read with fetch
// (EventSource cannot send an Authorization header). Two kinds of session: "staff" (the console) and "owner".

import { readEvents } from "./sse.js";

const KEYS = { staff: "shaobing.staff", owner: "shaobing.owner" };
const LOGIN_PAGES = { staff: "/console/login", owner: "/my/login" };

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

export function session(kind) {
  try {
    const raw = localStorage.getItem(KEYS[kind]);
    if (!raw) return null;
    const value = JSON.parse(raw);
    if (value.expires_at && Date.parse(value.expires_at) <= Date.now()) {
      localStorage.removeItem(KEYS[kind]);
      return null;
    }
    return value;
  } catch {
    return null;
  }
}

export function saveSession(kind, value) {
  localStorage.setItem(KEYS[kind], JSON.stringify(value));
}

export function clearSession(kind) {
  localStorage.removeItem(KEYS[kind]);
}

// Go to the login page, coming back here afterwards (the path only: never a token or personal data).
export function toLogin(kind) {
  const back = location.pathname + location.search;
  location.assign(`${LOGIN_PAGES[kind]}?next=${encodeURIComponent(back)}`);
}

// The page needs a session of `kind`: its value, or off to the login page.
export function requireSession(kind) {
  const value = session(kind);
  if (!value) {
    toLogin(kind);
    throw new Error("not logged in");
  }
  return value;
}

function headers(kind, extra) {
  const result = { Accept: "application/json", ...extra };
  const value = session(kind);
  if (value) result.Authorization = `Bearer ${value.token}`;
  return result;
}

// fetch an API path; JSON in and out. A 401 ends the session and goes to the login page.
export async function api(kind, path, { method = "GET", body, signal, raw = false } = {}) {
  const init = { method, signal, headers: headers(kind, body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (response.status === 401 && session(kind)) {
    clearSession(kind);
    toLogin(kind);
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, detail);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// Download an API answer as a file (exports), keeping the token out of the address.
export async function download(kind, path, fallbackName) {
  const response = await api(kind, path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const name = match ? decodeURIComponent(match[1]) : fallbackName;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Follow a text/event-stream: calls onEvent(name, data) for each event until `signal` aborts; reconnects with a
// growing pause when the stream ends or fails, calling onState("open" | "down") so the page can say so.
export async function follow(kind, path, { onEvent, onState = () => {}, signal }) {
  let pause = 500;
  while (!signal?.aborted) {
    try {
      const response = await api(kind, path, { raw: true, signal });
      onState("open");
      pause = 500;
      await readEvents(response, onEvent);
    } catch (error) {
      if (signal?.aborted) return;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return;
    }
    onState("down");
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}
