"""Mine communities on both stores: movements from granted swipes, the underground headcount from pithead doors, the
headcount alarm (once, then a restore), and key persons not seen for too long (a ticket, closed when seen again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import list_dispatches, transitions_of
from central.people.key_persons import KeyPersonWatch
from central.store.schema import tickets
from tests.central.people.conftest import (
    LOG,
    OPERATOR,
    PEOPLE,
    POLICE,
    SUPERVISOR,
    T0,
    VIEWER,
    Clock,
    Site,
    assert_detail,
    id_number,
)


async def miner(client: httpx.AsyncClient, serial: int, card: str, *, key_person: bool = False) -> dict[str, Any]:
    person = await client.post("/api/persons", headers=OPERATOR,
                               json={"id_number": id_number(serial), "name": f"矿工{serial}", "key_person": key_person})
    assert person.status_code == 201, person.text
    issued = await client.post("/api/cards", headers=OPERATOR,
                               json={"site": "mine-1", "uid": card, "person_id": person.json()["id"]})
    assert issued.status_code == 201, issued.text
    body: dict[str, Any] = person.json()
    return body


async def doors(client: httpx.AsyncClient) -> None:
    for door, direction in (("shaft-in", "in"), ("shaft-out", "out")):
        response = await client.put(f"/api/mines/mine-1/doors/{door}", headers=OPERATOR,
                                    json={"direction": direction})
        assert response.status_code == 200, response.text


async def below(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/mines/mine-1/underground", headers=SUPERVISOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_headcount_follows_the_pithead(client: httpx.AsyncClient, mine: Site) -> None:
    await doors(client)
    first = await miner(client, 1, "00A1")
    await miner(client, 2, "00A2")
    await mine.send([mine.swipe("00A1", "shaft-in"), mine.swipe("00a2", "shaft-in"), mine.swipe("00A2", "shaft-out"),
                     mine.swipe("00A1", "office"), mine.swipe("00A2", "shaft-in", granted=False)])
    now = await below(client)
    assert (now["count"], now["limit"], now["over_limit"]) == (1, 2, False)
    assert now["people"][0]["person"]["id"] == first["id"]
    assert now["people"][0]["since"].startswith("2026-11-24T04:00:01")
    moves = (await client.get("/api/mines/mine-1/movements", headers=VIEWER)).json()
    assert [(m["card"], m["door"], m["direction"]) for m in moves] == [
        ("00A1", "office", None), ("00A2", "shaft-out", "out"), ("00A2", "shaft-in", "in"), ("00A1", "shaft-in", "in")]


async def test_an_unknown_card_is_a_movement_without_a_person(client: httpx.AsyncClient, mine: Site) -> None:
    await doors(client)
    await mine.send([mine.swipe("FFFF", "shaft-in"), mine.swipe("'; DROP TABLE movements;--", "shaft-in"),
                     mine.reading(mine.swipe("X", "d").kind, {"card": None, "decision": "granted"}),
                     mine.reading(mine.swipe("X", "d").kind, {"card": "C" * 100, "decision": "granted"})])
    assert (await below(client))["count"] == 0
    moves = (await client.get("/api/mines/mine-1/movements", headers=VIEWER)).json()
    assert [(m["card"], m["person_id"]) for m in moves] == [
        ("'; DROP TABLE MOVEMENTS;--", None), ("FFFF", None)]


async def test_over_the_limit_alarms_once_and_restores(client: httpx.AsyncClient, engine: AsyncEngine,
                                                       mine: Site) -> None:
    await doors(client)
    for serial in (1, 2, 3, 4):
        await miner(client, serial, f"00B{serial}")
    await mine.send([mine.swipe("00B1", "shaft-in"), mine.swipe("00B2", "shaft-in")])
    await mine.send([mine.swipe("00B3", "shaft-in")])
    await mine.send([mine.swipe("00B4", "shaft-in")])
    async with engine.connect() as connection:
        raised = await list_dispatches(connection)
    assert [(d.alarm_class, d.recipients, d.occurrences) for d in raised] == [("headcount", ["guards"], 1)]
    assert (await below(client))["over_limit"] is True
    await mine.send([mine.swipe("00B4", "shaft-out")])  # 3: still over
    await mine.send([mine.swipe("00B3", "shaft-out")])  # 2: back within
    async with engine.connect() as connection:
        steps = [t.action for t in await transitions_of(connection, raised[0].id)]
    assert steps == ["raise", "restore"]
    assert mine.wakes == 1


async def test_key_person_not_seen(client: httpx.AsyncClient, engine: AsyncEngine, mine: Site,
                                   clock: Clock) -> None:
    key = await miner(client, 1, "00C1", key_person=True)
    await miner(client, 2, "00C2")
    await mine.send([mine.swipe("00C1", "office", at=T0), mine.swipe("00C2", "office", at=T0)])
    watch = KeyPersonWatch(engine, PEOPLE, clock=clock, logger=LOG)
    clock.moment = T0 + timedelta(seconds=PEOPLE.key_person_absent_s - 1)
    assert await watch.check() == []
    clock.advance(seconds=2)
    assert await watch.check() == [key["id"]]
    assert await watch.check() == []  # once
    async with engine.connect() as connection:
        open_tickets = (await connection.execute(select(tickets.c.zone).where(tickets.c.closed_at.is_(None)))).all()
    assert [row.zone for row in open_tickets] == [str(key["id"])]
    await mine.send([mine.swipe("00C1", "office", granted=False, at=clock.moment)])  # seen, even if denied
    async with engine.connect() as connection:
        still = (await connection.execute(select(tickets.c.id).where(tickets.c.closed_at.is_(None)))).all()
    assert still == []
    person = (await client.get(f"/api/persons/{key['id']}", headers=OPERATOR)).json()
    assert person["key_person"] is True and person["last_seen_at"] is not None


async def test_mine_refusals(client: httpx.AsyncClient) -> None:
    assert_detail(await client.get("/api/mines/rental-1/underground", headers=VIEWER), 409)
    assert_detail(await client.get("/api/mines/nowhere/underground", headers=VIEWER), 404)
    assert_detail(await client.get("/api/mines/mine-1/underground", headers=POLICE), 403)
    assert_detail(await client.get("/api/mines/mine-1/underground"), 401)
    assert_detail(await client.put("/api/mines/mine-1/doors/d1", headers=VIEWER, json={"direction": "in"}), 403)
    assert_detail(await client.put("/api/mines/mine-1/doors/d1", headers=OPERATOR, json={"direction": "up"}), 422)
    assert_detail(await client.put("/api/mines/mine-1/doors/a%20b", headers=OPERATOR, json={"direction": "in"}), 422)
    assert_detail(await client.delete("/api/mines/mine-1/doors/d1", headers=OPERATOR), 404)
    assert_detail(await client.post("/api/persons", headers=OPERATOR,
                                    json={"id_number": "110105194912310021", "name": "x"}), 422)
    assert_detail(await client.patch("/api/persons/999", headers=OPERATOR, json={"key_person": True}), 404)
    assert_detail(await client.get("/api/persons/999", headers=OPERATOR), 404)
    assert_detail(await client.post("/api/cards", headers=OPERATOR,
                                    json={"site": "mine-1", "uid": "AB12", "person_id": 999}), 404)


async def test_a_swipe_whose_person_is_not_a_plain_number_is_stored_without_one(
    client: httpx.AsyncClient, mine: Site,
) -> None:
    await doors(client)
    await mine.send([mine.swipe("FFFF", "shaft-in", person="²"), mine.swipe("FFFE", "shaft-in", person="١٢"),
                     mine.swipe("FFFD", "shaft-in", person=7)])
    moves = (await client.get("/api/mines/mine-1/movements", headers=VIEWER)).json()
    assert sorted((m["card"], m["person_id"]) for m in moves) == [("FFFD", None), ("FFFE", None), ("FFFF", None)]
