"""Rental sites through the API on both stores: buildings, rooms, beds, registration from an id_read, cards, the
signed allow-list with a growing version, moving out, and hostile input on each route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import list_dispatches
from shaobing.access_list import AccessListRejected, verify
from tests.central.people.conftest import (
    OPERATOR,
    POLICE,
    SIGNING_KEY,
    SUPERVISOR,
    VIEWER,
    RecordingSender,
    Site,
    assert_detail,
    csv_of,
    id_number,
    import_csv,
)

CARD = "04A1B2C3"


async def bed(client: httpx.AsyncClient, site: str = "rental-1", *, name: str = "1") -> int:
    building = await client.post(f"/api/sites/{site}/buildings", headers=OPERATOR, json={"name": f"B{name}"})
    assert building.status_code == 201, building.text
    room = await client.post(f"/api/buildings/{building.json()['id']}/rooms", headers=OPERATOR, json={"name": "101"})
    assert room.status_code == 201, room.text
    made = await client.post(f"/api/rooms/{room.json()['id']}/beds", headers=OPERATOR, json={"name": "A"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def registered(client: httpx.AsyncClient, rental: Site, number: str, bed_id: int) -> dict[str, Any]:
    await rental.send([rental.id_read(number)])
    response = await client.post("/api/registrations", headers=OPERATOR,
                                 json={"site": "rental-1", "seq": rental.seq, "bed_id": bed_id})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def sent_lists(sender: RecordingSender) -> list[dict[str, Any]]:
    return [payload["args"] for _, payload in sender.sent if payload["name"] == "access_list"]


async def test_register_issue_revoke_move_out(client: httpx.AsyncClient, rental: Site,
                                              sender: RecordingSender) -> None:
    bed_id = await bed(client)
    registration = await registered(client, rental, id_number(1), bed_id)
    person = registration["person"]
    assert person["name"] == "张三丰"
    assert person["id_number"] == id_number(1)[:6] + "********" + id_number(1)[-4:]  # operator: masked

    card = await client.post("/api/cards", headers=OPERATOR, json={
        "site": "rental-1", "uid": CARD.lower(), "person_id": person["id"], "doors": ["gate", "b1-door"],
        "valid_to": "2027-01-01T00:00:00Z"})
    assert card.status_code == 201, card.text
    assert card.json()["access_list"] == {"version": 1, "entries": 1, "sent": True,
                                          "cmd_id": card.json()["access_list"]["cmd_id"], "detail": None}
    first = sent_lists(sender)[0]
    verify(first, SIGNING_KEY.public_key(), site="rental-1")
    assert first["entries"] == [{"card": CARD, "person": str(person["id"]), "doors": ["b1-door", "gate"],
                                 "valid_from": None, "valid_to": "2027-01-01T00:00:00.000Z"}]
    with pytest.raises(AccessListRejected):
        verify(first, SIGNING_KEY.public_key(), site="rental-2")

    revoked = await client.post(f"/api/cards/{card.json()['id']}/revoke", headers=OPERATOR)
    assert revoked.status_code == 200, revoked.text
    assert sent_lists(sender)[1]["version"] == 2 and sent_lists(sender)[1]["entries"] == []
    assert_detail(await client.post(f"/api/cards/{card.json()['id']}/revoke", headers=OPERATOR), 409)

    again = await client.post("/api/cards", headers=OPERATOR, json={
        "site": "rental-1", "uid": CARD, "person_id": person["id"]})
    assert again.status_code == 201, again.text
    assert sent_lists(sender)[2]["entries"][0]["doors"] == ["*"]

    out = await client.post(f"/api/registrations/{registration['id']}/move-out", headers=OPERATOR)
    assert out.status_code == 200, out.text
    assert out.json()["moved_out_at"] is not None
    last = sent_lists(sender)[3]
    assert (last["version"], last["entries"]) == (4, [])
    assert [args["version"] for args in sent_lists(sender)] == [1, 2, 3, 4]
    assert_detail(await client.post(f"/api/registrations/{registration['id']}/move-out", headers=OPERATOR), 409)
    # the bed is free again
    assert (await registered(client, rental, id_number(2), bed_id))["bed_id"] == bed_id


async def test_one_person_per_bed_and_one_bed_per_person(client: httpx.AsyncClient, rental: Site) -> None:
    first, second = await bed(client, name="1"), await bed(client, name="2")
    await registered(client, rental, id_number(1), first)
    await rental.send([rental.id_read(id_number(2))])
    taken = await client.post("/api/registrations", headers=OPERATOR,
                              json={"site": "rental-1", "seq": rental.seq, "bed_id": first})
    assert_detail(taken, 409)
    await rental.send([rental.id_read(id_number(1))])
    twice = await client.post("/api/registrations", headers=OPERATOR,
                              json={"site": "rental-1", "reading_id": await rental.reading_id(rental.seq),
                                    "bed_id": second})
    assert_detail(twice, 409)


async def test_a_card_needs_a_tenant(client: httpx.AsyncClient) -> None:
    person = await client.post("/api/persons", headers=OPERATOR, json={"id_number": id_number(5), "name": "赵六"})
    assert person.status_code == 201, person.text
    refused = await client.post("/api/cards", headers=OPERATOR,
                                json={"site": "rental-1", "uid": CARD, "person_id": person.json()["id"]})
    assert_detail(refused, 409)


async def test_registration_refusals(client: httpx.AsyncClient, rental: Site) -> None:
    bed_id = await bed(client)
    await rental.send([rental.id_read("110105194912310021"), rental.id_read(id_number(3), id_number_valid=False),
                       rental.swipe(CARD, "gate")])
    for seq, status in ((1, 422), (2, 422), (3, 422), (99, 404)):
        response = await client.post("/api/registrations", headers=OPERATOR,
                                     json={"site": "rental-1", "seq": seq, "bed_id": bed_id})
        assert_detail(response, status)
    await rental.send([rental.id_read(id_number(4))])
    for body, status in (
        ({"site": "rental-1", "seq": rental.seq, "bed_id": 999}, 404),
        ({"site": "mine-1", "seq": rental.seq, "bed_id": bed_id}, 409),
        ({"site": "nowhere", "seq": rental.seq, "bed_id": bed_id}, 404),
        ({"site": "rental-1", "bed_id": bed_id}, 422),
        ({"site": "rental-1", "seq": 1, "reading_id": 1, "bed_id": bed_id}, 422),
        ({"site": "rental-1'; DROP TABLE beds;--", "seq": 1, "bed_id": bed_id}, 422),
        ({"site": "rental-1", "seq": -1, "bed_id": bed_id}, 422),
        ({"site": "rental-1", "seq": 2**63, "bed_id": bed_id}, 422),
        ({"site": "rental-1", "seq": rental.seq, "bed_id": bed_id, "extra": 1}, 422),
    ):
        assert_detail(await client.post("/api/registrations", headers=OPERATOR, json=body), status)
    assert_detail(await client.post("/api/registrations", headers=VIEWER,
                                    json={"site": "rental-1", "seq": rental.seq, "bed_id": bed_id}), 403)
    assert_detail(await client.post("/api/registrations", headers=POLICE,
                                    json={"site": "rental-1", "seq": rental.seq, "bed_id": bed_id}), 403)
    assert_detail(await client.post("/api/registrations", headers=OPERATOR, content=b"\xff{not json",
                                    params={}), 422)


async def test_places_refusals(client: httpx.AsyncClient) -> None:
    await bed(client)
    assert_detail(await client.post("/api/sites/rental-1/buildings", headers=OPERATOR, json={"name": "B1"}), 409)
    assert_detail(await client.post("/api/sites/mine-1/buildings", headers=OPERATOR, json={"name": "B1"}), 409)
    assert_detail(await client.post("/api/sites/none/buildings", headers=OPERATOR, json={"name": "B1"}), 404)
    assert_detail(await client.post("/api/buildings/999/rooms", headers=OPERATOR, json={"name": "1"}), 404)
    assert_detail(await client.post("/api/rooms/999/beds", headers=OPERATOR, json={"name": "1"}), 404)
    assert_detail(await client.post("/api/rooms/abc/beds", headers=OPERATOR, json={"name": "1"}), 422)
    assert_detail(await client.post("/api/sites/rental-1/buildings", headers=OPERATOR, json={"name": "a\x00b"}), 422)
    assert_detail(await client.post("/api/sites/rental-1/buildings", headers=OPERATOR, json={"name": ""}), 422)
    assert_detail(await client.post("/api/sites/rental-1/buildings", headers=VIEWER, json={"name": "B9"}), 403)
    sql = await client.post("/api/sites/rental-1/buildings", headers=OPERATOR, json={"name": "'); DROP TABLE x;--"})
    assert sql.status_code == 201


async def test_card_refusals(client: httpx.AsyncClient, rental: Site) -> None:
    registration = await registered(client, rental, id_number(1), await bed(client))
    person_id = registration["person"]["id"]
    base = {"site": "rental-1", "uid": CARD, "person_id": person_id}
    for change, status in (
        ({"uid": "zz"}, 422), ({"uid": "0" * 33}, 422), ({"doors": []}, 422), ({"doors": ["a b"]}, 422),
        ({"doors": ["*", "gate"]}, 422), ({"valid_from": "2027-01-01T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"},
                                          422), ({"valid_to": "2027-01-01T00:00:00"}, 422),
        ({"person_id": 999}, 404), ({"site": "nowhere"}, 404), ({"person_id": 0}, 422),
    ):
        assert_detail(await client.post("/api/cards", headers=OPERATOR, json=base | change), status)
    assert (await client.post("/api/cards", headers=OPERATOR, json=base)).status_code == 201
    assert_detail(await client.post("/api/cards", headers=OPERATOR, json=base), 409)
    assert_detail(await client.post("/api/cards/999/revoke", headers=OPERATOR), 404)
    assert_detail(await client.post("/api/registrations/999/move-out", headers=OPERATOR), 404)


async def test_a_failed_send_is_reported_and_the_next_list_is_complete(
    client: httpx.AsyncClient, rental: Site, sender: RecordingSender,
) -> None:
    registration = await registered(client, rental, id_number(1), await bed(client))
    sender.failure = ConnectionError("broker gone")
    card = await client.post("/api/cards", headers=OPERATOR,
                             json={"site": "rental-1", "uid": CARD, "person_id": registration["person"]["id"]})
    assert card.status_code == 201
    assert card.json()["access_list"]["sent"] is False
    assert "broker gone" in card.json()["access_list"]["detail"]
    sender.failure = None
    resent = await client.post("/api/sites/rental-1/access-list", headers=OPERATOR)
    assert resent.json() | {"cmd_id": None} == {"version": 2, "entries": 1, "sent": True, "cmd_id": None,
                                                "detail": None}
    assert [entry["card"] for entry in sent_lists(sender)[0]["entries"]] == [CARD]


async def test_masking_per_role(client: httpx.AsyncClient, rental: Site) -> None:
    number = id_number(1)
    await registered(client, rental, number, await bed(client))
    seen = {}
    for name, headers in (("viewer", VIEWER), ("operator", OPERATOR), ("supervisor", SUPERVISOR)):
        beds = (await client.get("/api/sites/rental-1/beds", headers=headers)).json()
        seen[name] = (beds[0]["person"]["id_number"], beds[0]["person"]["name"])
    masked = number[:6] + "********" + number[-4:]
    assert seen == {"viewer": (masked, "张**"), "operator": (masked, "张三丰"), "supervisor": (number, "张三丰")}
    assert_detail(await client.get("/api/sites/rental-1/beds", headers=POLICE), 403)


async def test_a_watched_person_registering_is_answered_as_anyone_else(
    client: httpx.AsyncClient, engine: AsyncEngine, rental: Site, sender: RecordingSender,
) -> None:
    wanted = id_number(9)
    bed_id = await bed(client)
    await rental.send([rental.id_read(wanted)])
    assert rental.hook.hits == 0  # imported after the read
    await import_csv(client, csv_of([(wanted, "张三丰", "fraud", "case-1")]))
    response = await client.post("/api/registrations", headers=OPERATOR,
                                 json={"site": "rental-1", "seq": rental.seq, "bed_id": bed_id})
    assert response.status_code == 201
    assert set(response.json()) == {"id", "site", "bed_id", "reading_id", "person", "moved_in_at", "moved_in_by",
                                    "moved_out_at", "access_list"}
    assert sender.sent == []
    hits = (await client.get("/api/watchlist/hits", headers=POLICE)).json()["hits"]
    assert [(hit["source"], hit["id_number"]) for hit in hits] == [("registration", wanted)]
    async with engine.connect() as connection:
        assert [d.recipients for d in await list_dispatches(connection)] == [["police-110"]]


async def test_site_kind(client: httpx.AsyncClient) -> None:
    assert_detail(await client.put("/api/sites/new-1/kind", headers=OPERATOR, json={"kind": "rental"}), 403)
    made = await client.put("/api/sites/new-1/kind", headers=SUPERVISOR, json={"kind": "rental", "name": "楼"})
    assert made.json() == {"site": "new-1", "kind": "rental"}
    assert (await client.post("/api/sites/new-1/buildings", headers=OPERATOR, json={"name": "B"})).status_code == 201
    assert_detail(await client.put("/api/sites/new-1/kind", headers=SUPERVISOR, json={"kind": "castle"}), 422)
    assert_detail(await client.put("/api/sites/BAD SITE/kind", headers=SUPERVISOR, json={"kind": "mine"}), 422)


async def test_a_card_uid_of_half_a_byte_is_refused_so_every_list_stays_one_the_site_applies(
    client: httpx.AsyncClient, rental: Site, sender: RecordingSender,
) -> None:
    from edge.access.listing import parse_list

    registration = await registered(client, rental, id_number(1), await bed(client))
    base = {"site": "rental-1", "person_id": registration["person"]["id"]}
    assert (await client.post("/api/cards", headers=OPERATOR, json=base | {"uid": CARD})).status_code == 201
    for odd in ("ABCDE", "0" * 31):  # a site refuses a whole list holding it: revoked cards would stay granted
        assert_detail(await client.post("/api/cards", headers=OPERATOR, json=base | {"uid": odd}), 422)
    for args in sent_lists(sender):
        parse_list(args, 1000)


async def test_readings_mask_a_foreigner_and_a_permit_holder_and_their_photo_below_supervisor(
    client: httpx.AsyncClient, rental: Site,
) -> None:
    number = id_number(1)
    await rental.send([rental.id_read(number, card_type="permit", name_en="ZHANG SANFENG", pass_number="H01234567",
                                      photo_wlt="V0xUZmFjZQ==")])
    for headers in (VIEWER, OPERATOR):
        [item] = (await client.get("/api/readings", headers=headers, params={"kind": "id_read"})).json()["items"]
        shown = str(item["data"])
        for secret in (number, "ZHANG SANFENG", "H01234567", "V0xUZmFjZQ=="):
            assert secret not in shown
    [item] = (await client.get("/api/readings", headers=SUPERVISOR, params={"kind": "id_read"})).json()["items"]
    assert (item["data"]["pass_number"], item["data"]["photo_wlt"]) == ("H01234567", "V0xUZmFjZQ==")


async def test_validity_bounds_beyond_the_calendar_in_utc_are_refused_not_a_crash(
    client: httpx.AsyncClient, rental: Site,
) -> None:
    registration = await registered(client, rental, id_number(1), await bed(client))
    base = {"site": "rental-1", "uid": CARD, "person_id": registration["person"]["id"]}
    for change in ({"valid_from": "0001-01-01T00:00:00+14:00"}, {"valid_to": "9999-12-31T23:59:59-14:00"}):
        assert_detail(await client.post("/api/cards", headers=OPERATOR, json=base | change), 422)


async def test_a_wiegand_card_is_issued_under_the_name_the_door_reader_gives_it(
    client: httpx.AsyncClient, rental: Site, sender: RecordingSender,
) -> None:
    registration = await registered(client, rental, id_number(1), await bed(client))
    base = {"site": "rental-1", "person_id": registration["person"]["id"]}
    issued = await client.post("/api/cards", headers=OPERATOR, json=base | {"uid": "w26:090:00324"})
    assert issued.status_code == 201, issued.text
    assert issued.json()["uid"] == "W26:90:324"  # as drivers.osdp names a 26-bit read
    assert [entry["card"] for entry in sent_lists(sender)[-1]["entries"]] == ["W26:90:324"]
    for bad in ("W26:1:", "W27:1:2", "RAW12:ABC", "W26:1:2:3"):
        assert_detail(await client.post("/api/cards", headers=OPERATOR, json=base | {"uid": bad}), 422)
