"""The demo's monitoring centre: who logs in to the console (fixed passwords, printed), the action plans of the alarm
classes the demo raises, the sites' profiles (patrol area, address, position on the bikes' streets) and the lines
that tell a person where to look.

The passwords are fixed so that the README can name them and a person can log in while the demo plays; the demo's
central listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from firmware_sim.tracker.streets import Crossing, StreetGrid

from central.api.owner_auth import OwnersSettings, hash_password
from shaobing.demo.configs import Console, ConsoleUser, Plan, PlanCall, PlanStep


@dataclass(frozen=True)
class DemoLogin:
    login: str
    name: str
    role: str
    password: str


OPERATOR = DemoLogin("zhangwei", "张伟", "operator", "demo-operator-1")
SUPERVISOR = DemoLogin("wangli", "王丽", "supervisor", "demo-supervisor-1")
ADMIN = DemoLogin("admin", "系统管理员", "admin", "demo-admin-1")
LOGINS = (OPERATOR, SUPERVISOR, ADMIN)

GUARD_ROOM = PlanCall("保安值班室 guard room", "0755-83000001", "24 h")
POLICE = PlanCall("110 报警台", "110")

PLANS = {
    "burglary": Plan(
        steps=(PlanStep("check-camera", "查看现场视频，确认是否有人闯入", "Check the camera for an intruder"),
               PlanStep("call-keyholder", "致电店主核实", "Call the keyholder to verify"),
               PlanStep("send-guard", "派保安到场", "Send a guard")),
        calls=(PlanCall("店主 陈先生", "13800000001", "keyholder"), GUARD_ROOM, POLICE)),
    "panic": Plan(
        steps=(PlanStep("confirm-110", "确认 110 已收到警情", "Confirm that 110 has the alarm"),
               PlanStep("send-guard", "派最近的保安到场", "Send the nearest guard"),
               PlanStep("call-keyholder", "事后致电店主", "Call the keyholder afterwards")),
        calls=(POLICE, GUARD_ROOM, PlanCall("店主 周女士", "13800000002", "keyholder"))),
    "theft": Plan(
        steps=(PlanStep("check-track", "查看车辆实时位置与轨迹", "Check the bike's live position and track"),
               PlanStep("call-owner", "致电车主核实", "Call the owner to verify"),
               PlanStep("hand-link", "确认 110 已收到实时链接", "Confirm that 110 has the live link")),
        calls=(POLICE,)),
    "vibration": Plan(
        steps=(PlanStep("check-track", "查看车辆位置是否移动", "Check whether the bike has moved"),),
        calls=()),
    "forced_door": Plan(
        steps=(PlanStep("check-camera", "查看门口视频", "Check the door's camera"),
               PlanStep("send-guard", "派保安查看", "Send a guard to look")),
        calls=(PlanCall("幸福公寓 管理处", "0755-83000002", "building office"), GUARD_ROOM)),
    "held_door": Plan(
        steps=(PlanStep("call-office", "通知管理处关门", "Ask the building office to close the door"),),
        calls=(PlanCall("幸福公寓 管理处", "0755-83000002", "building office"),)),
    "headcount": Plan(
        steps=(PlanStep("call-dispatch", "致电矿调度室核实井下人数", "Call the mine's dispatch room to check"),
               PlanStep("stop-descent", "要求暂停下井直至人数回落", "Have descents stopped until the count is back")),
        calls=(PlanCall("红旗煤矿 调度室", "0351-6000001", "mine dispatch room"),)),
}

# Where the sites stand: crossings of the street grid the simulated bikes ride on (Futian, Shenzhen).
PROFILES: dict[str, tuple[str, str, Crossing]] = {
    "shop-001": ("福田东片", "深圳市福田区福华路 12 号 便利店", (10, 8)),
    "shop-002": ("福田东片", "深圳市福田区福华路 30 号 金店", (11, 8)),
    "trackers-001": ("福田东片", "深圳市福田区深南大道 2001 号 机房", (8, 8)),
    "rental-001": ("福田西片", "深圳市福田区香蜜湖路 5 号 幸福公寓", (5, 11)),
    "mine-001": ("福田西片", "深圳市福田区梅林路 88 号 红旗煤矿社区", (3, 14)),
}


def password_hashes() -> dict[str, str]:
    """Each login's password hash, made as `shaobing central hash-password` makes it (scrypt: run it in a thread)."""
    costs = OwnersSettings()
    return {who.login: hash_password(who.password, n=costs.scrypt_n, r=costs.scrypt_r, p=costs.scrypt_p)
            for who in LOGINS}


def console_settings(hashes: dict[str, str]) -> Console:
    """Central's [console] for the demo; `hashes` maps each login to its password's hash."""
    return Console(users=tuple(ConsoleUser(u.login, u.name, u.role, hashes[u.login]) for u in LOGINS), plans=PLANS)


def site_profile(site: str) -> dict[str, object]:
    """The PATCH /api/sites/{site} body for a demo site: patrol area, address, and a position on the streets."""
    area, address, crossing = PROFILES[site]
    grid = StreetGrid()
    where = grid.frame.to_latlon(grid.point(crossing))
    return {"area": area, "address": address, "lat": round(where.lat, 6), "lon": round(where.lon, 6)}


async def log_in(api: httpx.AsyncClient, who: DemoLogin) -> str:
    """A console session for `who`, as the console's log-in page gets one."""
    response = await api.post("/api/staff/login", json={"login": who.login, "password": who.password},
                              headers={"Authorization": ""})
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


async def follow_plan(api: httpx.AsyncClient, dispatch_id: int, say: Callable[[str], None]) -> bool:
    """Mark every step of the dispatch's action plan, as the operator does on the alarm page (`api` logged in as the
    operator): the keyholder's call waits for the morning (not applicable now, with the reason). True when every
    step was marked (or there is no plan)."""
    context = await api.get(f"/api/dispatches/{dispatch_id}/context")
    context.raise_for_status()
    plan = context.json()["plan"]
    if plan is None:
        return True
    marked = True
    for step in plan["steps"]:
        body = ({"status": "skipped", "note": "店主明早到店再联系 (the keyholder is called in the morning)"}
                if step["key"] == "call-keyholder" else {"status": "done"})
        response = await api.post(f"/api/dispatches/{dispatch_id}/plan/{step['key']}", json=body)
        marked = marked and response.status_code == 200
        say(f"operator: plan step \"{step['text']}\" ({step['text_en']}): "
            + (body["status"] if response.status_code == 200 else f"HTTP {response.status_code} {response.text}"))
    return marked


def where_to_look(http: str, owners: list[tuple[str, str, str]]) -> list[str]:
    """The lines telling a person where the console and the owners' pages are and how to log in.
    `owners`: (name, phone, password) of each demo owner."""
    lines = [f"monitoring centre console: http://{http}/console/"]
    lines += [f"  {who.role:<10} login {who.login:<9} password {who.password}  ({who.name})" for who in LOGINS]
    lines.append(f"owners' pages (phone): http://{http}/my/")
    lines += [f"  {name}  phone {phone}  password {password}" for name, phone, password in owners]
    return lines
