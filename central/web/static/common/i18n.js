// Chinese (zh-CN) by default, English on request: chosen by a switch (remembered), else by the browser's languages.
// Each page module adds its own messages with addMessages({"zh-CN": {...}, en: {...}}); elements carry
// data-i18n="key" (text), data-i18n-placeholder, data-i18n-title, data-i18n-aria-label.

const STORE = "shaobing.lang";
export const LANGUAGES = ["zh-CN", "en"];
const catalogs = { "zh-CN": {}, en: {} };
const listeners = [];
let current = null;

function chosen() {
  const stored = localStorage.getItem(STORE);
  if (LANGUAGES.includes(stored)) return stored;
  for (const wanted of navigator.languages || [navigator.language]) {
    const lower = (wanted || "").toLowerCase();
    if (lower.startsWith("zh")) return "zh-CN";
    if (lower.startsWith("en")) return "en";
  }
  return "zh-CN";
}

export function lang() {
  if (current === null) current = chosen();
  return current;
}

export function setLang(value) {
  if (!LANGUAGES.includes(value)) return;
  current = value;
  localStorage.setItem(STORE, value);
  document.documentElement.lang = value;
  applyI18n();
  for (const listener of listeners) listener(value);
}

export function onLangChange(listener) {
  listeners.push(listener);
}

export function addMessages(messages) {
  for (const language of LANGUAGES) Object.assign(catalogs[language], messages[language] || {});
}

// The message for `key` in the current language ({name} placeholders filled from params); the key itself if none.
export function t(key, params = {}) {
  const text = catalogs[lang()][key] ?? catalogs["zh-CN"][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function applyI18n(root = document) {
  document.documentElement.lang = lang();
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const [attribute, data] of [["placeholder", "i18nPlaceholder"], ["title", "i18nTitle"], ["aria-label", "i18nAriaLabel"]]) {
    for (const element of root.querySelectorAll(`[data-${attribute === "aria-label" ? "i18n-aria-label" : `i18n-${attribute}`}]`)) {
      element.setAttribute(attribute, t(element.dataset[data]));
    }
  }
}

// A button that switches between the two languages: shows the other one's name.
export function languageSwitch(button) {
  const label = () => {
    button.textContent = lang() === "zh-CN" ? "English" : "中文";
    button.setAttribute("aria-label", lang() === "zh-CN" ? "Switch to English" : "切换到中文");
  };
  label();
  button.addEventListener("click", () => {
    setLang(lang() === "zh-CN" ? "en" : "zh-CN");
    label();
  });
}
