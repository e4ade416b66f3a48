"""A tenant's registration at a rental building, end to end, on SQLite and PostgreSQL: the simulated ID card reader on
a pseudo-terminal -> the edge's idcard driver (a real `shaobing edge` process) -> the broker -> central stores the
id_read -> an operator puts the person on a bed and issues a card through the API -> central signs and pushes the
site's allow-list -> the edge applies it -> the card at the simulated OSDP door reader opens the door (lock pulse and
green, decided at the edge) and a granted card_swipe naming the person reaches central. Moving out revokes the card:
the next list is applied and the same card is denied (red, no pulse).
"""

from __future__ import annotations

from pathlib import Path

from firmware_sim.idreader.cards import resident

from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, eventually
from tests.e2e.people_kit import (
    door_reader,
    id_reader,
    idcard_driver,
    lifted,
    list_applied,
    osdp_driver,
    people_run,
    post,
    reader_online,
    set_kind,
    wait_readings,
)

SITE = "rental-e2e"
DOOR = "front-gate"
CARD = "04A1B2C3"


async def test_a_tenant_registers_gets_a_card_that_opens_the_door_and_loses_it_on_moving_out(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    tenant = resident("李娜", gender="female", region="420106", sequence=58)
    async with people_run(make_broker, database_url, SITE) as run, \
            id_reader() as (ids, id_port):
        central, to = run.central, run.to
        with door_reader() as (door, door_port):
            await set_kind(central, SITE, "rental")
            building = await post(central, f"/api/sites/{SITE}/buildings", {"name": "A"})
            room = await post(central, f"/api/buildings/{building['id']}/rooms", {"name": "301"})
            bed = await post(central, f"/api/rooms/{room['id']}/beds", {"name": "1"})
            edge = await run.start_site(edges, tmp_path, SITE, [
                idcard_driver(id_port, photo="base64"), osdp_driver("gate-reader", door_port, DOOR)])
            watch = [edge]
            await reader_online(door, watch)

            # The tenant's ID card at the service point: one id_read at central, with the card's fields.
            ids.present(tenant)
            (read,) = await wait_readings(central, SITE, "id_read", 1, watch)
            await lifted(ids)
            assert (read["device"], read["data"]["id_number"], read["data"]["name"]) == (
                "idcard", tenant.id_number, "李娜")
            assert (read["data"]["service_point"], read["data"]["reader"], read["data"]["id_number_valid"]) == (
                "service-point-1", "front-desk", True)
            assert read["data"]["photo_len"] == 1024 and len(read["data"]["photo_wlt"]) == 1368  # base64, as read

            # Before any list, the door knows nobody.
            door.present(CARD)
            (unknown,) = await wait_readings(central, SITE, "card_swipe", 1, watch)
            assert (unknown["data"]["decision"], unknown["data"]["reason"]) == ("denied", "no_list")

            async def red() -> bool:
                return door.received.leds == ["red"]

            await eventually("red at the door", red, watch=watch)
            assert door.received.pulses == []

            registered = await post(central, "/api/registrations",
                                    {"site": SITE, "bed_id": bed["id"], "reading_id": read["id"]})
            person = registered["person"]
            assert person["name"] == "李娜" and person["id_number"] != tenant.id_number  # masked for an operator
            issued = await post(central, "/api/cards", {"site": SITE, "uid": CARD.lower(), "person_id": person["id"],
                                                        "doors": [DOOR]})
            assert issued["access_list"]["entries"] == 1
            detail = await list_applied(central, issued["access_list"], watch)
            assert "(1 card" in detail

            door.present(CARD)

            async def opened() -> bool:  # the pulse and the LED leave with successive polls
                return door.received.pulses == [(0, 1.0)] and door.received.leds == ["red", "green"]

            await eventually("the lock pulse and green at the door", opened, watch=watch)
            swipes = await wait_readings(central, SITE, "card_swipe", 2, watch)
            granted = swipes[1]["data"]
            assert (granted["card"], granted["door"], granted["reader"], granted["decision"], granted["reason"],
                    granted["person"]) == (CARD, DOOR, "gate-reader", "granted", "granted", str(person["id"]))
            beds = (await central.api.get(f"/api/sites/{SITE}/beds")).json()
            assert [b["person"]["id"] for b in beds if b["person"]] == [person["id"]]
            movements = (await central.api.get(f"/api/persons/{person['id']}")).json()
            assert movements["last_seen_at"] is not None  # the swipe is a sighting

            # Moving out revokes the card; the site's next list has no card in it and the door says no.
            moved = await post(central, f"/api/registrations/{registered['id']}/move-out", {}, status=200)
            assert moved["moved_out_at"] is not None and moved["access_list"]["entries"] == 0
            assert "(0 card" in await list_applied(central, moved["access_list"], watch)
            door.present(CARD)
            swipes = await wait_readings(central, SITE, "card_swipe", 3, watch)
            denied = swipes[2]["data"]
            assert (denied["card"], denied["decision"], denied["reason"]) == (CARD, "denied", "unknown_card")
            async def shown_red() -> bool:
                return door.received.leds == ["red", "green", "red"]

            await eventually("red at the door", shown_red, watch=watch)
            assert door.received.pulses == [(0, 1.0)]  # still only the one opening
            cards = (await central.api.get(f"/api/sites/{SITE}/cards", params={"revoked": "true"})).json()
            assert [(c["uid"], c["revoked_at"] is not None) for c in cards] == [(CARD, True)]
            stored = await central.readings(SITE)

    # Every reading once, in the site's order; nothing raised a dispatch.
    assert [r["seq"] for r in stored] == sorted(r["seq"] for r in stored)
    assert [r["kind"] for r in stored if r["kind"] in ("id_read", "card_swipe")] == [
        "id_read", "card_swipe", "card_swipe", "card_swipe"]
    assert to.guards.received == [] and to.police.received == []
