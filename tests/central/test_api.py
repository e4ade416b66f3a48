"""The HTTP API against the app (ASGI transport), on both stores: good input, tokens, roles, and hostile input."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.rules import AlarmRules
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.readings import insert_readings
from central.store.schema import audit_log, seq_gaps, sites, tickets
from shaobing.envelope import Envelope, Kind

T0 = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)
SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
TOKENS = {
    "operator-token-alice-0001": ("alice", "operator"),
    "operator-token-bob-000002": ("bob", "operator"),
    "viewer-token-vic-00000003": ("vic", "viewer"),
    "admin-token-ann-000000004": ("ann", "admin"),
}
ALICE = {"Authorization": "Bearer operator-token-alice-0001"}
BOB = {"Authorization": "Bearer operator-token-bob-000002"}
VIEWER = {"Authorization": "Bearer viewer-token-vic-00000003"}
ADMIN = {"Authorization": "Bearer admin-token-ann-000000004"}
LOG = logging.getLogger("test.api")


class Clock:
    def __init__(self) -> None:
        self.moment = T0 + timedelta(minutes=1)

    def now(self) -> datetime:
        return self.moment

    def monotonic(self) -> float:
        return self.moment.timestamp()


class RecordingSender:
    """The command sender as the API sees it; the service's one publishes to MQTT."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def send(self, site: str, payload: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.sent.append((site, payload))


def envelope(seq: int, kind: Kind, data: dict[str, Any], site: str = "shop-1") -> Envelope:
    moment = T0 + timedelta(seconds=seq)
    return Envelope(site=site, seq=seq, device="panel", kind=kind, ts=moment, rx=moment, priority=1, data=data)


async def seed(engine: AsyncEngine) -> None:
    """Two sites, readings (alarms among them), a gap and a ticket; the alarms raise dispatches."""
    rules = AlarmRules(SETTINGS, logger=LOG)
    async with engine.begin() as connection:
        await connection.execute(
            insert(sites).values(id="shop-1", name="Shop One", armed=True, arming={"1": "armed"}, last_seq=30)
        )
        await connection.execute(insert(sites).values(id="shop-2", name="Shop Two", armed=False, online=True))
        await connection.execute(insert(seq_gaps).values(site="shop-1", first_seq=26, last_seq=27, detected_at=T0))
        await connection.execute(
            insert(tickets).values(site="shop-1", trouble_class="ac_loss", opened_at=T0, detail="mains lost")
        )
        envelopes = [envelope(seq, Kind.STATUS, {"voltage_level": seq}) for seq in range(1, 21)]
        envelopes.append(envelope(21, Kind.ID_READ, {"id_number": "11010519491231002X", "name": "张三"}))
        envelopes.append(envelope(22, Kind.ALARM, {"class": "burglary", "zone": 3}))
        envelopes.append(envelope(23, Kind.ALARM, {"class": "panic", "zone": 1}))
        envelopes.append(envelope(24, Kind.ALARM, {"class": "burglary", "zone": 4}))
        stored = await insert_readings(connection, envelopes, stored_at=T0)
        await rules.on_stored(connection, stored)


@pytest.fixture
async def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
async def app(engine: AsyncEngine, sender: RecordingSender) -> FastAPI:
    await seed(engine)
    return create_app(engine, settings=SETTINGS, tokens=TOKENS, command_sender=sender, clock=Clock(), logger=LOG)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


async def dispatch_ids(client: httpx.AsyncClient) -> dict[str, int]:
    response = await client.get("/api/dispatches", headers=VIEWER)
    return {f"{d['alarm_class']}:{d['zone']}": d["id"] for d in response.json()}


def assert_detail(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert "detail" in response.json()


# ---- open endpoints and tokens -------------------------------------------------------------------------------


async def test_health_and_openapi_need_no_token(client: httpx.AsyncClient) -> None:
    health = await client.get("/api/health")
    assert health.json() == {"status": "ok", "database": "ok"}
    document = (await client.get("/openapi.json")).json()
    assert {"/api/sites", "/api/dispatches/{dispatch_id}/actions", "/api/readings"} <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]


