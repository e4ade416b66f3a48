"""The console's API on both stores: staff log-in and sessions, the handler rule, action plans, an alarm's context and
the audit log they write; hostile input answered 4xx with a detail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.routes_staff import WRONG_LOGIN
from central.store.schema import audit_log, trackers
from shaobing.envelope import Kind
from tests.central.app_kit import Clock, assert_detail
from tests.central.console_kit import (
    ACK_SLA,
    ACK_SLA_DEFAULT,
    ID_NUMBER,
    IMEI,
    LOCKOUT_S,
    MAX_FAILURES,
    SESSION_TTL_S,
    USERS,
    Seeder,
    at,
    build_app,
    console_settings,
    log_in,
)

PNG = "data:image/png;base64," + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
OP1 = USERS["op1"][0]
OP2 = USERS["op2"][0]


@dataclass(frozen=True)
class Seeded:
    burglary: int  # shop-a, priority 2, plan of two steps
    panic: int  # shop-a, priority 1, no plan
    earlier: int  # shop-a, an earlier burglary on another zone
    tracker_theft: int  # gw-1, zone = the bike's IMEI, priority 3
    hostile_snapshots: int  # shop-b: only snapshots that must not be shown
    watchlist: int  # shop-a: a watch-list hit


@pytest.fixture
def clock() -> Clock:
    return Clock(at(30))


@pytest.fixture
async def seeded(engine: AsyncEngine) -> Seeded:
    seed = Seeder(engine)
    await seed.site("shop-a", name="A 店", armed=True, lat=31.23, lon=121.47, address="南京路 1 号", area="黄浦")
    await seed.site("shop-b", name="B 店")
    await seed.site("gw-1", name="Tracker gateway", kind="tracker_gateway")
    earlier = await seed.dispatch("shop-a", "burglary", zone="9", priority=2, at=at(-60))
    await seed.reading("shop-a", Kind.STATUS, {"voltage_level": 12}, at(-3))
    await seed.reading("shop-a", Kind.ID_READ, {"id_number": ID_NUMBER, "name": "张三"}, at(-2), device="reader")
    await seed.reading("shop-a", Kind.POSITION, {"lat": 31.0, "lon": 121.0}, at(-1), device="gnss")
    await seed.reading("shop-a", Kind.MOTION, {"camera": "cam-1", "snapshot": PNG}, at(-1), device="nvr")
    # Newer than the good one: looked at first, and passed over.
    await seed.reading("shop-a", Kind.MOTION, {"snapshot": "javascript:alert(1)"}, at(0.5), device="nvr")
    burglary = await seed.dispatch("shop-a", "burglary", zone="3", priority=2, at=at(1))
    panic = await seed.dispatch("shop-a", "panic", zone="1", priority=1, at=at(2))
    watchlist = await seed.watchlist_hit("shop-a", at(3))
    await seed.reading("shop-b", Kind.MOTION, {"snapshot": "https://evil.example/cam.jpg"}, at(4), device="nvr")
    await seed.reading("shop-b", Kind.MOTION, {"snapshot": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2M+"},
                       at(4), device="nvr")
    await seed.reading("shop-b", Kind.MOTION, {"snapshot": "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"},
                       at(4), device="nvr")
    hostile = await seed.dispatch("shop-b", "burglary", zone="1", priority=2, at=at(5))
    async with engine.begin() as connection:
        await connection.execute(insert(trackers).values(
            imei=IMEI, name="小蓝", plate="沪A12345", lat=31.1, lon=121.3, fix_time=at(5), speed_kmh=18.0,
            created_at=at(-100), updated_at=at(5)))
    theft = await seed.dispatch("gw-1", "theft", zone=IMEI, priority=3, at=at(6))
    return Seeded(burglary.id, panic.id, earlier.id, theft.id, hostile.id, watchlist.id)


@pytest.fixture
async def app(engine: AsyncEngine, clock: Clock, seeded: Seeded) -> AsyncIterator[FastAPI]:
    app = build_app(engine, clock)
    yield app
    await app.state.live.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


async def audit_rows(engine: AsyncEngine, *actions: str) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(
            select(audit_log).where(audit_log.c.action.in_(actions)).order_by(audit_log.c.id))).all())


async def owner_session(client: httpx.AsyncClient) -> dict[str, str]:
    password = "correct horse battery"
    signed = await client.post("/api/owners", json={"phone": "13812345678", "name": "Li Lei", "password": password})
    assert signed.status_code == 201, signed.text
    login = await client.post("/api/owners/login", json={"phone": "13812345678", "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


# ---- log-in and sessions ------------------------------------------------------------------------------------------


async def test_the_right_password_opens_a_session(client: httpx.AsyncClient, clock: Clock) -> None:
    response = await client.post("/api/staff/login", json={"login": "op1", "password": "op1-password"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"].startswith("st_") and len(body["token"]) > 40
    assert body["user"] == {"login": "op1", "name": OP1, "role": "operator"}
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(seconds=SESSION_TTL_S)
    me = await client.get("/api/staff/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json() == {"login": "op1", "name": OP1, "role": "operator"}


async def test_a_wrong_password_and_an_unknown_login_answer_alike(client: httpx.AsyncClient) -> None:
    wrong = await client.post("/api/staff/login", json={"login": "op1", "password": "not-it"})
    unknown = await client.post("/api/staff/login", json={"login": "nobody", "password": "op1-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": WRONG_LOGIN}


async def test_failures_lock_the_login_until_the_lockout_ends(
    client: httpx.AsyncClient, clock: Clock, engine: AsyncEngine
) -> None:
    for _ in range(MAX_FAILURES):
        failed = await client.post("/api/staff/login", json={"login": "op2", "password": "guess"})
        assert failed.status_code == 401
    locked = await client.post("/api/staff/login", json={"login": "op2", "password": "op2-password"})
    assert_detail(locked, 429)
    assert 0 < int(locked.headers["Retry-After"]) <= LOCKOUT_S + 1
    # Another login is not locked with it, and the same login in other letters is the same login.
    assert (await client.post("/api/staff/login", json={"login": "op1", "password": "op1-password"})).status_code == 200
    assert (await client.post("/api/staff/login", json={"login": " OP2 ", "password": "op2-password"})).status_code \
        == 429
    clock.advance(seconds=LOCKOUT_S + 1)
    assert (await client.post("/api/staff/login", json={"login": "op2", "password": "op2-password"})).status_code \
        == 200
    attempts = [(row.action, row.actor, row.detail) for row in await audit_rows(engine, "login", "login_failed")]
    assert attempts == [
        *[("login_failed", "op2", {})] * MAX_FAILURES,
        ("login_failed", "op2", {"reason": "locked"}),
        ("login", OP1, {}),
        ("login_failed", "op2", {"reason": "locked"}),
        ("login", OP2, {}),
    ]


async def test_logout_ends_the_session(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    staff = await log_in(client, "sup1")
    other = await log_in(client, "sup1")
    assert (await client.post("/api/staff/logout", headers=staff)).status_code == 204
    assert_detail(await client.get("/api/staff/me", headers=staff), 401)
    assert_detail(await client.post("/api/staff/logout", headers=staff), 401)
    assert (await client.get("/api/staff/me", headers=other)).status_code == 200  # only that session ended
    [logout] = await audit_rows(engine, "logout")
    assert (logout.actor, logout.role) == (USERS["sup1"][0], "supervisor")


async def test_a_session_expires(client: httpx.AsyncClient, clock: Clock) -> None:
    staff = await log_in(client, "op1")
    clock.advance(seconds=SESSION_TTL_S - 1)
    assert (await client.get("/api/staff/me", headers=staff)).status_code == 200
    clock.advance(seconds=2)
    assert_detail(await client.get("/api/staff/me", headers=staff), 401)
    assert_detail(await client.get("/api/dispatches", headers=staff), 401)


async def test_a_login_removed_from_the_settings_stops_working(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    staff = await log_in(client, "op1")
    kept = await log_in(client, "op2")
    restarted = build_app(engine, clock, console_settings(("op2", "sup1")))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=restarted), base_url="http://central") as new:
            assert_detail(await new.get("/api/staff/me", headers=staff), 401)
            assert (await new.get("/api/staff/me", headers=kept)).json()["login"] == "op2"
            gone = await new.post("/api/staff/login", json={"login": "op1", "password": "op1-password"})
            assert gone.json() == {"detail": WRONG_LOGIN}
    finally:
        await restarted.state.live.close()


async def test_every_attempt_is_in_the_audit_log(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await client.post("/api/staff/login", json={"login": "op1", "password": "wrong"})
    await client.post("/api/staff/login", json={"login": "ghost", "password": "wrong"})
    staff = await log_in(client, "op1")
    await client.post("/api/staff/logout", headers=staff)
    rows = await audit_rows(engine, "login", "login_failed", "logout")
    assert [(row.action, row.actor, row.role) for row in rows] == [
        ("login_failed", "op1", "operator"),
        ("login_failed", "ghost", "unknown"),
        ("login", OP1, "operator"),
        ("logout", OP1, "operator"),
    ]
    assert all("password" not in str(row.detail) for row in rows)


HOSTILE_LOGINS: list[Any] = [
    {},
    {"login": "op1"},
    {"password": "op1-password"},
    {"login": "op1", "password": "op1-password", "role": "admin"},
    {"login": "", "password": "x"},
    {"login": "op1", "password": ""},
    {"login": "x" * 10_000, "password": "x"},
    {"login": "op1", "password": "p" * 100_000},
    {"login": ["op1"], "password": "op1-password"},
    {"login": 1, "password": 2},
    {"login": None, "password": None},
    ["op1", "op1-password"],
    "op1",
    None,
]


@pytest.mark.parametrize("body", HOSTILE_LOGINS)
async def test_hostile_login_bodies_are_refused(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post("/api/staff/login", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("raw", [b"", b"{", b"login=op1&password=x", b"\xff\xfe\x00", b'{"login": "op1", "pass',
                                 b"[" * 5000])
async def test_non_json_login_bodies_are_refused(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/api/staff/login", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("login", ["op1\x00", "\x00", "ôp1", "op1\u202e", "😀" * 64, "op1'; DROP TABLE staff;--"])
async def test_odd_logins_are_wrong_logins(client: httpx.AsyncClient, login: str) -> None:
    response = await client.post("/api/staff/login", json={"login": login, "password": "op1-password\x00"})
    assert response.status_code in (401, 422), response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("token", ["st_", "st_" + "a" * 300, "st_\u00e9\u00e9", "st_" + "x" * 43, "st_../../etc"])
async def test_forged_staff_tokens_are_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/api/staff/me", headers={b"Authorization": f"Bearer {token}".encode()})
    assert_detail(response, 401)


async def test_staff_and_owner_sessions_stay_on_their_own_routes(client: httpx.AsyncClient) -> None:
    staff = await log_in(client, "sup1")
    owner = await owner_session(client)
    assert_detail(await client.get("/api/my/bikes", headers=staff), 403)
    assert (await client.get("/api/my/bikes", headers=owner)).status_code == 200
    for path in ("/api/staff/me", "/api/dispatches", "/api/dispatches/1/context", "/api/live/dispatches"):
        assert_detail(await client.get(path, headers=owner), 403)
    assert_detail(await client.post("/api/staff/logout", headers=owner), 403)
    assert_detail(await client.post("/api/dispatches/1/plan/check-camera", headers=owner, json={"status": "done"}),
                  403)
    assert_detail(await client.get("/api/staff/me"), 401)


# ---- the handler rule and action plans ----------------------------------------------------------------------------


async def act(client: httpx.AsyncClient, headers: dict[str, str], dispatch_id: int, action: str,
              **fields: Any) -> httpx.Response:
    return await client.post(f"/api/dispatches/{dispatch_id}/actions", headers=headers,
                             json={"action": action, **fields})


async def mark(client: httpx.AsyncClient, headers: dict[str, str], dispatch_id: int, step: str,
               **fields: Any) -> httpx.Response:
    return await client.post(f"/api/dispatches/{dispatch_id}/plan/{step}", headers=headers,
                             json={"status": "done", **fields})


async def test_the_first_to_act_handles_the_dispatch_and_another_takes_it_over_on_purpose(
    client: httpx.AsyncClient, engine: AsyncEngine, seeded: Seeded
) -> None:
    op1, op2 = await log_in(client, "op1"), await log_in(client, "op2")
    first = await act(client, op1, seeded.burglary, "acknowledge")
    assert first.status_code == 200, first.text
    assert first.json()["handler"] == OP1
    for refused in (await act(client, op2, seeded.burglary, "assign_guard", guard="Guard 7"),
                    await mark(client, op2, seeded.burglary, "call-keyholder")):
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail["reason"] == "handled_by_other" and detail["handler"] == OP1
        assert OP1 in detail["message"]
    # The refusals changed nothing: still acknowledged, by the first, no guard, no mark.
    context = (await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=op1)).json()
    assert context["dispatch"]["state"] == "acknowledged" and context["dispatch"]["guard"] is None
    assert all(step["mark"] is None for step in context["plan"]["steps"])
    # The handler keeps acting without taking anything over.
    assert (await mark(client, op1, seeded.burglary, "call-keyholder")).status_code == 200

    taken = await act(client, op2, seeded.burglary, "assign_guard", guard="Guard 7", take_over=True)
    assert taken.status_code == 200, taken.text
    assert taken.json()["handler"] == OP2 and taken.json()["guard"] == "Guard 7"
    assert (await act(client, op1, seeded.burglary, "on_scene")).json()["detail"]["handler"] == OP2
    [take_over] = await audit_rows(engine, "dispatch.take_over")
    assert (take_over.actor, take_over.role, take_over.target) == (OP2, "operator", f"dispatch:{seeded.burglary}")
    assert take_over.detail == {"from": OP1}
    actions = [(row.action, row.actor) for row in await audit_rows(
        engine, "dispatch.acknowledge", "dispatch.plan_step", "dispatch.assign_guard", "dispatch.take_over")]
    assert actions == [("dispatch.acknowledge", OP1), ("dispatch.plan_step", OP1), ("dispatch.take_over", OP2),
                       ("dispatch.assign_guard", OP2)]


async def test_a_take_over_by_plan_step_is_recorded_too(
    client: httpx.AsyncClient, engine: AsyncEngine, seeded: Seeded
) -> None:
    op1, sup = await log_in(client, "op1"), await log_in(client, "sup1")
    assert (await act(client, op1, seeded.burglary, "acknowledge")).status_code == 200
    marked = await mark(client, sup, seeded.burglary, "check-camera", take_over=True)
    assert marked.status_code == 200, marked.text
    assert marked.json()["actor"] == USERS["sup1"][0]
    [take_over] = await audit_rows(engine, "dispatch.take_over")
    assert take_over.detail == {"from": OP1} and take_over.actor == USERS["sup1"][0]
    detail = (await client.get(f"/api/dispatches/{seeded.burglary}", headers=op1)).json()
    assert detail["handler"] == USERS["sup1"][0]
    assert detail["transitions"][-1]["action"] == "plan_step"
    assert detail["transitions"][-1]["detail"] == {"step": "check-camera", "status": "done"}


async def test_a_dispatch_with_a_plan_is_resolved_only_once_every_step_is_marked(
    client: httpx.AsyncClient, engine: AsyncEngine, seeded: Seeded
) -> None:
    op1 = await log_in(client, "op1")
    for action in ("resolve", "cancel"):
        refused = await act(client, op1, seeded.burglary, action, outcome="false")
        assert refused.status_code == 409, refused.text
        assert "call-keyholder" in refused.json()["detail"] and "check-camera" in refused.json()["detail"]
    assert (await mark(client, op1, seeded.burglary, "call-keyholder")).status_code == 200
    refused = await act(client, op1, seeded.burglary, "resolve", outcome="false")
    assert refused.status_code == 409
    assert "check-camera" in refused.json()["detail"] and "call-keyholder" not in refused.json()["detail"]

    assert_detail(await mark(client, op1, seeded.burglary, "check-camera", status="skipped"), 422)
    assert_detail(await mark(client, op1, seeded.burglary, "check-camera", status="skipped", note="   "), 422)
    skipped = await mark(client, op1, seeded.burglary, "check-camera", status="skipped", note="没有摄像头")
    assert skipped.status_code == 200, skipped.text
    assert skipped.json() == {"step": "check-camera", "status": "skipped", "note": "没有摄像头", "actor": OP1,
                              "at": skipped.json()["at"]}
    resolved = await act(client, op1, seeded.burglary, "resolve", outcome="false", incident_class="none")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"

    late = await mark(client, op1, seeded.burglary, "call-keyholder")
    assert_detail(late, 409)
    assert "resolved" in late.json()["detail"]
    steps = [row.detail for row in await audit_rows(engine, "dispatch.plan_step")]
    assert steps == [{"step": "call-keyholder", "status": "done"},
                     {"step": "check-camera", "status": "skipped", "note": "没有摄像头"}]


async def test_a_dispatch_without_a_plan_resolves_and_has_no_steps(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    op1 = await log_in(client, "op1")
    assert_detail(await mark(client, op1, seeded.panic, "call-keyholder"), 404)
    resolved = await act(client, op1, seeded.panic, "resolve", outcome="test", incident_class="none")
    assert resolved.status_code == 200, resolved.text


async def test_unknown_steps_and_dispatches_are_404(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    unknown_step = await mark(client, op1, seeded.burglary, "call-the-mayor")
    assert_detail(unknown_step, 404)
    assert "call-the-mayor" in unknown_step.json()["detail"]
    assert_detail(await mark(client, op1, 999_999, "call-keyholder"), 404)
    assert_detail(await act(client, op1, 999_999, "acknowledge"), 404)
    assert_detail(await client.get("/api/dispatches/999999/context", headers=op1), 404)


async def test_watch_list_hits_do_not_exist_for_staff(client: httpx.AsyncClient, seeded: Seeded) -> None:
    for login in ("op1", "sup1", "viewer"):
        staff = await log_in(client, login)
        context = await client.get(f"/api/dispatches/{seeded.watchlist}/context", headers=staff)
        assert_detail(context, 404)
        assert ID_NUMBER not in context.text
        queue = (await client.get("/api/dispatches", headers=staff)).json()
        assert seeded.watchlist not in {d["id"] for d in queue}
    sup = await log_in(client, "sup1")
    assert_detail(await mark(client, sup, seeded.watchlist, "call-keyholder"), 404)
    assert_detail(await act(client, sup, seeded.watchlist, "acknowledge"), 404)
    assert_detail(await client.get(f"/api/dispatches/{seeded.watchlist}", headers=sup), 404)


async def test_a_viewer_reads_but_does_not_act(client: httpx.AsyncClient, engine: AsyncEngine,
                                               seeded: Seeded) -> None:
    viewer = await log_in(client, "viewer")
    assert (await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=viewer)).status_code == 200
    assert_detail(await act(client, viewer, seeded.burglary, "acknowledge"), 403)
    assert_detail(await mark(client, viewer, seeded.burglary, "call-keyholder"), 403)
    assert await audit_rows(engine, "dispatch.acknowledge", "dispatch.plan_step") == []


@pytest.mark.parametrize("step", [
    "a/b", "..", ".", "%2e%2e", "%2Fetc%2Fpasswd", "步骤", "CALL-KEYHOLDER", "call keyholder", "-x", "x" * 1000,
    "x" * 65, "%00", "call-keyholder%00", "\u202ecall", "<script>",
])
async def test_hostile_step_names_are_4xx(client: httpx.AsyncClient, seeded: Seeded, step: str) -> None:
    op1 = await log_in(client, "op1")
    response = await client.post(f"/api/dispatches/{seeded.burglary}/plan/{step}", headers=op1,
                                 json={"status": "done"})
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("dispatch_id", ["0", "-1", "9223372036854775808", "1" * 40, "1.5", "abc", "1e3", "%20",
                                         "٣"])
async def test_hostile_dispatch_ids_are_4xx(client: httpx.AsyncClient, dispatch_id: str) -> None:
    op1 = await log_in(client, "op1")
    for response in (
        await client.post(f"/api/dispatches/{dispatch_id}/plan/call-keyholder", headers=op1, json={"status": "done"}),
        await client.post(f"/api/dispatches/{dispatch_id}/actions", headers=op1, json={"action": "acknowledge"}),
        await client.get(f"/api/dispatches/{dispatch_id}/context", headers=op1),
    ):
        assert 400 <= response.status_code < 500, response.text
        assert "detail" in response.json()


@pytest.mark.parametrize("body", [
    {}, {"status": "maybe"}, {"status": "DONE"}, {"status": "done", "extra": 1}, {"status": "done", "note": "n" * 1001},
    {"status": "done", "take_over": [1]}, {"status": None}, {"status": ["done"]}, [], "done", None,
    {"status": "done", "note": {"$gt": ""}}, {"status": "skipped", "note": "why\x00"},
])
async def test_hostile_mark_bodies_are_4xx(client: httpx.AsyncClient, seeded: Seeded, body: Any) -> None:
    op1 = await log_in(client, "op1")
    response = await client.post(f"/api/dispatches/{seeded.burglary}/plan/call-keyholder", headers=op1, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("body", [
    {"action": "acknowledge", "take_over": "sometimes"}, {"action": "acknowledge", "handler": "someone"},
    {"action": "assign_guard"}, {"action": "assign_guard", "guard": "g" * 129}, {"action": "resolve"},
    {"action": "explode"}, {"action": "acknowledge", "note": "\x00" * 2000},
    {"action": "acknowledge", "note": "a\x00b"}, {"action": "assign_guard", "guard": "g\x00"},
])
async def test_hostile_action_bodies_are_4xx(client: httpx.AsyncClient, seeded: Seeded, body: Any) -> None:
    op1 = await log_in(client, "op1")
    response = await client.post(f"/api/dispatches/{seeded.panic}/actions", headers=op1, json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


async def test_non_json_mark_bodies_are_4xx(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    for raw in (b"", b"status=done", b'{"status": "do', b"\x00\x01", b"{" * 10_000):
        response = await client.post(f"/api/dispatches/{seeded.burglary}/plan/call-keyholder", content=raw,
                                     headers={**op1, "Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, response.text
        assert "detail" in response.json()


# ---- an alarm's context -------------------------------------------------------------------------------------------


async def test_the_context_of_an_alarm(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    await mark(client, op1, seeded.burglary, "call-keyholder", note="店主说没人在店里")
    response = await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=op1)
    assert response.status_code == 200, response.text
    context = response.json()
    assert context["dispatch"]["id"] == seeded.burglary
    assert context["site"]["id"] == "shop-a" and context["site"]["address"] == "南京路 1 号"
    assert context["reading"]["kind"] == "alarm" and context["reading"]["data"]["zone"] == "3"
    kinds = [reading["kind"] for reading in context["around"]]
    assert {"alarm", "status", "id_read", "motion"} <= set(kinds)
    assert "position" not in kinds  # a site's positions are many and say nothing of the alarm
    history = [d["id"] for d in context["history"]]
    assert seeded.earlier in history and seeded.panic in history
    assert seeded.burglary not in history and seeded.watchlist not in history
    assert context["position"] == {"source": "site", "lat": 31.23, "lon": 121.47, "fix_time": None,
                                   "speed_kmh": None, "label": "A 店"}
    assert context["snapshot"]["image"] == PNG and context["snapshot"]["camera"] == "cam-1"
    steps = context["plan"]["steps"]
    assert [step["key"] for step in steps] == ["call-keyholder", "check-camera"]
    assert steps[0]["mark"]["actor"] == OP1 and steps[0]["mark"]["note"] == "店主说没人在店里"
    assert steps[1]["mark"] is None
    assert context["plan"]["calls"][0]["phone"] == "13800000001"
    assert context["ack_sla_s"] == ACK_SLA["2"]


async def test_a_tracker_alarm_shows_where_the_bike_is(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    context = (await client.get(f"/api/dispatches/{seeded.tracker_theft}/context", headers=op1)).json()
    position = context["position"]
    assert position["source"] == "tracker"
    assert (position["lat"], position["lon"], position["speed_kmh"]) == (31.1, 121.3, 18.0)
    assert position["label"] == "小蓝 沪A12345"
    assert context["plan"] is None
    assert context["ack_sla_s"] == ACK_SLA_DEFAULT  # priority 3 has no target of its own


async def test_a_site_without_a_position_has_none(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    context = (await client.get(f"/api/dispatches/{seeded.hostile_snapshots}/context", headers=op1)).json()
    assert context["position"] is None
    assert context["snapshot"] is None  # neither a URL nor HTML nor SVG is shown as a snapshot
    assert "evil.example" not in str(context["snapshot"])
    assert (await client.get(f"/api/dispatches/{seeded.panic}/context", headers=op1)).json()["ack_sla_s"] \
        == ACK_SLA["1"]


async def test_the_snapshot_is_never_a_script(client: httpx.AsyncClient, seeded: Seeded) -> None:
    op1 = await log_in(client, "op1")
    context = (await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=op1)).json()
    assert context["snapshot"]["image"].startswith("data:image/png;base64,")
    assert "javascript" not in str(context["snapshot"])


async def test_id_numbers_are_masked_for_operators_not_supervisors(client: httpx.AsyncClient,
                                                                    seeded: Seeded) -> None:
    def id_reads(context: dict[str, Any]) -> list[dict[str, Any]]:
        return [reading["data"] for reading in context["around"] if reading["kind"] == "id_read"]

    for login in ("op1", "viewer"):
        staff = await log_in(client, login)
        response = await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=staff)
        [read] = id_reads(response.json())
        assert read["id_number"] != ID_NUMBER and "*" in read["id_number"]
        assert read["id_number"].endswith(ID_NUMBER[-4:])
        assert ID_NUMBER not in response.text
    supervisor = await log_in(client, "sup1")
    [read] = id_reads((await client.get(f"/api/dispatches/{seeded.burglary}/context", headers=supervisor)).json())
    assert read["id_number"] == ID_NUMBER and read["name"] == "张三"
