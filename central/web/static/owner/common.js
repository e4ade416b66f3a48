// The owners' pages' frame: the session (or the login page), the header's language switch and log-out, errors shown
// in words.

import { ApiError, api, clearSession, requireSession, toLogin } from "../common/api.js";
import { addMessages, languageSwitch, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "owner.app": "我的电动车",
    "owner.logout": "退出",
    "owner.error": "出错了：{detail}",
    "owner.offline": "网络中断，正在重试…",
  },
  en: {
    "owner.app": "My e-bike",
    "owner.logout": "Log out",
    "owner.error": "Something went wrong: {detail}",
    "owner.offline": "No connection, retrying…",
  },
});

export function startOwnerPage() {
  const current = requireSession("owner");
  const language = document.getElementById("language");
  if (language) languageSwitch(language);
  document.getElementById("logout")?.addEventListener("click", async () => {
    try {
      await api("owner", "/api/owners/logout", { method: "POST" });
    } catch {
      /* the session may be gone already */
    }
    clearSession("owner");
    toLogin("owner");
  });
  return current;
}

export function errorText(error) {
  if (error instanceof TypeError) return t("owner.offline"); // fetch failed: no network
  const detail = error instanceof ApiError && Array.isArray(error.detail)
    ? error.detail.map((item) => item.msg).join("; ")
    : error?.message ?? String(error);
  return t("owner.error", { detail });
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("data-") || name.startsWith("aria-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children);
  return node;
}
