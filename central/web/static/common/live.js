// Follow the console's live stream: through the browser's one shared stream when SharedWorker is there (every tab of
// the console shares one connection), else directly.

import { clearSession, follow, requireSession, toLogin } from "./api.js";

export function followLive(path, { onEvent, onState = () => {} }) {
  if (typeof SharedWorker === "undefined") {
    follow("staff", path, { onEvent, onState });
    return;
  }
  const worker = new SharedWorker("/static/common/live-worker.js", { type: "module", name: "shaobing-live" });
  const port = worker.port;
  port.addEventListener("message", ({ data }) => {
    if (data.type === "event") onEvent(data.name, data.data);
    else if (data.type === "state") onState(data.state);
    else if (data.type === "unauthorized") {
      clearSession("staff");
      toLogin("staff");
    }
  });
  port.start();
  port.postMessage({ type: "follow", token: requireSession("staff").token, path });
  addEventListener("pagehide", () => port.postMessage({ type: "bye" }));
}
