"""Doors keep working with the uplink down, end to end, on SQLite and PostgreSQL.

A mine's explosives store has an OSDP reader (simulated, on a pseudo-terminal) served by the edge agent (a real
`shaobing edge` process). Central issues a miner's card and the site applies the signed list. Then the broker stops:
the card still opens the door (the lock pulse and green come from the edge's own list), and the swipe waits in the
edge's outbox on disk. The door is then forced (opened with no grant) and, after a second grant, held open past its
short held-open time. When the broker is back, the granted swipe and both alarms reach central, and the forced and
held-open doors are dispatched to the security company.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from firmware_sim.idreader.cards import resident

from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, eventually
from tests.e2e.people_kit import (
    door_reader,
    list_applied,
    osdp_driver,
    people_run,
    post,
    reader_online,
    set_kind,
    wait_readings,
)

SITE = "mine-doors"
DOOR = "explosives-store"
CARD = "04C0FFEE"
HELD_AFTER = 1.5  # seconds open before the door is held (30-60 s on a real door)


def outbox_readings(path: Path) -> list[tuple[int, str, dict[str, Any]]]:
    """(seq, kind, data) of every reading waiting in an edge's outbox, in seq order (read beside the running agent)."""
    with contextlib.closing(sqlite3.connect(path, timeout=5.0)) as db:
        rows = db.execute("SELECT seq, kind, payload FROM outbox ORDER BY seq").fetchall()
    return [(int(seq), str(kind), json.loads(payload)["data"]) for seq, kind, payload in rows]


async def test_with_the_uplink_down_a_valid_card_opens_and_forced_and_held_doors_reach_central_later(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    miner = resident("周建国", region="140202", sequence=71)
    outbox = tmp_path / f"{SITE}.outbox.db"
    async with people_run(make_broker, database_url, SITE) as run:
        central, broker, to = run.central, run.broker, run.to
        with door_reader() as (door, door_port):
            await set_kind(central, SITE, "mine")
            person = await post(central, "/api/persons", {"id_number": miner.id_number, "name": "周建国"})
            edge = await run.start_site(edges, tmp_path, SITE, [
                osdp_driver("magazine-reader", door_port, DOOR, held_open_after=HELD_AFTER)])
            watch = [edge]
            await reader_online(door, watch)
            door.door(False)
            await wait_readings(central, SITE, "door", 1, watch)
            issued = await post(central, "/api/cards", {"site": SITE, "uid": CARD, "person_id": person["id"],
                                                        "doors": [DOOR]})
            await list_applied(central, issued["access_list"], watch)
            before = len(await central.readings(SITE))

            broker.stop()  # the uplink is down from here

            door.present(CARD)

            async def opened(times: int) -> bool:  # the pulse and the LED leave with successive polls
                return len(door.received.pulses) == times and door.received.leds == ["green"] * times

            await eventually("the lock pulse and green with the broker down", lambda: opened(1), watch=watch)

            def waiting(kind: str, **match: Any) -> list[dict[str, Any]]:
                return [data for _, k, data in outbox_readings(outbox) if k == kind
                        and all(data.get(field) == value for field, value in match.items())]

            async def swipe_on_disk() -> list[dict[str, Any]]:
                return waiting("card_swipe")

            (buffered,) = await eventually("the granted swipe in the edge's outbox", swipe_on_disk, watch=watch)
            assert (buffered["card"], buffered["decision"], buffered["person"]) == (CARD, "granted",
                                                                                     str(person["id"]))
            door.door(True)  # the miner goes in: excused by the grant
            door.door(False)

            async def on_disk(kind: str, **match: Any) -> bool:
                return bool(waiting(kind, **match))

            await eventually("the door's closing on disk", lambda: on_disk("door", state="closed"), watch=watch)

            door.door(True)  # forced: nobody was granted this opening
            await eventually("the forced door on disk", lambda: on_disk("alarm", **{"class": "forced_door"}),
                             watch=watch)
            door.door(False)

            door.present(CARD)
            await eventually("the second lock pulse", lambda: opened(2), watch=watch)
            door.door(True)  # ... and left open past the held-open time
            await eventually("the held door on disk", lambda: on_disk("alarm", **{"class": "held_door"}),
                             within=HELD_AFTER + 10, watch=watch)
            door.door(False)
            await eventually("the held door's restore on disk",
                             lambda: on_disk("alarm", **{"class": "held_door", "qualifier": "restore"}), watch=watch)
            assert len(await central.readings(SITE)) == before  # nothing got through meanwhile
            waited = outbox_readings(outbox)

            broker.start()  # the uplink is back: the outbox drains

            async def arrived() -> list[dict[str, Any]] | None:
                stored = await central.readings(SITE)
                return stored if len(stored) >= before + len(waited) else None

            stored = await eventually("the buffered readings at central", arrived, within=30, watch=watch)

            async def dispatched() -> list[str] | None:
                classes = sorted(d.payload["dispatch"]["alarm_class"] for d in to.guards.received
                                 if d.event == "dispatch.raised")
                return classes if len(classes) == 2 else None

            classes = await eventually("the guards' forced and held door dispatches", dispatched, watch=watch)
            dispatches = await central.dispatches(SITE)

    # Everything that waited on disk, once (alarms drain first, so central's order is by priority; compare by seq).
    late = sorted(stored[before:], key=lambda r: int(r["seq"]))
    assert [(r["seq"], r["kind"], r["data"]) for r in late] == waited
    swipes = [r["data"] for r in late if r["kind"] == "card_swipe"]
    assert [(s["card"], s["decision"], s["door"]) for s in swipes] == [(CARD, "granted", DOOR)] * 2
    alarms = [(r["data"]["class"], r["data"]["qualifier"]) for r in late if r["kind"] == "alarm"]
    assert alarms == [("forced_door", "new"), ("forced_door", "restore"), ("held_door", "new"),
                      ("held_door", "restore")]
    assert classes == ["forced_door", "held_door"]
    assert sorted((d["alarm_class"], d["zone"]) for d in dispatches) == [("forced_door", DOOR), ("held_door", DOOR)]
    assert to.police.received == []