PROTECTED = [
    ("GET", "/api/sites"),
    ("GET", "/api/sites/shop-1"),
    ("GET", "/api/sites/shop-1/gaps"),
    ("GET", "/api/sites/shop-1/tickets"),
    ("GET", "/api/readings"),
    ("GET", "/api/dispatches"),
    ("GET", "/api/dispatches/1"),
    ("POST", "/api/dispatches/1/actions"),
    ("GET", "/api/reports/response-times"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/sites/shop-1/commands"),
    ("GET", "/api/commands/abc"),
]


async def test_every_endpoint_wants_a_valid_token(client: httpx.AsyncClient) -> None:
    for (method, path), headers in itertools.product(
        PROTECTED,
        (
            {},
            {"Authorization": "Bearer not-a-token-at-all-xx"},
            {"Authorization": "Basic b3BlcmF0b3I6eA=="},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer operator-token-alice-0001x"},
        ),
    ):
        response = await client.request(method, path, headers=headers, json={"action": "acknowledge"})
        assert_detail(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_viewer_reads_but_cannot_act(client: httpx.AsyncClient) -> None:
    ids = await dispatch_ids(client)
    assert (await client.get("/api/dispatches", headers=VIEWER)).status_code == 200
    response = await client.post(
        f"/api/dispatches/{ids['burglary:3']}/actions", headers=VIEWER, json={"action": "acknowledge"}
    )
    assert_detail(response, 403)
    assert "viewer" in response.json()["detail"]
    command = await client.post(
        "/api/sites/shop-1/commands", headers=VIEWER, json={"name": "arm", "args": {"partition": 1}}
    )
    assert_detail(command, 403)


# ---- sites -----------------------------------------------------------------------------------------------------


async def test_sites_show_state_gaps_and_tickets(client: httpx.AsyncClient) -> None:
    listing = (await client.get("/api/sites", headers=VIEWER)).json()
    assert [site["id"] for site in listing] == ["shop-1", "shop-2"]
    one = (await client.get("/api/sites/shop-1", headers=VIEWER)).json()
    assert (one["armed"], one["arming"], one["last_seq"], one["open_gaps"], one["missing_readings"]) == (
        True,
        {"1": "armed"},
        30,
        1,
        2,
    )
    assert one["open_tickets"] == 1 and one["name"] == "Shop One"
    gaps = (await client.get("/api/sites/shop-1/gaps", headers=VIEWER)).json()
    assert [(gap["first_seq"], gap["last_seq"], gap["size"]) for gap in gaps] == [(26, 27, 2)]
    found = (await client.get("/api/sites/shop-1/tickets", headers=VIEWER)).json()
    assert [(ticket["trouble_class"], ticket["detail"]) for ticket in found] == [("ac_loss", "mains lost")]
    assert (await client.get("/api/sites/shop-2/gaps", headers=VIEWER)).json() == []


HOSTILE_SITES = ["nowhere", "SHOP-1", "shop_1", "..%2F..%2Fetc%2Fpasswd", "x'%20OR%201=1--", "a" * 200, "%00"]


async def test_unknown_or_hostile_site_ids_are_4xx(client: httpx.AsyncClient) -> None:
    for site, suffix in itertools.product(HOSTILE_SITES, ("", "/gaps", "/tickets")):
        response = await client.get(f"/api/sites/{site}{suffix}", headers=VIEWER)
        assert 400 <= response.status_code < 500, response.text
        assert "detail" in response.json()


# ---- readings --------------------------------------------------------------------------------------------------


async def test_readings_page_through_with_a_cursor(client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"site": "shop-1", "limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/readings", headers=VIEWER, params=params)).json()
        seen += [item["seq"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(range(24, 0, -1))  # newest first, each once


async def test_readings_filter_by_kind_and_time(client: httpx.AsyncClient) -> None:
    alarms = (await client.get("/api/readings", headers=VIEWER, params={"kind": "alarm"})).json()["items"]
    assert [item["seq"] for item in alarms] == [24, 23, 22]
    window = {"since": "2026-11-24T04:00:05Z", "until": "2026-11-24T04:00:08Z"}
    timed = (await client.get("/api/readings", headers=VIEWER, params=window)).json()["items"]
    assert [item["seq"] for item in timed] == [7, 6, 5]
    naive = (await client.get("/api/readings", headers=VIEWER, params={"since": "2026-11-24T04:00:23"})).json()
    assert [item["seq"] for item in naive["items"]] == [24, 23]


async def test_personal_data_is_masked_below_supervisor(client: httpx.AsyncClient) -> None:
    params = {"kind": "id_read"}
    [masked] = (await client.get("/api/readings", headers=ALICE, params=params)).json()["items"]
    [plain] = (await client.get("/api/readings", headers=ADMIN, params=params)).json()["items"]
    assert masked["data"] == {"id_number": "110105********002X", "name": "张*"}
    assert plain["data"]["id_number"] == "11010519491231002X"


BAD_READING_QUERIES: list[dict[str, Any]] = [
    {"limit": 1001},
    {"limit": 0},
    {"limit": -5},
    {"limit": "many"},
    {"cursor": "abc"},
    {"cursor": "-1"},
    {"cursor": "9" * 40},
    {"kind": "nuclear"},
    {"since": "yesterday"},
    {"until": "2026-13-45T99:00:00Z"},
    {"site": "'; DROP TABLE readings; --"},
    {"site": "../../etc"},
]


async def test_bad_reading_queries_are_422(client: httpx.AsyncClient) -> None:
    for params in BAD_READING_QUERIES:
        assert_detail(await client.get("/api/readings", headers=VIEWER, params=params), 422)


# ---- dispatches and actions ------------------------------------------------------------------------------------


async def test_dispatch_queue_is_ordered_by_priority_then_age(client: httpx.AsyncClient) -> None:
    queue = (await client.get("/api/dispatches", headers=VIEWER, params={"open": "true"})).json()
    assert [(d["alarm_class"], d["zone"]) for d in queue] == [("panic", "1"), ("burglary", "3"), ("burglary", "4")]
    assert queue[0]["escalated"] is True and queue[0]["escalation_reason"] == "panic"
    raised = (await client.get("/api/dispatches", headers=VIEWER, params={"state": "raised", "site": "shop-1"})).json()
    assert len(raised) == 3
    assert (await client.get("/api/dispatches", headers=VIEWER, params={"site": "shop-2"})).json() == []
    assert_detail(await client.get("/api/dispatches", headers=VIEWER, params={"state": "lost"}), 422)


async def test_operators_take_a_dispatch_to_its_end(client: httpx.AsyncClient) -> None:
    dispatch_id = (await dispatch_ids(client))["burglary:3"]
    url = f"/api/dispatches/{dispatch_id}/actions"
    steps = [
        ({"action": "acknowledge", "note": "calling the owner"}, ALICE, "acknowledged"),
        ({"action": "assign_guard", "guard": "Wang Wei"}, ALICE, "guard_assigned"),
        # Alice handles it: Bob acts only by taking it over, and Alice then takes it back.
        ({"action": "on_scene", "take_over": True}, BOB, "on_scene"),
        ({"action": "confirm", "note": "window broken"}, BOB, "on_scene"),
        ({"action": "resolve", "outcome": "real", "incident_class": "criminal", "take_over": True}, ALICE, "resolved"),
    ]
    for seconds, (body, headers, state) in enumerate(steps, start=1):
        client_clock: Clock = client._transport.app.state.context.clock  # type: ignore[attr-defined]
        client_clock.moment = T0 + timedelta(seconds=60 * seconds)
        response = await client.post(url, headers=headers, json=body)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
    detail = (await client.get(f"/api/dispatches/{dispatch_id}", headers=VIEWER)).json()
    assert [(t["action"], t["actor"]) for t in detail["transitions"]] == [
        ("raise", "rule"),
        ("acknowledge", "alice"),
        ("assign_guard", "alice"),
        ("on_scene", "bob"),
        ("confirm", "bob"),
        ("escalate", "bob"),
        ("resolve", "alice"),
    ]
    assert detail["timings"] == {
        "acknowledged": 60.0,
        "guard_assigned": 120.0,
        "on_scene": 180.0,
        "resolved": 300.0,
        "escalated": 240.0,
    }
    assert detail["recipients"] == ["guards", "police-110"]
    again = await client.post(url, headers=ALICE, json={"action": "acknowledge"})
    assert_detail(again, 409)
    assert "already resolved" in again.json()["detail"]

    report = (
        await client.get(
            "/api/reports/response-times",
            headers=VIEWER,
            params={"since": "2026-11-24T03:00:00Z", "until": "2026-11-24T05:00:00Z"},
        )
    ).json()
    assert report["dispatches"] == 3
    assert report["steps"]["resolved"] == {"count": 1, "mean_s": 300.0, "p90_s": 300.0}
    assert report["steps"]["escalated"]["count"] == 2  # the panic went at once
    assert_detail(
        await client.get(
            "/api/reports/response-times",
            headers=VIEWER,
            params={"since": "2026-11-24T05:00:00Z", "until": "2026-11-24T03:00:00Z"},
        ),
        422,
    )


async def test_two_operators_acknowledging_at_once_one_gets_409(client: httpx.AsyncClient) -> None:
    dispatch_id = (await dispatch_ids(client))["burglary:4"]
    url = f"/api/dispatches/{dispatch_id}/actions"
    responses = await asyncio.gather(
        client.post(url, headers=ALICE, json={"action": "acknowledge"}),
        client.post(url, headers=BOB, json={"action": "acknowledge"}),
    )
    assert sorted(response.status_code for response in responses) == [200, 409]
    detail = (await client.get(f"/api/dispatches/{dispatch_id}", headers=VIEWER)).json()
    assert [t["action"] for t in detail["transitions"]] == ["raise", "acknowledge"]


async def test_actions_that_do_not_fit_the_state_are_409_and_missing_details_422(client: httpx.AsyncClient) -> None:
    ids = await dispatch_ids(client)
    url = f"/api/dispatches/{ids['burglary:3']}/actions"
    assert_detail(await client.post(url, headers=ALICE, json={"action": "on_scene"}), 409)
    escalated = await client.post(
        f"/api/dispatches/{ids['panic:1']}/actions", headers=ALICE, json={"action": "escalate"}
    )
    assert_detail(escalated, 409)
    assert_detail(await client.post(url, headers=ALICE, json={"action": "assign_guard"}), 422)
    assert_detail(await client.post(url, headers=ALICE, json={"action": "resolve", "outcome": "false"}), 422)
    cancelled = await client.post(url, headers=ALICE, json={"action": "cancel", "note": "owner forgot to disarm"})
    assert cancelled.status_code == 200
    assert (cancelled.json()["outcome"], cancelled.json()["incident_class"]) == ("cancelled_by_user", "none")


BAD_DISPATCH_PATHS = [
    ("/api/dispatches/999999", 404),
    ("/api/dispatches/0", 422),
    ("/api/dispatches/-1", 422),
    ("/api/dispatches/99999999999999999999999", 422),
    ("/api/dispatches/1.5", 422),
    ("/api/dispatches/one", 422),
    ("/api/dispatches/1%20OR%201=1", 422),
]


async def test_bad_dispatch_ids(client: httpx.AsyncClient) -> None:
    for path, status in BAD_DISPATCH_PATHS:
        assert_detail(await client.get(path, headers=VIEWER), status)
        assert_detail(await client.post(f"{path}/actions", headers=ALICE, json={"action": "acknowledge"}), status)


HOSTILE_BODIES: list[tuple[dict[str, str], bytes, int]] = [
    ({"Content-Type": "application/json"}, b"not json", 422),
    ({"Content-Type": "application/json"}, b'{"action": "acknowledge"', 422),  # truncated
    ({"Content-Type": "application/json"}, b"", 422),
    ({"Content-Type": "application/json"}, b"[]", 422),
    ({"Content-Type": "application/json"}, b'"acknowledge"', 422),
    ({"Content-Type": "application/json"}, b"null", 422),
    ({"Content-Type": "application/json"}, b'{"action": 1}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "explode"}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "acknowledge", "actor": "mallory"}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "assign_guard", "guard": ["a"]}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "assign_guard", "guard": ""}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "acknowledge", "note": "' + b"x" * 5000 + b'"}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "assign_guard", "guard": "' + b"g" * 60_000 + b'"}', 422),
    ({"Content-Type": "application/json"}, b'{"action": "acknowledge", "note": "' + b"x" * 70_000 + b'"}', 413),
    ({"Content-Type": "application/json"}, b'{"action": "acknowledge", "note": "\xff\xfe"}', 400),
    ({"Content-Type": "application/json"}, b'{"action": "resolve", "outcome": "real\'; DROP TABLE x;--"}', 422),
    (
        {"Content-Type": "application/json"},
        b'{"action": "acknowledge", "note": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        400,
    ),
    ({"Content-Type": "application/json", "Content-Length": "99999999"}, b"{}", 413),
    ({"Content-Type": "text/plain"}, b"action=acknowledge", 422),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"action=acknowledge", 422),
]


async def test_hostile_action_bodies_are_4xx_with_a_detail(client: httpx.AsyncClient) -> None:
    dispatch_id = (await dispatch_ids(client))["burglary:3"]
    for headers, body, status in HOSTILE_BODIES:
        response = await client.post(
            f"/api/dispatches/{dispatch_id}/actions", headers={**ALICE, **headers}, content=body
        )
        assert_detail(response, status)
    after = (await client.get(f"/api/dispatches/{dispatch_id}", headers=VIEWER)).json()
    assert after["state"] == "raised"


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await client.post(
        "/api/dispatches/1/actions", headers={**ALICE, "Content-Type": "application/json"}, content=chunks()
    )
    assert_detail(response, 413)


# ---- webhooks --------------------------------------------------------------------------------------------------


async def test_undelivered_webhooks_are_listed(client: httpx.AsyncClient) -> None:
    pending = (await client.get("/api/webhooks", headers=VIEWER)).json()
    assert {(d["recipient"], d["event"], d["status"]) for d in pending} == {
        ("guards", "dispatch.raised", "pending"),
        ("police-110", "dispatch.raised", "pending"),
    }
    assert len(pending) == 4  # three dispatches to the guards, the panic to 110 as well
    assert (await client.get("/api/webhooks", headers=VIEWER, params={"status": "delivered"})).json() == []
    only = (await client.get("/api/webhooks", headers=VIEWER, params={"recipient": "police-110"})).json()
    assert [d["recipient"] for d in only] == ["police-110"]
    assert_detail(await client.get("/api/webhooks", headers=VIEWER, params={"status": "lost"}), 422)


# ---- commands --------------------------------------------------------------------------------------------------


async def test_a_command_is_recorded_and_handed_to_the_sender(
    client: httpx.AsyncClient, sender: RecordingSender
) -> None:
    response = await client.post(
        "/api/sites/shop-1/commands", headers=ALICE, json={"name": "disarm", "args": {"partition": 2}}
    )
    assert response.status_code == 202, response.text
    command = response.json()
    assert (command["site"], command["name"], command["args"], command["issued_by"], command["ok"]) == (
        "shop-1",
        "disarm",
        {"partition": 2},
        "alice",
        None,
    )
    [(site, payload)] = sender.sent
    assert site == "shop-1"
    assert payload == {
        "cmd_id": command["cmd_id"],
        "name": "disarm",
        "args": {"partition": 2},
        "issued_at": "2026-11-24T04:01:00.000Z",
        "issued_by": "alice",
    }
    fetched = (await client.get(f"/api/commands/{command['cmd_id']}", headers=VIEWER)).json()
    assert fetched == command


BAD_COMMANDS: list[Any] = [
    {"name": "reboot", "args": {"partition": 1}},
    {"name": "arm"},
    {"name": "arm", "args": {}},
    {"name": "arm", "args": {"partition": "1"}},
    {"name": "arm", "args": {"partition": -1}},
    {"name": "arm", "args": {"partition": 10**30}},
    {"name": "arm", "args": {"partition": 1, "code": "1234"}},
    {"name": "arm", "args": {"partition": 1}, "force": True},
    {"name": "arm", "args": {"partition": True}},
    ["arm"],
]


async def test_bad_commands_are_422(client: httpx.AsyncClient, sender: RecordingSender) -> None:
    for body in BAD_COMMANDS:
        assert_detail(await client.post("/api/sites/shop-1/commands", headers=ALICE, json=body), 422)
    assert sender.sent == []


async def test_commands_to_unknown_sites_and_unknown_commands_are_404(client: httpx.AsyncClient) -> None:
    body = {"name": "arm", "args": {"partition": 1}}
    assert_detail(await client.post("/api/sites/nowhere/commands", headers=ALICE, json=body), 404)
    assert_detail(await client.get("/api/commands/0123456789abcdef", headers=VIEWER), 404)
    for hostile in ("..%2F..%2Fetc", "x'%20OR%201=1", "a" * 100):
        response = await client.get(f"/api/commands/{hostile}", headers=VIEWER)
        assert 400 <= response.status_code < 500
        assert "detail" in response.json()


async def test_a_command_the_broker_cannot_take_is_recorded_as_failed(engine: AsyncEngine) -> None:
    await seed(engine)
    app = create_app(
        engine, settings=SETTINGS, tokens=TOKENS, command_sender=RecordingSender(fail=True), clock=Clock(), logger=LOG
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        response = await client.post(
            "/api/sites/shop-1/commands", headers=ALICE, json={"name": "arm", "args": {"partition": 1}}
        )
        assert_detail(response, 502)
        cmd_id = response.json()["detail"].split()[1]
        stored = (await client.get(f"/api/commands/{cmd_id}", headers=VIEWER)).json()
    assert stored["ok"] is False
    assert "broker unreachable" in stored["detail"]


def test_short_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        create_app(
            None,  # type: ignore[arg-type]
            settings=SETTINGS,
            tokens={"abc": ("x", "admin")},
            command_sender=RecordingSender(),
            clock=Clock(),
        )


async def test_an_operator_closes_a_ticket_the_ingest_opened_and_only_that_kind(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(tickets).values(
                site="shop-1", trouble_class="seq_reused", opened_at=T0, detail="seq 1 came again", source="ingest"
            )
        )
    listed = (await client.get("/api/sites/shop-1/tickets", headers=VIEWER)).json()
    by_class = {ticket["trouble_class"]: ticket for ticket in listed}
    reused, ac_loss = by_class["seq_reused"], by_class["ac_loss"]
    assert (reused["source"], ac_loss["source"]) == ("ingest", "reading")

    assert_detail(await client.post(f"/api/sites/shop-1/tickets/{reused['id']}/close", headers=VIEWER), 403)
    assert_detail(await client.post(f"/api/sites/shop-1/tickets/{ac_loss['id']}/close", headers=ALICE), 409)
    assert_detail(await client.post(f"/api/sites/shop-2/tickets/{reused['id']}/close", headers=ALICE), 404)
    response = await client.post(f"/api/sites/shop-1/tickets/{reused['id']}/close", headers=ALICE)
    assert response.status_code == 200, response.text
    assert [ticket["trouble_class"] for ticket in response.json()] == ["ac_loss"]
    assert_detail(await client.post(f"/api/sites/shop-1/tickets/{reused['id']}/close", headers=ALICE), 404)


# ---- the audit of every change ---------------------------------------------------------------------------------


async def test_every_change_by_a_person_is_in_the_audit_log_and_refusals_are_not(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    sent = await client.post("/api/sites/shop-1/commands", headers=ALICE,
                             json={"name": "arm", "args": {"partition": 1}})
    assert sent.status_code == 202, sent.text
    refused = await client.post("/api/sites/shop-1/commands", headers=VIEWER,
                                json={"name": "arm", "args": {"partition": 1}})
    assert refused.status_code == 403
    invalid = await client.post("/api/sites/shop-1/commands", headers=ALICE, json={"name": "explode"})
    assert invalid.status_code == 422
    async with engine.connect() as connection:
        rows = (await connection.execute(select(audit_log).order_by(audit_log.c.id))).all()
    assert [(row.actor, row.role, row.action, row.target) for row in rows] == [
        ("alice", "operator", "POST /api/sites/{site}/commands", "site:shop-1")]
    assert rows[0].detail == {"status": 202, "site": "shop-1"}
    assert rows[0].at == datetime(2026, 11, 24, 4, 1, tzinfo=UTC)
