// What an owner reads from a bike's API answer: armed or not, how old its position is, moving or parked, GPS or only
// the cell tower (approximate), a theft open or confirmed. Shared by the list and the bike's own page.

import { addMessages, t } from "../common/i18n.js";
import { fmtAge } from "../common/time.js";

addMessages({
  "zh-CN": {
    "state.armed": "已设防",
    "state.disarmed": "未设防",
    "state.moving": "移动中 {speed} km/h",
    "state.parked": "停放中",
    "state.no-position": "尚无定位",
    "state.age": "{age} 前定位",
    "state.gps": "GPS 定位",
    "state.cell": "仅基站定位（大致位置）",
    "state.theft.alarmed": "疑似被盗",
    "state.theft.confirmed": "已报警：被盗",
    "state.offline": "{age} 未上线",
  },
  en: {
    "state.armed": "Armed",
    "state.disarmed": "Disarmed",
    "state.moving": "Moving {speed} km/h",
    "state.parked": "Parked",
    "state.no-position": "No position yet",
    "state.age": "position {age} ago",
    "state.gps": "GPS fix",
    "state.cell": "Cell tower only (approximate)",
    "state.theft.alarmed": "Possible theft",
    "state.theft.confirmed": "Reported stolen",
    "state.offline": "offline for {age}",
  },
});

const MOVING_KMH = 3; // below walking pace a GPS speed is noise
const STALE_S = 600; // a tracker reports at least every few minutes while it is on

// The bike's state as pills: [{text, tone}] in the order an owner looks for them.
export function statePills(bike, now = Date.now()) {
  const pills = [];
  if (bike.theft_state) {
    pills.push({ key: "theft", text: t(`state.theft.${bike.theft_state}`), tone: "danger" });
  }
  pills.push({ key: "armed", text: t(bike.armed ? "state.armed" : "state.disarmed"), tone: bike.armed ? "ok" : "warn" });
  const position = bike.position;
  if (!position) {
    pills.push({ key: "position", text: t("state.no-position"), tone: "warn" });
  } else {
    const age = ageOf(position.fix_time, now);
    const moving = (position.speed_kmh ?? 0) >= MOVING_KMH && age < STALE_S;
    pills.push({ key: "motion", text: moving ? t("state.moving", { speed: Math.round(position.speed_kmh) }) : t("state.parked"), tone: moving ? "warn" : "" });
    pills.push({ key: "age", text: t("state.age", { age: fmtAge(age) }), tone: age < STALE_S ? "" : "warn" });
  }
  pills.push(fixKind(bike, now));
  if (bike.last_seen_at && ageOf(bike.last_seen_at, now) > STALE_S) {
    pills.push({ key: "offline", text: t("state.offline", { age: fmtAge(ageOf(bike.last_seen_at, now)) }), tone: "warn" });
  }
  return pills;
}

// GPS, or a cell tower's report newer than the last GPS fix (the bike is somewhere near that tower).
function fixKind(bike, now) {
  const cellNewer = bike.cell && (!bike.position || Date.parse(bike.cell.time) > Date.parse(bike.position.fix_time));
  if (cellNewer) return { key: "fix", text: t("state.cell"), tone: "warn" };
  return { key: "fix", text: bike.position ? t("state.gps") : t("state.no-position"), tone: "" };
}

function ageOf(iso, now) {
  return Math.max(0, (now - Date.parse(iso)) / 1000);
}

export function renderPills(container, pills) {
  container.replaceChildren(...pills.map((pill) => {
    const node = document.createElement("span");
    node.className = "pill";
    node.dataset.key = pill.key;
    if (pill.tone) node.dataset.tone = pill.tone;
    node.textContent = pill.text;
    return node;
  }));
}

// The bike as its owner names it: name, and the plate when there is one.
export function bikeTitle(bike) {
  return bike.plate ? `${bike.name} · ${bike.plate}` : bike.name;
}

// The bike chosen on the list, kept for this tab only: its IMEI never goes into a page address.
const CHOSEN = "shaobing.owner.bike";

export function chooseBike(imei) {
  sessionStorage.setItem(CHOSEN, imei);
}

export function chosenBike() {
  return sessionStorage.getItem(CHOSEN);
}
