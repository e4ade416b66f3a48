"""The watch-list through the API and the ingest, on both stores: import, roles, hits, the silent 110 dispatch."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.api.app import create_app
from central.dispatch.repository import list_dispatches
from central.people.settings import PeopleSettings
from central.store.schema import watchlist
from central.webhooks.outbox import list_deliveries
from tests.central.people.conftest import (
    EVERY_ROLE,
    LOG,
    OPERATOR,
    POLICE,
    RULES,
    TOKENS,
    Clock,
    RecordingSender,
    Site,
    assert_detail,
    csv_of,
    id_number,
    import_csv,
)

WANTED = id_number(7)


async def test_import_then_count(client: httpx.AsyncClient) -> None:
    response = await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9"), (id_number(8), "李四", "", "")]))
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2, "rows": 2, "duplicates": 0, "replaced": False, "entries": 2}
    again = await import_csv(client, csv_of([(WANTED, "张三", "fraud (updated)", "case-9")]))
    assert again.json()["entries"] == 2  # updated, not added
    replaced = await import_csv(client, csv_of([(id_number(9), "王五", "", "")]), replace="true")
    assert replaced.json()["entries"] == 1
    assert (await client.get("/api/watchlist", headers=POLICE)).json() == {"entries": 1}


async def test_only_hashes_are_stored(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    async with engine.connect() as connection:
        rows = (await connection.execute(select(watchlist))).all()
    assert len(rows) == 1
    assert len(bytes(rows[0].id_hash)) == 32
    assert WANTED.encode() not in bytes(rows[0].id_hash)


async def test_a_bad_row_imports_nothing(client: httpx.AsyncClient) -> None:
    body = csv_of([(WANTED, "张三", "", ""), ("not-a-number", "x", "", "")])
    response = await import_csv(client, body)
    assert_detail(response, 422)
    assert response.json()["errors"] == [{"line": 3, "error": response.json()["errors"][0]["error"]}]
    assert (await client.get("/api/watchlist", headers=POLICE)).json() == {"entries": 0}


async def test_a_file_with_no_rows_never_empties_the_list(client: httpx.AsyncClient) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    response = await import_csv(client, csv_of([]), replace="true")
    assert_detail(response, 422)
    assert (await client.get("/api/watchlist", headers=POLICE)).json() == {"entries": 1}
    added = await import_csv(client, csv_of([]))  # without replace it adds nothing and takes nothing away
    assert added.status_code == 200 and added.json()["imported"] == 0
    assert (await client.get("/api/watchlist", headers=POLICE)).json() == {"entries": 1}


@pytest.mark.parametrize("body", [b"\xff\xfe\x00garbage", b"", b"a,b\n1,2\n", b"id_number,name,reason,case_ref\n\"x"])
async def test_hostile_bodies(client: httpx.AsyncClient, body: bytes) -> None:
    assert_detail(await import_csv(client, body), 422)


@pytest.mark.parametrize("role", ["operator", "viewer", "supervisor", "admin"])
async def test_nobody_but_the_police(client: httpx.AsyncClient, role: str) -> None:
    headers = EVERY_ROLE[role]
    assert_detail(await client.post("/api/watchlist/import", content=csv_of([]), headers=headers), 403)
    assert_detail(await client.get("/api/watchlist", headers=headers), 403)
    assert_detail(await client.get("/api/watchlist/hits", headers=headers), 403)
    assert_detail(await client.get("/api/watchlist/hits"), 401)


async def test_police_reach_nothing_else(client: httpx.AsyncClient) -> None:
    for path in ("/api/sites", "/api/readings", "/api/dispatches", "/api/mines/mine-1/underground"):
        assert_detail(await client.get(path, headers=POLICE), 403)


async def test_too_large_and_off(engine: AsyncEngine, clock: Clock, sender: RecordingSender) -> None:
    small = create_app(engine, settings=RULES, tokens=TOKENS, command_sender=sender, clock=clock, logger=LOG,
                       people=PeopleSettings(watchlist_key="k" * 16, watchlist_max_bytes=1024))
    off = create_app(engine, settings=RULES, tokens=TOKENS, command_sender=sender, clock=clock, logger=LOG)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=small), base_url="http://c") as client:
        big = csv_of([(WANTED, "x" * 60, "r" * 60, "")] * 20)
        assert len(big) > 1024
        assert_detail(await import_csv(client, big), 413)
        # a body too large for the rest of the API is refused there as before
        assert_detail(await client.post("/api/registrations", content=b"{" + b" " * 70_000 + b"}",
                                        headers=OPERATOR | {"Content-Type": "application/json"}), 413)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://c") as client:
        assert_detail(await import_csv(client, csv_of([(WANTED, "", "", "")])), 409)


async def test_an_id_read_of_a_watched_person_raises_a_silent_110_dispatch(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site, sender: RecordingSender,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    outcome = await rental.send([rental.id_read(id_number(1)), rental.id_read(WANTED.lower()),
                                 rental.id_read(id_number(2))])
    assert rental.hook.hits == 1
    assert rental.wakes == 1
    assert sender.sent == []  # nothing goes back to the site
    async with engine.connect() as connection:
        dispatches = await list_dispatches(connection)
        to_police = await list_deliveries(connection, recipient="police-110")
        to_guards = await list_deliveries(connection, recipient="guards")
    assert len(dispatches) == 1
    dispatch = dispatches[0]
    assert (dispatch.alarm_class, dispatch.recipients, dispatch.escalated_at is not None) == (
        "watchlist", ["police-110"], True)
    assert dispatch.reading_id == await rental.reading_id(2)
    assert to_guards == []
    payload = to_police[0].payload["watchlist"]
    assert payload["id_number"] == WANTED
    assert (payload["site"], payload["service_point"], payload["reader"]) == ("rental-1", "counter-1", "idr-1")
    assert payload["case_ref"] == "case-9"
    assert len(outcome.stored) == 3

    hits = (await client.get("/api/watchlist/hits", headers=POLICE)).json()
    assert [(h["id_number"], h["source"], h["dispatch_id"]) for h in hits["hits"]] == [
        (WANTED, "id_read", dispatch.id)]


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "admin"])
async def test_the_monitoring_centre_never_sees_nor_acts_on_a_watch_list_dispatch(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site, role: str,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    await rental.send([rental.id_read(WANTED)])
    async with engine.connect() as connection:
        (hidden,) = await list_dispatches(connection)
    staff = EVERY_ROLE[role]
    listed = await client.get("/api/dispatches", headers=staff)
    assert listed.status_code == 200 and listed.json() == []
    assert (await client.get(f"/api/dispatches/{hidden.id}", headers=staff)).status_code == 404
    acted = await client.post(f"/api/dispatches/{hidden.id}/actions", headers=staff, json={"action": "acknowledge"})
    assert acted.status_code in (403, 404)  # a viewer may not act at all; the others find no such dispatch
    async with engine.connect() as connection:
        (after,) = await list_dispatches(connection)
    assert after.state == hidden.state


async def test_the_same_person_again_folds_into_the_open_dispatch(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    await rental.send([rental.id_read(WANTED)])
    await rental.send([rental.id_read(WANTED)])
    async with engine.connect() as connection:
        dispatches = await list_dispatches(connection)
    assert [(d.alarm_class, d.occurrences) for d in dispatches] == [("watchlist", 2)]
    hits = (await client.get("/api/watchlist/hits", headers=POLICE, params={"limit": 1})).json()
    assert len(hits["hits"]) == 1 and hits["next_cursor"] is not None
    rest = (await client.get("/api/watchlist/hits", headers=POLICE, params={"cursor": hits["next_cursor"]})).json()
    assert len(rest["hits"]) == 1 and rest["next_cursor"] is None


async def test_malformed_id_reads_are_stored_and_never_hit(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    hostile = [rental.reading(rental.id_read(WANTED).kind, data) for data in (
        {}, {"id_number": None}, {"id_number": 110101}, {"id_number": "x" * 5000}, {"id_number": ["a"]},
        {"id_number": "' OR 1=1 --"}, {"id_number": WANTED + "0"}, {"id_number": WANTED[:-1]},
    )]
    outcome = await rental.send(hostile)
    assert len(outcome.stored) == len(hostile)
    assert rental.hook.hits == 0
    async with engine.connect() as connection:
        assert await list_dispatches(connection) == []


async def test_without_a_key_nothing_is_compared(engine: AsyncEngine) -> None:
    site = Site(engine, "rental-1", PeopleSettings())
    await site.send([site.id_read(WANTED)])
    assert site.hook.hits == 0


async def test_cursor_must_be_digits(client: httpx.AsyncClient) -> None:
    assert_detail(await client.get("/api/watchlist/hits", headers=POLICE, params={"cursor": "1;DROP"}), 422)


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "admin"])
async def test_the_response_time_report_does_not_count_a_watch_list_dispatch(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site, role: str,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    await rental.send([rental.id_read(WANTED)])
    async with engine.connect() as connection:
        assert [d.alarm_class for d in await list_dispatches(connection)] == ["watchlist"]
    window = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    report = await client.get("/api/reports/response-times", headers=EVERY_ROLE[role], params=window)
    assert report.status_code == 200, report.text
    assert report.json()["dispatches"] == 0  # a narrow window around a registration would tell who is sought


@pytest.mark.parametrize("role", ["viewer", "operator", "supervisor", "admin"])
async def test_the_webhook_deliveries_list_leaves_out_a_watch_list_dispatch(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site, role: str,
) -> None:
    await import_csv(client, csv_of([(WANTED, "张三", "fraud", "case-9")]))
    await rental.send([rental.id_read(WANTED)])
    async with engine.connect() as connection:
        assert len(await list_deliveries(connection, recipient="police-110")) == 1
    for status in ("undelivered", "pending"):
        listed = await client.get("/api/webhooks", headers=EVERY_ROLE[role], params={"status": status})
        assert listed.status_code == 200, listed.text
        assert listed.json() == []  # a delivery to 110 of a dispatch staff cannot see tells a hit
