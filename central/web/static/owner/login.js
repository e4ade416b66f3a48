// The owners' login, and sign-up for a first visit: phone number and password. The session is kept in this browser
// (localStorage, as the console's) until it expires or the owner logs out.

import { ApiError, api, saveSession } from "../common/api.js";
import { addMessages, applyI18n, languageSwitch, t } from "../common/i18n.js";

addMessages({
  "zh-CN": {
    "owner.app": "我的电动车",
    "login.tab.login": "登录",
    "login.tab.signup": "注册",
    "login.phone": "手机号",
    "login.name": "姓名",
    "login.password": "密码",
    "login.password-hint": "至少 8 位，不要包含手机号",
    "login.submit": "登录",
    "login.signup": "注册并登录",
    "login.wrong": "手机号或密码错误",
    "login.missing": "请填写手机号和密码",
    "login.missing-name": "请填写姓名",
    "login.locked": "失败次数过多，请稍后再试",
    "login.taken": "该手机号已注册，请直接登录",
    "login.failed": "失败：{detail}",
  },
  en: {
    "owner.app": "My e-bike",
    "login.tab.login": "Log in",
    "login.tab.signup": "Sign up",
    "login.phone": "Mobile number",
    "login.name": "Name",
    "login.password": "Password",
    "login.password-hint": "At least 8 characters, without your phone number",
    "login.submit": "Log in",
    "login.signup": "Sign up and log in",
    "login.wrong": "Wrong phone number or password",
    "login.missing": "Enter your phone number and password",
    "login.missing-name": "Enter your name",
    "login.locked": "Too many failed attempts: try again later",
    "login.taken": "This number has an account: log in",
    "login.failed": "Failed: {detail}",
  },
});

// Only a path among the owners' pages: never send the browser elsewhere after a login.
function safeNext(raw) {
  return raw && raw.startsWith("/my/") && !raw.startsWith("//") ? raw : "/my/";
}

const form = document.getElementById("login-form");
const problem = document.getElementById("login-error");
const submit = document.getElementById("submit");
const tabs = { login: document.getElementById("tab-login"), signup: document.getElementById("tab-signup") };
let mode = "login";

function setMode(next) {
  mode = next;
  for (const [key, tab] of Object.entries(tabs)) tab.setAttribute("aria-pressed", String(key === mode));
  document.getElementById("name-field").hidden = mode !== "signup";
  document.getElementById("password-hint").hidden = mode !== "signup";
  form.password.autocomplete = mode === "signup" ? "new-password" : "current-password";
  submit.dataset.i18n = mode === "signup" ? "login.signup" : "login.submit";
  problem.textContent = "";
  applyI18n();
}

tabs.login.addEventListener("click", () => setMode("login"));
tabs.signup.addEventListener("click", () => setMode("signup"));
languageSwitch(document.getElementById("language"));
applyI18n();

function explain(error) {
  if (!(error instanceof ApiError)) return t("login.failed", { detail: error.message });
  if (error.status === 401) return t("login.wrong");
  if (error.status === 429) return t("login.locked");
  if (error.status === 409) return t("login.taken");
  // 422: the API's own words say what is wrong with the number, name or password
  const detail = Array.isArray(error.detail) ? error.detail.map((item) => item.msg).join("; ") : error.message;
  return t("login.failed", { detail });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  problem.textContent = "";
  const phone = form.phone.value.trim();
  const password = form.password.value;
  if (!phone || !password) {
    problem.textContent = t("login.missing");
    return;
  }
  submit.disabled = true;
  try {
    if (mode === "signup") {
      const name = form.name.value.trim();
      if (!name) {
        problem.textContent = t("login.missing-name");
        return;
      }
      await api("owner", "/api/owners", { method: "POST", body: { phone, name, password } });
    }
    const answer = await api("owner", "/api/owners/login", { method: "POST", body: { phone, password } });
    saveSession("owner", answer);
    location.assign(safeNext(new URLSearchParams(location.search).get("next")));
  } catch (error) {
    problem.textContent = explain(error);
    form.password.select();
  } finally {
    submit.disabled = false;
  }
});
