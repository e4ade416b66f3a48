// One event stream per browser for every console tab (a SharedWorker): browsers open at most six connections to one
// server over HTTP/1.1, and an operator with the queue and several alarms open in tabs must not use them all up.
// The worker keeps the open queue as the stream tells it, so a tab that joins gets a snapshot at once.

import { applyEvent } from "./open-queue.js";
import { readEvents } from "./sse.js";

const ports = new Set();
const open = new Map(); // dispatch id -> dispatch
let current = null; // { token, path, controller }
let state = "down";

function broadcast(message) {
  for (const port of ports) port.postMessage(message);
}

function snapshot() {
  return { dispatches: [...open.values()], now: new Date().toISOString() };
}

async function run(token, path, signal) {
  let pause = 500;
  while (!signal.aborted) {
    try {
      const response = await fetch(path, { headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" }, signal });
      if (response.status === 401 || response.status === 403) {
        broadcast({ type: "unauthorized", status: response.status });
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      state = "open";
      broadcast({ type: "state", state });
      pause = 500;
      await readEvents(response, (name, data) => {
        applyEvent(open, name, data);
        broadcast({ type: "event", name, data });
      });
    } catch {
      if (signal.aborted) return;
    }
    state = "down";
    broadcast({ type: "state", state });
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10_000);
  }
}

function follow(token, path) {
  if (current && current.token === token && current.path === path) return false;
  current?.controller.abort();
  open.clear();
  const controller = new AbortController();
  current = { token, path, controller };
  run(token, path, controller.signal);
  return true;
}

self.addEventListener("connect", (event) => {
  const port = event.ports[0];
  ports.add(port);
  port.addEventListener("message", ({ data }) => {
    if (data.type === "follow") {
      const started = follow(data.token, data.path);
      if (!started && state === "open") {
        port.postMessage({ type: "state", state });
        port.postMessage({ type: "event", name: "snapshot", data: snapshot() });
      }
    } else if (data.type === "bye") {
      ports.delete(port);
      if (ports.size === 0) {
        current?.controller.abort();
        current = null;
        state = "down";
      }
    }
  });
  port.start();
});
