// The console's login: a session token for login + password, kept in this browser until it expires or logs out.

import { ApiError, api, saveSession } from "../common/api.js";
import { addMessages, applyI18n, languageSwitch, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "login.title": "监控中心登录",
    "login.login": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.wrong": "用户名或密码错误",
    "login.locked": "失败次数过多，请稍后再试",
    "login.failed": "登录失败：{detail}",
  },
  en: {
    "login.title": "Monitoring centre login",
    "login.login": "Login",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.wrong": "Wrong login or password",
    "login.locked": "Too many failed attempts: try again later",
    "login.failed": "Login failed: {detail}",
  },
});

// Only a path on this site: never send the browser elsewhere after a login.
export function safeNext(raw, fallback) {
  return raw && raw.startsWith("/") && !raw.startsWith("//") ? raw : fallback;
}

const form = document.getElementById("login-form");
const problem = document.getElementById("login-error");
languageSwitch(document.getElementById("language"));
applyI18n();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  problem.textContent = "";
  const body = { login: form.login.value.trim(), password: form.password.value };
  if (!body.login || !body.password) {
    problem.textContent = t("login.wrong");
    return;
  }
  try {
    const answer = await api("staff", "/api/staff/login", { method: "POST", body });
    saveSession("staff", answer);
    location.assign(safeNext(new URLSearchParams(location.search).get("next"), "/console/"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) problem.textContent = t("login.wrong");
    else if (error instanceof ApiError && error.status === 429) problem.textContent = t("login.locked");
    else problem.textContent = t("login.failed", { detail: error.message });
    form.password.select();
  }
});
