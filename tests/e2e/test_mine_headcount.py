"""The pithead headcount and a key person out of sight, end to end, on SQLite and PostgreSQL.

The mine's edge agent (a real `shaobing edge` process) has two pithead readers: going down, a PC/SC contactless
reader (a private pcscd with the vpcd virtual reader; miners' cards are virtual cards); coming up, an OSDP reader
(simulated, on a pseudo-terminal). Central issues the miners' cards and the site applies the signed list. Three miners
go down against a limit of two: the third swipe raises one headcount dispatch to the guards, and
`GET /api/mines/{site}/underground` lists who is below, longest first. The explosives handler (a key person) is not
seen by any reader for longer than the mine allows (2 s here): a `key_person_absent` ticket opens. When the handler
comes up through the OSDP door, the ticket closes and the count is back within the limit (a restore on the dispatch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware_sim.idreader.cards import resident
from firmware_sim.vcard.card import CardBehaviour, VirtualCard, card_on_reader

from tests.conftest import MakeBroker
from tests.drivers.pcsc.pcscd import READER, Pcscd
from tests.e2e.conftest import EdgeProcess, RunningCentral, eventually
from tests.e2e.people_kit import (
    SUPERVISOR,
    door_reader,
    list_applied,
    osdp_driver,
    people_run,
    post,
    reader_online,
    set_kind,
    wait_readings,
)

SITE = "mine-e2e"
LIMIT = 2
ABSENT_S = 2.0
MINERS = [("王铁柱", "04000001", True), ("刘大山", "04000002", False), ("陈石头", "04000003", False)]


async def underground(central: RunningCentral) -> dict[str, Any]:
    answer = await central.api.get(f"/api/mines/{SITE}/underground")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def absences(central: RunningCentral, *, open_only: bool) -> list[dict[str, Any]]:
    answer = await central.api.get(f"/api/sites/{SITE}/tickets", params={"open": str(open_only).lower()})
    assert answer.status_code == 200, answer.text
    return [t for t in answer.json() if t["trouble_class"] == "key_person_absent"]


async def test_miners_over_the_limit_raise_the_headcount_alarm_and_an_unseen_key_person_a_ticket(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess], pcscd: Pcscd
) -> None:
    async with people_run(
        make_broker, database_url, SITE, underground_limits={SITE: LIMIT}, key_person_absent_s=ABSENT_S,
        check_every_s=0.2,
    ) as run:
        central, to = run.central, run.to
        with door_reader() as (door, door_port):
            await set_kind(central, SITE, "mine")
            for door_name, direction in (("pithead-in", "in"), ("pithead-out", "out")):
                answer = await central.api.put(f"/api/mines/{SITE}/doors/{door_name}", json={"direction": direction})
                assert answer.status_code == 200, answer.text
            people: list[int] = []
            for index, (name, _, key_person) in enumerate(MINERS):
                card = resident(name, region="140202", sequence=100 + index * 2)
                person = await post(central, "/api/persons", {"id_number": card.id_number, "name": name,
                                                              "key_person": key_person})
                people.append(int(person["id"]))
            edge = await run.start_site(edges, tmp_path, SITE, [
                {"type": "pcsc", "name": "pithead-in-reader", "reader": READER, "door": "pithead-in",
                 "poll_interval": 0.1, "read_timeout": 1.0, "retry_min": 0.05, "retry_max": 0.2,
                 "offline_after": 0},
                osdp_driver("pithead-out-reader", door_port, "pithead-out")])
            watch = [edge]
            await reader_online(door, watch)
            for person_id, (_, uid, _) in zip(people, MINERS, strict=True):
                issued = await post(central, "/api/cards", {"site": SITE, "uid": uid, "person_id": person_id})
            await list_applied(central, issued["access_list"], watch)  # the last list holds all three cards

            # Down they go, one card after another on the PC/SC reader at the pithead-in door.
            for count, (_, uid, _) in enumerate(MINERS, start=1):
                async with card_on_reader(VirtualCard(CardBehaviour(uid=bytes.fromhex(uid)), port=pcscd.port)):
                    await wait_readings(central, SITE, "card_swipe", count, watch)

            async def headcount_alarm() -> list[dict[str, Any]]:
                return to.of_class(to.guards, "headcount")

            (alarm,) = await eventually("the guards' headcount dispatch", headcount_alarm, watch=watch)
            assert alarm["mine"] == {"underground": 3, "limit": LIMIT}
            assert (alarm["dispatch"]["site"], alarm["dispatch"]["state"]) == (SITE, "raised")
            below = await underground(central)
            assert (below["count"], below["limit"], below["over_limit"]) == (3, LIMIT, True)
            assert [p["person"]["id"] for p in below["people"]] == people  # longest below first
            swipes = [r["data"] for r in await central.readings(SITE) if r["kind"] == "card_swipe"]
            assert [(s["card"], s["door"], s["decision"], s["source"], s["person"]) for s in swipes] == [
                (uid, "pithead-in", "granted", "pcsc", str(p)) for p, (_, uid, _) in zip(people, MINERS, strict=True)]

            # The explosives handler has not been seen by any reader for longer than allowed.
            async def absent() -> list[dict[str, Any]]:
                return await absences(central, open_only=True)

            (ticket,) = await eventually("the key person's absence ticket", absent, within=ABSENT_S + 10,
                                         watch=watch)
            assert (ticket["zone"], ticket["source"]) == (str(people[0]), "supervision")

            # ... and comes up through the OSDP door: seen again (ticket closed), the count back within the limit.
            door.present(MINERS[0][1])
            await wait_readings(central, SITE, "card_swipe", 4, watch)

            async def opened() -> bool:
                return door.received.pulses == [(0, 1.0)] and door.received.leds == ["green"]

            await eventually("the lock pulse and green at pithead-out", opened, watch=watch)

            async def within_limit() -> dict[str, Any] | None:
                found = await underground(central)
                return found if found["count"] == LIMIT else None

            below = await eventually("two miners below", within_limit, watch=watch)
            assert below["over_limit"] is False
            assert [p["person"]["id"] for p in below["people"]] == people[1:]
            assert await absences(central, open_only=True) == []
            closed = await absences(central, open_only=False)
            assert [(t["id"], t["closed_at"] is not None) for t in closed] == [(ticket["id"], True)]
            dispatch = await central.api.get(f"/api/dispatches/{alarm['dispatch']['id']}", headers=SUPERVISOR)
            assert "restore" in [t["action"] for t in dispatch.json()["transitions"]], dispatch.text
            movements = (await central.api.get(f"/api/mines/{SITE}/movements")).json()

    assert [(m["person_id"], m["direction"]) for m in reversed(movements)] == [
        (people[0], "in"), (people[1], "in"), (people[2], "in"), (people[0], "out")]
    assert len(to.of_class(to.guards, "headcount")) == 1  # one alarm for one time over the limit
    assert to.police.received == []
