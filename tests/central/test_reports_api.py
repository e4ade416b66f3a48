"""The monitoring centre's reports through the HTTP API, on both stores: numbers checked against dispatches raised and
handled through the dispatch repository at known times, the CSV downloads, who may read them, and hostile input."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.dispatch.repository import NewDispatch, apply_action, raise_dispatch
from central.dispatch.states import Action, ActionRequest, IncidentClass, Outcome
from central.people.hits import ALARM_CLASS as WATCHLIST_CLASS
from central.rules_settings import RoleRecipients, RulesSettings
from central.store.readings import insert_readings
from central.store.schema import dispatches, sites
from shaobing.envelope import Envelope, Kind

SETTINGS = RulesSettings(recipients=RoleRecipients(security=["guards"], police=["police-110"]))
TOKENS = {
    "supervisor-token-sue-00001": ("sue", "supervisor"),
    "admin-token-ann-000000004": ("ann", "admin"),
    "operator-token-alice-0001": ("alice", "operator"),
    "viewer-token-vic-00000003": ("vic", "viewer"),
}
SUPERVISOR = {"Authorization": "Bearer supervisor-token-sue-00001"}
ADMIN = {"Authorization": "Bearer admin-token-ann-000000004"}
OPERATOR = {"Authorization": "Bearer operator-token-alice-0001"}
VIEWER = {"Authorization": "Bearer viewer-token-vic-00000003"}
LOG = logging.getLogger("test.reports")
NOW = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
# Two local days in Shanghai (UTC+8): 2026-11-23 00:00 to 2026-11-25 00:00 local time.
TWO_DAYS = {"since": "2026-11-23", "until": "2026-11-25"}
REPORTS = ("daily-response-times", "false-alarms", "area-hours")


class Clock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return NOW.timestamp()


@dataclass(frozen=True)
class Handling:
    """One dispatch: where, when raised (UTC), and the actions taken, each seconds after the raise."""

    site: str
    raised: datetime
    actions: tuple[tuple[float, ActionRequest], ...] = ()
    alarm_class: str = "burglary"


ACK = ActionRequest(Action.ACKNOWLEDGE)
GUARD = ActionRequest(Action.ASSIGN_GUARD, guard="老李")
ON_SCENE = ActionRequest(Action.ON_SCENE)
ESCALATE = ActionRequest(Action.ESCALATE)
CANCEL = ActionRequest(Action.CANCEL)


def resolve(outcome: Outcome) -> ActionRequest:
    return ActionRequest(Action.RESOLVE, outcome=outcome, incident_class=IncidentClass.NONE)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Local (Shanghai) times in the comments.
HANDLINGS = [
    # 11-23 23:30, 东区: acknowledged after 60 s, a false alarm after 300 s.
    Handling("shop-1", utc("2026-11-23T15:30:00"), ((60, ACK), (300, resolve(Outcome.FALSE)))),
    # 11-24 00:30, 东区: every step, real.
    Handling("shop-1", utc("2026-11-23T16:30:00"),
             ((30, ACK), (90, GUARD), (400, ON_SCENE), (900, resolve(Outcome.REAL)))),
    # 11-24 10:00, 东区: false.
    Handling("shop-1", utc("2026-11-24T02:00:00"), ((120, ACK), (600, resolve(Outcome.FALSE)))),
    # 11-24 10:05, 东区: a watch-list hit, never counted in a staff report.
    Handling("shop-1", utc("2026-11-24T02:05:00"), ((5, ACK), (50, resolve(Outcome.REAL))), WATCHLIST_CLASS),
    # 11-24 10:10, 西区: acknowledged, escalated, still open.
    Handling("shop-2", utc("2026-11-24T02:10:00"), ((10, ACK), (20, ESCALATE))),
    # 11-24 21:00, a site whose area is blank: cancelled by the user.
    Handling("shop-3", utc("2026-11-24T13:00:00"), ((45, CANCEL),)),
    # 11-24 21:05, a site central has no profile of: left raised.
    Handling("shop-x", utc("2026-11-24T13:05:00")),
    # Outside the two days: 11-25 08:00 local.
    Handling("shop-2", utc("2026-11-25T00:00:00"), ((1, ACK),)),
    # New York, across the end of summer time on 2026-11-01 (06:00Z): 23:30 EDT on 10-31, then 01:30 EDT and
    # 01:30 EST on 11-01 (the same local hour twice).
    Handling("shop-2", utc("2026-11-01T03:30:00")),
    Handling("shop-2", utc("2026-11-01T05:30:00")),
    Handling("shop-2", utc("2026-11-01T06:30:00")),
]


async def seed(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(sites), [
            {"id": "shop-1", "name": "=HYPERLINK(\"http://evil\")", "area": "东区"},
            {"id": "shop-2", "name": "西街便利店", "area": "西区"},
            {"id": "shop-3", "name": "Shop Three", "area": "   "},
        ])
        for seq, handling in enumerate(HANDLINGS, start=1):
            envelope = Envelope(site=handling.site, seq=seq, device="panel", kind=Kind.ALARM, ts=handling.raised,
                                rx=handling.raised, priority=1, data={"class": handling.alarm_class, "zone": seq})
            (stored,) = await insert_readings(connection, [envelope], stored_at=handling.raised)
            new = NewDispatch(site=handling.site, reading_id=stored.id, alarm_class=handling.alarm_class,
                              zone=str(seq), partition=None, priority=1, recipients=["guards"], escalate_at=None,
                              escalation_reason=None)
            dispatch, created = await raise_dispatch(connection, new, at=handling.raised)
            assert created
            for after_s, request in handling.actions:
                await apply_action(connection, dispatch.id, request, actor="alice",
                                   at=handling.raised + timedelta(seconds=after_s), police=["police-110"])


@pytest.fixture
async def app(engine: AsyncEngine) -> FastAPI:
    await seed(engine)

    class Sender:
        async def send(self, site: str, payload: dict[str, Any]) -> None:
            raise AssertionError("reports send no commands")

    return create_app(engine, settings=SETTINGS, tokens=TOKENS, command_sender=Sender(), clock=Clock(), logger=LOG)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://central") as client:
        yield client


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, headers=SUPERVISOR, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def stats(count: int, mean: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "mean_s": mean, "p90_s": p90}


NONE = stats(0, None, None)


# ---- response times by day -------------------------------------------------------------------------------------


async def test_response_times_are_counted_per_local_day(client: httpx.AsyncClient) -> None:
    report = await get_json(client, "/api/reports/daily-response-times", **TWO_DAYS)
    assert report["tz"] == "Asia/Shanghai"
    assert (report["since"], report["until"]) == ("2026-11-22T16:00:00Z", "2026-11-24T16:00:00Z")  # local midnights
    assert [day["day"] for day in report["days"]] == ["2026-11-23", "2026-11-24"]
    first, second = report["days"]
    assert first["dispatches"] == 1
    assert first["steps"] == {"acknowledged": stats(1, 60.0, 60.0), "guard_assigned": NONE, "on_scene": NONE,
                              "resolved": stats(1, 300.0, 300.0), "escalated": NONE}
    assert second["dispatches"] == 5  # the watch-list hit is not one of them
    assert second["steps"] == {
        # 30, 120, 10 and 45 (a cancel acknowledges too): p90 is the 4th of 4.
        "acknowledged": stats(4, 51.25, 120.0),
        "guard_assigned": stats(1, 90.0, 90.0),
        "on_scene": stats(1, 400.0, 400.0),
        "resolved": stats(3, 515.0, 900.0),
        "escalated": stats(1, 20.0, 20.0),
    }


async def test_the_day_follows_the_time_zone_asked_for(client: httpx.AsyncClient) -> None:
    report = await get_json(client, "/api/reports/daily-response-times", since="2026-11-23T00:00:00Z",
                            until="2026-11-25T00:00:00Z", tz="UTC")
    assert [(day["day"], day["dispatches"]) for day in report["days"]] == [("2026-11-23", 2), ("2026-11-24", 4)]
    assert report["days"][0]["steps"]["acknowledged"] == stats(2, 45.0, 60.0)


async def test_a_day_without_dispatches_is_listed_empty(client: httpx.AsyncClient) -> None:
    report = await get_json(client, "/api/reports/daily-response-times", since="2026-11-10", until="2026-11-12")
    assert [day["day"] for day in report["days"]] == ["2026-11-10", "2026-11-11"]
    assert all(day["dispatches"] == 0 and day["steps"]["resolved"] == NONE for day in report["days"])


async def test_the_default_period_is_the_last_seven_days(client: httpx.AsyncClient) -> None:
    report = await get_json(client, "/api/reports/daily-response-times")
    assert datetime.fromisoformat(report["until"]) == NOW
    assert datetime.fromisoformat(report["since"]) == NOW - timedelta(days=7)
    assert sum(day["dispatches"] for day in report["days"]) == 6


# ---- false alarms ----------------------------------------------------------------------------------------------


async def test_false_alarm_rate_by_site(client: httpx.AsyncClient) -> None:
    report = await get_json(client, "/api/reports/false-alarms", **TWO_DAYS)
    by_site = {entry["site"]: entry for entry in report["sites"]}
    assert [entry["site"] for entry in report["sites"]] == ["shop-1", "shop-2", "shop-3", "shop-x"]
    assert by_site["shop-1"] == {
        "site": "shop-1", "name": "=HYPERLINK(\"http://evil\")", "area": "东区", "raised": 3, "resolved": 3,
        "false": 2, "real": 1, "cancelled_by_user": 0, "test": 0, "unknown": 0, "false_rate": 0.6667,
    }
    assert (by_site["shop-2"]["raised"], by_site["shop-2"]["resolved"], by_site["shop-2"]["false_rate"]) == (1, 0, None)
    assert (by_site["shop-3"]["cancelled_by_user"], by_site["shop-3"]["false_rate"]) == (1, 0.0)
    assert by_site["shop-3"]["area"] is None  # blank is no area
    assert (by_site["shop-x"]["name"], by_site["shop-x"]["raised"]) == (None, 1)


# ---- alarms by area and hour -----------------------------------------------------------------------------------


def cells(row: dict[str, Any]) -> dict[int, tuple[int, str]]:
    """The non-empty cells of a row: {hour: (count, level)}."""
    return {cell["hour"]: (cell["count"], cell["level"]) for cell in row["cells"] if cell["count"]}


async def test_area_hour_grid_with_relative_levels(client: httpx.AsyncClient) -> None:
    grid = await get_json(client, "/api/reports/area-hours", **TWO_DAYS)
    assert grid["hours"] == list(range(24))
    assert [(row["area"], row["total"]) for row in grid["rows"]] == [("东区", 3), ("西区", 1), (None, 2)]
    assert (grid["busiest"], grid["total"]) == (2, 6)
    # Busiest cell 2: red from 2 (75 %), orange from 1 (50 %), yellow from 1 (25 %).
    assert grid["levels"] == {"mode": "relative", "red": 2, "orange": 1, "yellow": 1}
    east, west, unassigned = grid["rows"]
    assert cells(east) == {23: (1, "orange"), 0: (1, "orange"), 10: (1, "orange")}  # not 2 at 10: the hit is hidden
    assert cells(west) == {10: (1, "orange")}
    assert cells(unassigned) == {21: (2, "red")}
    assert all(len(row["cells"]) == 24 for row in grid["rows"])
    assert {cell["level"] for cell in east["cells"] if cell["count"] == 0} == {"blue"}


async def test_area_hour_grid_with_absolute_levels(client: httpx.AsyncClient) -> None:
    grid = await get_json(client, "/api/reports/area-hours", red=3, orange=2, yellow=1, **TWO_DAYS)
    assert grid["levels"] == {"mode": "absolute", "red": 3, "orange": 2, "yellow": 1}
    assert cells(grid["rows"][0]) == {23: (1, "yellow"), 0: (1, "yellow"), 10: (1, "yellow")}
    assert cells(grid["rows"][2]) == {21: (2, "orange")}


async def test_area_hour_grid_across_a_change_of_clocks(client: httpx.AsyncClient) -> None:
    grid = await get_json(client, "/api/reports/area-hours", since="2026-10-31", until="2026-11-02",
                          tz="America/New_York")
    assert (grid["since"], grid["until"]) == ("2026-10-31T04:00:00Z", "2026-11-02T05:00:00Z")  # midnight EDT, EST
    (west,) = grid["rows"]
    assert cells(west) == {23: (1, "orange"), 1: (2, "red")}


async def test_an_empty_period_gives_an_empty_grid(client: httpx.AsyncClient) -> None:
    grid = await get_json(client, "/api/reports/area-hours", since="2026-01-01", until="2026-01-02")
    assert (grid["rows"], grid["busiest"], grid["total"]) == ([], 0, 0)


# ---- CSV -------------------------------------------------------------------------------------------------------


def read_csv(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Chinese right
    assert b"\r\n" in response.content
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_false_alarms_csv(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/reports/false-alarms.csv", headers=SUPERVISOR, params=TWO_DAYS)
    rows = read_csv(response)
    assert response.headers["content-disposition"] == (
        'attachment; filename="false-alarms-20261122T1600Z-20261124T1600Z.csv"'
    )
    assert rows[0] == ["site", "name", "area", "raised", "resolved", "false", "real", "cancelled_by_user", "test",
                       "unknown", "false_rate"]
    # A name that would be a spreadsheet formula is written as text.
    assert rows[1] == ["shop-1", "'=HYPERLINK(\"http://evil\")", "东区", "3", "3", "2", "1", "0", "0", "0", "0.6667"]
    assert rows[2] == ["shop-2", "西街便利店", "西区", "1", "0", "0", "0", "0", "0", "0", ""]
    assert len(rows) == 5


async def test_area_hours_csv(client: httpx.AsyncClient) -> None:
    rows = read_csv(await client.get("/api/reports/area-hours.csv", headers=ADMIN, params=TWO_DAYS))
    assert rows[0][:4] == ["area", "total", "h00", "h00_level"] and rows[0][-1] == "h23_level" and len(rows[0]) == 50
    by_area = {row[0]: row for row in rows[1:]}
    assert set(by_area) == {"东区", "西区", "unassigned"}
    assert by_area["unassigned"][1] == "2"
    assert by_area["unassigned"][2 + 2 * 21: 4 + 2 * 21] == ["2", "red"]
    assert by_area["东区"][2:4] == ["1", "orange"]
    assert by_area["西区"][2:4] == ["0", "blue"]


async def test_daily_response_times_csv(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/reports/daily-response-times.csv", headers=SUPERVISOR, params=TWO_DAYS)
    rows = read_csv(response)
    assert 'filename="response-times-' in response.headers["content-disposition"]
    assert rows[0][:5] == ["day", "dispatches", "acknowledged_count", "acknowledged_mean_s", "acknowledged_p90_s"]
    assert len(rows[0]) == 2 + 3 * 5
    assert rows[1][:5] == ["2026-11-23", "1", "1", "60.0", "60.0"]
    assert rows[1][5:8] == ["0", "", ""]  # no guard assigned that day
    assert rows[2][:5] == ["2026-11-24", "5", "4", "51.25", "120.0"]


# ---- who may read them -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".csv"])
async def test_operators_and_viewers_may_not_read_the_reports(client: httpx.AsyncClient, suffix: str) -> None:
    for report in REPORTS:
        path = f"/api/reports/{report}{suffix}"
        for headers in (OPERATOR, VIEWER):
            response = await client.get(path, headers=headers, params=TWO_DAYS)
            assert response.status_code == 403, (path, response.text)
            assert "may not" in response.json()["detail"]
        anonymous = await client.get(path, params=TWO_DAYS)
        assert anonymous.status_code == 401
        assert (await client.get(path, headers=ADMIN, params=TWO_DAYS)).status_code == 200


async def test_the_period_response_times_stay_open_to_every_staff_role(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/reports/response-times", headers=VIEWER,
                                params={"since": "2026-11-22T16:00:00Z", "until": "2026-11-24T16:00:00Z"})
    assert response.status_code == 200
    assert response.json()["dispatches"] == 6
    assert response.json()["steps"]["resolved"]["count"] == 4


# ---- hostile input ---------------------------------------------------------------------------------------------


HOSTILE_PERIODS: list[tuple[dict[str, str], str]] = [
    ({"since": "2026-11-25", "until": "2026-11-23"}, "since must be before until"),
    ({"since": "2026-11-23", "until": "2026-11-23"}, "since must be before until"),
    ({"since": "2026-01-01", "until": "2026-11-23"}, "longer than 93 days"),
    ({"tz": "Mars/Olympus_Mons"}, "IANA time zone"),
    ({"tz": "../../../../etc/passwd"}, "IANA time zone"),
    ({"tz": "Asia/Shanghai\u0000"}, "IANA time zone"),
    ({"tz": "Asia"}, "IANA time zone"),
    ({"tz": ""}, "IANA time zone"),
    ({"tz": "<script>alert(1)</script>"}, "IANA time zone"),
    ({"tz": "Asia/Shanghai' OR '1'='1"}, "IANA time zone"),
    ({"since": "0001-01-01T00:00:00", "until": "0001-01-02T00:00:00"}, "between the years 2000 and 2100"),
    ({"since": "9999-12-30T00:00:00", "until": "9999-12-31T23:59:59"}, "between the years 2000 and 2100"),
]


@pytest.mark.parametrize(("params", "detail"), HOSTILE_PERIODS)
async def test_a_bad_period_or_zone_is_refused_with_a_reason(
    client: httpx.AsyncClient, params: dict[str, str], detail: str
) -> None:
    for report in REPORTS:
        for suffix in ("", ".csv"):
            response = await client.get(f"/api/reports/{report}{suffix}", headers=SUPERVISOR, params=params)
            assert response.status_code == 422, (report, params, response.text)
            assert detail in response.json()["detail"]


MALFORMED = [
    {"since": "yesterday"},
    {"since": "2026-11-23'; DROP TABLE dispatches;--"},
    {"until": "2026-13-45"},
    {"until": "2026-11-2"},  # truncated
    {"since": "\u202e2026-11-23"},
    {"since": "2026-11-23T25:00:00Z"},
    {"tz": "A" * 65},
    {"since": "9" * 500},
]


@pytest.mark.parametrize("params", MALFORMED)
async def test_malformed_and_truncated_parameters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    for report in REPORTS:
        response = await client.get(f"/api/reports/{report}", headers=SUPERVISOR, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["detail"]


BAD_LEVELS: list[tuple[dict[str, str], str]] = [
    ({"red": "3"}, "give all three"),
    ({"red": "3", "orange": "2"}, "give all three"),
    ({"red": "1", "orange": "2", "yellow": "1"}, "red >= orange >= yellow"),
    ({"red": "3", "orange": "2", "yellow": "3"}, "red >= orange >= yellow"),
]


@pytest.mark.parametrize(("params", "detail"), BAD_LEVELS)
async def test_absolute_levels_must_be_complete_and_ordered(
    client: httpx.AsyncClient, params: dict[str, str], detail: str
) -> None:
    for suffix in ("", ".csv"):
        response = await client.get(f"/api/reports/area-hours{suffix}", headers=SUPERVISOR, params=params)
        assert response.status_code == 422, response.text
        assert detail in response.json()["detail"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e3", "1000001", "99999999999999999999999"])
async def test_a_level_count_out_of_range_is_422(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get("/api/reports/area-hours", headers=SUPERVISOR,
                                params={"red": value, "orange": "1", "yellow": "1"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_hostile_input_left_the_store_as_it_was(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    for params in MALFORMED:
        await client.get("/api/reports/false-alarms", headers=SUPERVISOR, params=params)
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count()).select_from(dispatches))).scalar_one()
    assert count == len(HANDLINGS)
