// The console's frame around every page: who is logged in, the navigation their role may use, the language switch,
// log-out. A page calls startConsole(page) first; it answers the session, or sends the browser to the login page.

import { api, clearSession, requireSession, toLogin } from "../common/api.js";
import { addMessages, applyI18n, languageSwitch, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "app.name": "哨兵 · 监控中心",
    "nav.queue": "警情队列",
    "nav.sites": "站点",
    "nav.reports": "报表",
    "nav.audit": "操作日志",
    "nav.logout": "退出",
    "role.viewer": "查看员",
    "role.operator": "接警员",
    "role.supervisor": "值班主管",
    "role.admin": "管理员",
    "shell.forbidden": "您的角色无权查看此页面。",
    "shell.live.open": "实时",
    "shell.live.down": "连接中断，正在重连…",
    "common.loading": "加载中…",
    "common.error": "出错了：{detail}",
    "common.none": "无",
  },
  en: {
    "app.name": "Shaobing · Monitoring centre",
    "nav.queue": "Alarm queue",
    "nav.sites": "Sites",
    "nav.reports": "Reports",
    "nav.audit": "Audit log",
    "nav.logout": "Log out",
    "role.viewer": "Viewer",
    "role.operator": "Operator",
    "role.supervisor": "Supervisor",
    "role.admin": "Admin",
    "shell.forbidden": "Your role may not see this page.",
    "shell.live.open": "Live",
    "shell.live.down": "Connection lost, reconnecting…",
    "common.loading": "Loading…",
    "common.error": "Something went wrong: {detail}",
    "common.none": "none",
  },
});

// Which roles see which page (the API enforces the same on the data).
export const PAGES = [
  { key: "queue", href: "/console/", roles: ["viewer", "operator", "supervisor", "admin"] },
  { key: "sites", href: "/console/sites", roles: ["viewer", "operator", "supervisor", "admin"] },
  { key: "reports", href: "/console/reports", roles: ["supervisor", "admin"] },
  { key: "audit", href: "/console/audit", roles: ["supervisor", "admin"] },
];

export const ACTING_ROLES = ["operator", "supervisor", "admin"];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children);
  return node;
}

export { element };

// Render the frame and check the role; `page` is a key of PAGES (or "alarm", "site": any staff role).
export function startConsole(page) {
  const current = requireSession("staff");
  const user = current.user;
  const header = document.getElementById("shell");
  const nav = element("nav", { "aria-label": "main" });
  for (const entry of PAGES.filter((p) => p.roles.includes(user.role))) {
    const link = element("a", { href: entry.href, "data-i18n": `nav.${entry.key}` });
    if (entry.key === page) link.setAttribute("aria-current", "page");
    nav.append(link);
  }
  const live = element("span", { id: "live-state", className: "live-state", hidden: true });
  const who = element("span", { className: "who", id: "who" });
  who.textContent = `${user.name} · ${t(`role.${user.role}`)}`;
  const language = element("button", { type: "button", className: "link", id: "language" });
  const logout = element("button", { type: "button", className: "link", id: "logout", "data-i18n": "nav.logout" });
  logout.addEventListener("click", async () => {
    try {
      await api("staff", "/api/staff/logout", { method: "POST" });
    } catch {
      /* the session may be gone already */
    }
    clearSession("staff");
    toLogin("staff");
  });
  header.replaceChildren(
    element("a", { href: "/console/", className: "brand", "data-i18n": "app.name" }),
    nav,
    element("span", { className: "spacer" }),
    live,
    who,
    language,
    logout,
  );
  languageSwitch(language);
  const allowed = PAGES.find((p) => p.key === page)?.roles ?? ["viewer", "operator", "supervisor", "admin"];
  if (!allowed.includes(user.role)) {
    document.getElementById("main").replaceChildren(element("p", { className: "forbidden", id: "forbidden", "data-i18n": "shell.forbidden" }));
    applyI18n();
    throw new Error("forbidden");
  }
  applyI18n();
  return current;
}

// Show the live stream's state in the frame.
export function showLive(state) {
  const node = document.getElementById("live-state");
  if (!node) return;
  node.hidden = false;
  node.dataset.state = state;
  node.textContent = t(state === "open" ? "shell.live.open" : "shell.live.down");
}

export function showError(target, error) {
  target.textContent = t("common.error", { detail: error?.message ?? String(error) });
  target.classList.add("error");
}
