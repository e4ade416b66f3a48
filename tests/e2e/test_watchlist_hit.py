"""A watch-list hit at a rental building's service point, end to end, on SQLite and PostgreSQL.

The police import a watch-list CSV through the API. A person who is not listed presents their ID card, then a listed
one does: the simulated reader on a pseudo-terminal -> the edge's idcard driver (a real `shaobing edge` process) ->
the broker -> central, which compares the read with the list in the ingest's transaction and raises a silent
dispatch: 110's webhook receiver gets it, saying who (in full), where (site, service point, reader) and when; the
guards get nothing. Silent: no command goes to the site and the door reader is told nothing; the registration of the
listed person is answered like anybody's. The operator and the viewer can see neither the hits nor the dispatch; the
police see the hits.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from firmware_sim.idreader.cards import resident

from shaobing.clock import parse_ts
from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, eventually
from tests.e2e.people_kit import (
    POLICE,
    VIEWER,
    door_reader,
    id_reader,
    idcard_driver,
    lifted,
    osdp_driver,
    people_run,
    post,
    reader_online,
    set_kind,
    site_commands,
    wait_readings,
)

SITE = "rental-watch"


async def test_a_listed_person_read_at_the_service_point_goes_silently_to_110_and_to_the_police_alone(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    sought = resident("赵强", region="510104", sequence=311, birth=datetime(1985, 2, 14).date())
    neighbour = resident("孙丽", gender="female", region="510104", sequence=312)
    elsewhere = resident("王五", region="110101", sequence=17)  # listed, never read here
    csv = ("id_number,name,reason,case_ref\n"
           f"{elsewhere.id_number},王五,诈骗,2026-0001\n"
           f"{sought.id_number},赵强,抢劫在逃,2026-0042\n")
    async with people_run(make_broker, database_url, SITE) as run, \
            id_reader() as (ids, id_port):
        central, to = run.central, run.to
        with door_reader() as (door, door_port):
            staff_try = await central.api.post("/api/watchlist/import", content=csv.encode(),
                                                headers={"Content-Type": "text/csv"})
            assert staff_try.status_code == 403  # an operator cannot import (nor learn who is sought)
            imported = await central.api.post("/api/watchlist/import", content=csv.encode(),
                                               headers={**POLICE, "Content-Type": "text/csv"})
            assert imported.status_code == 200, imported.text
            assert (imported.json()["imported"], imported.json()["entries"]) == (2, 2)

            await set_kind(central, SITE, "rental")
            building = await post(central, f"/api/sites/{SITE}/buildings", {"name": "B"})
            room = await post(central, f"/api/buildings/{building['id']}/rooms", {"name": "102"})
            beds = [await post(central, f"/api/rooms/{room['id']}/beds", {"name": name}) for name in ("1", "2")]
            edge = await run.start_site(edges, tmp_path, SITE, [
                idcard_driver(id_port), osdp_driver("gate-reader", door_port, "front-gate")])
            watch = [edge]
            await reader_online(door, watch)
            door_heard_before = len(door.received.commands)

            ids.present(neighbour)
            await wait_readings(central, SITE, "id_read", 1, watch)
            await lifted(ids)
            presented_at = datetime.now(UTC)
            ids.present(sought)
            read_at = time.monotonic()
            reads = await wait_readings(central, SITE, "id_read", 2, watch)
            await lifted(ids)

            async def to_110() -> list[dict[str, Any]]:
                return to.of_class(to.police, "watchlist")

            (delivery,) = await eventually("110's watch-list dispatch", to_110, watch=watch)
            to_110_s = time.monotonic() - read_at
            hit = delivery["watchlist"]
            assert (hit["source"], hit["id_number"], hit["name"], hit["listed_name"], hit["reason"],
                    hit["case_ref"]) == ("id_read", sought.id_number, "赵强", "赵强", "抢劫在逃", "2026-0042")
            assert (hit["site"], hit["service_point"], hit["reader"]) == (SITE, "service-point-1", "front-desk")
            assert presented_at <= parse_ts(hit["seen_at"]) <= datetime.now(UTC)
            dispatch = delivery["dispatch"]
            assert (dispatch["site"], dispatch["reading_id"], dispatch["escalated"]) == (SITE, reads[1]["id"], True)
            assert delivery["reading"]["data"]["id_number"] == sought.id_number

            # The counter registers both: the answers do not differ for the listed person.
            answers = [await post(central, "/api/registrations",
                                  {"site": SITE, "bed_id": bed["id"], "reading_id": read["id"]})
                       for bed, read in zip(beds, reads, strict=True)]
            assert [sorted(answer) for answer in answers] == [sorted(answers[0])] * 2
            assert [answer["access_list"] for answer in answers] == [None, None]

            # The police see both sightings (the read and the registration), in full.
            async def police_hits() -> list[dict[str, Any]] | None:
                found = await central.api.get("/api/watchlist/hits", headers=POLICE)
                assert found.status_code == 200, found.text
                hits: list[dict[str, Any]] = found.json()["hits"]
                return hits if len(hits) == 2 else None

            hits = await eventually("two hits for the police", police_hits, watch=watch)
            assert [(h["source"], h["id_number"], h["site"], h["dispatch_id"]) for h in hits] == [
                ("registration", sought.id_number, SITE, dispatch["id"]),
                ("id_read", sought.id_number, SITE, dispatch["id"])]

            async def update_to_110() -> bool:
                return len(to.police.received) == 2

            await eventually("110's update for the registration", update_to_110, watch=watch)

            # The monitoring centre's staff: no hits, no dispatch, not even by its id.
            for role in ({}, VIEWER):
                assert (await central.api.get("/api/watchlist/hits", headers=role)).status_code == 403
                listed = await central.api.get("/api/dispatches", headers=role)
                assert listed.status_code == 200 and listed.json() == [], listed.text
                by_id = await central.api.get(f"/api/dispatches/{dispatch['id']}", headers=role)
                assert by_id.status_code == 404, by_id.text
            assert (await central.api.get("/api/dispatches", headers=POLICE)).status_code == 403

            # Nothing went back to the site: no command was ever issued to it, and its door heard nothing.
            assert await site_commands(central, SITE) == []
            assert len(door.received.commands) == door_heard_before
            assert door.received.pulses == [] and door.received.leds == []
            stored = await central.readings(SITE)

    assert [r["kind"] for r in stored if r["kind"] in ("id_read", "card_swipe", "alarm")] == ["id_read", "id_read"]
    assert to.guards.received == []
    # The registration is a second sighting: it folds into the open dispatch, and 110 hears of it as an update.
    assert [(d.event, d.payload["dispatch"]["id"], d.payload["watchlist"]["source"]) for d in to.police.received] == [
        ("dispatch.raised", dispatch["id"], "id_read"), ("dispatch.updated", dispatch["id"], "registration")]
    assert to.police.received[1].payload["dispatch"]["occurrences"] == 2
    print(f"watch-list hit at 110 {to_110_s:.2f} s after the card was presented")
