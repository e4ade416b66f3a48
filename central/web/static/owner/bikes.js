// My bikes: each with its state (armed, position age, moving or parked, GPS or approximate, a theft), arm / disarm,
// and a button to follow it on the map. Refreshed every few seconds without reloading the page.

import { ApiError, api } from "../common/api.js";
import { addMessages, applyI18n, onLangChange, t } from "../common/i18n.js";
import { bikeTitle, chooseBike, renderPills, statePills } from "./bike-state.js";
import { element, errorText, startOwnerPage } from "./common.js";

addMessages({
  "zh-CN": {
    "bikes.loading": "加载中…",
    "bikes.empty": "还没有绑定电动车。请用包装盒上的绑定码添加。",
    "bikes.open": "查看地图",
    "bikes.arm": "设防",
    "bikes.disarm": "撤防",
    "claim.title": "添加电动车",
    "claim.imei": "IMEI（15 位数字）",
    "claim.code": "绑定码",
    "claim.name": "车辆名称",
    "claim.plate": "车牌（可选）",
    "claim.submit": "添加",
    "claim.default-name": "我的电动车",
    "claim.not-found": "IMEI 或绑定码不对，请核对包装盒",
    "claim.taken": "这台定位器已有车主",
  },
  en: {
    "bikes.loading": "Loading…",
    "bikes.empty": "No bike yet. Add one with the bind code on its tracker's box.",
    "bikes.open": "Open map",
    "bikes.arm": "Arm",
    "bikes.disarm": "Disarm",
    "claim.title": "Add a bike",
    "claim.imei": "IMEI (15 digits)",
    "claim.code": "Bind code",
    "claim.name": "Bike name",
    "claim.plate": "Plate (optional)",
    "claim.submit": "Add",
    "claim.default-name": "My e-bike",
    "claim.not-found": "Wrong IMEI or bind code: check the box",
    "claim.taken": "This tracker has an owner already",
  },
});

const REFRESH_MS = 5000;
startOwnerPage();
applyI18n();

const list = document.getElementById("bikes");
const problem = document.getElementById("problem");
let bikes = [];

function showProblem(error) {
  problem.hidden = !error;
  problem.textContent = error ? errorText(error) : "";
}

// One card per bike, kept across refreshes (updated in place, so a focused button keeps its focus).
const cards = new Map();

function bikeCard(imei) {
  const pills = element("div", { className: "status" });
  const title = element("p", { className: "bike-name" });
  const toggle = element("button", { type: "button" });
  toggle.addEventListener("click", () => {
    const bike = bikes.find((item) => item.imei === imei);
    if (bike) setArmed(bike, !bike.armed, toggle);
  });
  const open = element("button", { type: "button", className: "primary", "data-action": "open" });
  open.addEventListener("click", () => {
    chooseBike(imei);
    location.assign("/my/bike");
  });
  const node = element("li", { className: "card bike" }, title, pills, element("div", { className: "actions" }, toggle, open));
  const update = (bike) => {
    node.dataset.name = bike.name;
    node.dataset.plate = bike.plate ?? "";
    title.textContent = bikeTitle(bike);
    renderPills(pills, statePills(bike));
    toggle.className = bike.armed ? "" : "primary";
    toggle.dataset.action = bike.armed ? "disarm" : "arm";
    toggle.textContent = t(bike.armed ? "bikes.disarm" : "bikes.arm");
    toggle.disabled = false;
    open.textContent = t("bikes.open");
  };
  return { node, update };
}

function render() {
  document.getElementById("loading").hidden = true;
  document.getElementById("empty").hidden = bikes.length > 0;
  const nodes = bikes.map((bike) => {
    if (!cards.has(bike.imei)) cards.set(bike.imei, bikeCard(bike.imei));
    const card = cards.get(bike.imei);
    card.update(bike);
    return card.node;
  });
  for (const imei of cards.keys()) if (!bikes.some((bike) => bike.imei === imei)) cards.delete(imei);
  if (nodes.some((node, index) => list.children[index] !== node) || list.children.length !== nodes.length) {
    list.replaceChildren(...nodes);
  }
}

async function refresh() {
  try {
    bikes = await api("owner", "/api/my/bikes");
    showProblem(null);
    render();
  } catch (error) {
    showProblem(error);
  }
}

async function setArmed(bike, armed, button) {
  button.disabled = true;
  try {
    const updated = await api("owner", `/api/my/bikes/${bike.imei}/${armed ? "arm" : "disarm"}`, { method: "POST" });
    bikes = bikes.map((item) => (item.imei === updated.imei ? updated : item));
    showProblem(null);
    render();
  } catch (error) {
    showProblem(error);
    button.disabled = false;
  }
}

const claimForm = document.getElementById("claim-form");
claimForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const claimError = document.getElementById("claim-error");
  claimError.textContent = "";
  const body = {
    imei: claimForm.imei.value.replace(/\s/g, ""),
    bind_code: claimForm.code.value.trim(),
    name: claimForm.bikename.value.trim() || t("claim.default-name"),
  };
  const plate = claimForm.plate.value.trim();
  if (plate) body.plate = plate;
  try {
    await api("owner", "/api/my/bikes", { method: "POST", body });
    claimForm.reset();
    document.getElementById("claim-section").open = false;
    await refresh();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) claimError.textContent = t("claim.not-found");
    else if (error instanceof ApiError && error.status === 409) claimError.textContent = t("claim.taken");
    else claimError.textContent = errorText(error);
  }
});

onLangChange(render);
await refresh();
setInterval(refresh, REFRESH_MS);
