"""The demo's rental building, run like a hotel: the service point's ID card reader and an OSDP front door.

The police import their watch-list through the API. The operator sets the building up (rooms and beds). 王小明 lays
his ID card on the counter's reader, is registered onto a bed, gets a card, and central pushes the site its signed
allow-list: his card opens the door, decided at the edge. 赵国强, who is on the watch-list, registers the same way: a
silent dispatch reaches 110, and the counter and the door see nothing different. Then someone forces the door, and the
door is propped open (held). The readers are simulated on pseudo-terminals and speak their real wire protocols (the
SAM serial protocol; OSDP with the secure channel).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
from firmware_sim.door.reader import SimulatedReader as DoorReader
from firmware_sim.idreader import cards
from firmware_sim.idreader.reader import SimulatedReader as IdReader
from firmware_sim.pty_pair import PtyPair

from drivers.idcard.text import CardText
from shaobing.demo.receiver import WebhookReceiver
from shaobing.demo.summary import Expectations

DOOR = "front-door"
HELD_OPEN_AFTER_S = 4.0  # 30 s by default; short so the demo shows a door held open
TENANT_CARD = "04A1B2C3D4E5F6"  # a 7-byte MIFARE UID: the card the tenant is given


async def newest_reading(api: httpx.AsyncClient, site: str, kind: str) -> dict[str, Any] | None:
    response = await api.get("/api/readings", params={"site": site, "kind": kind, "limit": 1})
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items[0] if items else None


async def dispatch_of(api: httpx.AsyncClient, site: str, alarm_class: str) -> dict[str, Any] | None:
    response = await api.get("/api/dispatches", params={"site": site})
    response.raise_for_status()
    for dispatch in response.json():
        if dispatch["alarm_class"] == alarm_class:
            found: dict[str, Any] = dispatch
            return found
    return None


async def list_applied(api: httpx.AsyncClient, answer: dict[str, Any],
                       until: Callable[[str, Callable[[], Awaitable[bool]], float], Awaitable[bool]]) -> str | None:
    """Wait for the site's result of the allow-list a card change sent; its detail when applied, else None."""
    sent = answer.get("access_list") or {}
    cmd_id = sent.get("cmd_id")
    if not sent.get("sent") or not cmd_id:
        return None
    detail: list[str] = []

    async def applied() -> bool:
        command = (await api.get(f"/api/commands/{cmd_id}")).json()
        if command.get("ok") is True:
            detail.append(str(command.get("detail")))
            return True
        return False

    return detail[0] if await until("the allow-list's result", applied, 15.0) else None


@dataclass
class RentalScene:
    api: httpx.AsyncClient  # with the operator's token
    site: str
    police_token: str
    supervisor_token: str
    guards: WebhookReceiver
    police: WebhookReceiver
    say: Callable[[str], None]
    until: Callable[[str, Callable[[], Awaitable[bool]], float], Awaitable[bool]]
    scbk: str = field(default_factory=lambda: secrets.token_hex(16))
    counter_line: PtyPair = field(default_factory=PtyPair)
    door_line: PtyPair = field(default_factory=PtyPair)
    tenant: CardText = field(default_factory=lambda: cards.resident("王小明", birth=date(1991, 1, 1), region="360426",
                                                                    sequence=7))
    wanted: CardText = field(default_factory=lambda: cards.resident(
        "赵国强", birth=date(1985, 6, 12), region="410102", sequence=31, address="河南省郑州市中原区建设路9号",
        authority="郑州市公安局中原分局"))
    beds: dict[str, int] = field(default_factory=dict)  # "101-A" -> bed id
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.id_reader = IdReader(self.counter_line.master_fd)
        self.door = DoorReader(self.door_line.master_fd, scbk=bytes.fromhex(self.scbk))

    def start(self) -> None:
        """The readers answer from now on; the edge box is started with their ports."""
        self.tasks.append(asyncio.create_task(self.id_reader.serve(), name="demo-id-reader"))
        self.door.start()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.door.stop()
        self.counter_line.close()
        self.door_line.close()

    def _as(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # -- set-up: the watch-list, the building ------------------------------------------------------------------

    async def set_up(self, expect: Expectations) -> bool:
        csv = ("id_number,name,reason,case_ref\n"
               f"{self.wanted.id_number},{self.wanted.name},wanted for robbery,A-2026-0417\n")
        imported = await self.api.post("/api/watchlist/import", content=csv.encode(),
                                       headers={**self._as(self.police_token), "Content-Type": "text/csv"})
        expect.check("police imported the watch-list through the API", imported.status_code == 200)
        if imported.status_code != 200:
            self.say(f"!! watch-list import: HTTP {imported.status_code} {imported.text}")
            return False
        self.say(f"police: watch-list imported ({imported.json()['entries']} wanted person; central keeps only keyed "
                 "hashes of the ID numbers)")
        kind = await self.api.put(f"/api/sites/{self.site}/kind", json={"kind": "rental", "name": "幸福公寓"},
                                  headers=self._as(self.supervisor_token))
        kind.raise_for_status()
        building = await self.api.post(f"/api/sites/{self.site}/buildings", json={"name": "1号楼"})
        building.raise_for_status()
        for room_name in ("101", "102"):
            room = await self.api.post(f"/api/buildings/{building.json()['id']}/rooms", json={"name": room_name})
            room.raise_for_status()
            for bed_name in ("A", "B"):
                bed = await self.api.post(f"/api/rooms/{room.json()['id']}/beds", json={"name": bed_name})
                bed.raise_for_status()
                self.beds[f"{room_name}-{bed_name}"] = bed.json()["id"]
        listed = await self.api.get(f"/api/sites/{self.site}/beds")
        expect.check("the rental building's rooms and beds created through the API",
                     listed.status_code == 200 and len(listed.json()) == len(self.beds))
        self.say(f"operator: {self.site} 幸福公寓 building 1号楼, rooms 101 and 102, {len(self.beds)} beds")

        async def ready() -> bool:
            site = (await self.api.get(f"/api/sites/{self.site}")).json()
            return bool(site.get("online")) and self.door.online

        up = await self.until(f"{self.site} online", ready, 30.0)
        expect.check(f"{self.site} online, its front door reader on the OSDP secure channel", up and self.door.secure)
        return up

    # -- the scene -----------------------------------------------------------------------------------------------

    async def _read_at_counter(self, card: CardText) -> dict[str, Any] | None:
        """Lay the card on the service point's reader until its id_read is at central; that reading."""
        before = await newest_reading(self.api, self.site, "id_read")
        found: list[dict[str, Any]] = []

        async def read() -> bool:
            newest = await newest_reading(self.api, self.site, "id_read")
            if newest is not None and (before is None or newest["id"] != before["id"]):
                found.append(newest)
                return True
            return False

        self.id_reader.present(card)
        try:
            arrived = await self.until("the id_read at central", read, 15.0)
        finally:
            self.id_reader.lift()
        return found[0] if arrived else None

    async def _register(self, reading: dict[str, Any], bed: str) -> httpx.Response:
        return await self.api.post("/api/registrations", json={"site": self.site, "bed_id": self.beds[bed],
                                                               "reading_id": reading["id"]})

    async def _swipe(self, uid: str) -> bool:
        """Present a card at the door; True once the reader pulsed the lock and central has the granted swipe."""
        pulses = len(self.door.received.pulses)
        before = await newest_reading(self.api, self.site, "card_swipe")
        self.door.present_raw(bytes.fromhex(uid), len(uid) * 4, wiegand=False)

        async def granted() -> bool:
            newest = await newest_reading(self.api, self.site, "card_swipe")
            return (len(self.door.received.pulses) > pulses and newest is not None
                    and (before is None or newest["id"] != before["id"])
                    and newest["data"].get("card") == uid and newest["data"].get("decision") == "granted")

        return await self.until("the granted swipe", granted, 10.0)

    async def play(self, expect: Expectations) -> None:
        if not await self.set_up(expect):
            return
        registration = await self._tenant_moves_in(expect)
        if registration is None:
            return
        await self._wanted_person(expect, registration)
        await self._door_alarms(expect)

    async def _tenant_moves_in(self, expect: Expectations) -> httpx.Response | None:
        self.say(f"{self.site}: 王小明 lays his ID card on the service point's reader (SAM serial protocol)")
        reading = await self._read_at_counter(self.tenant)
        expect.check("the tenant's ID card read reached central (id_read)", reading is not None)
        if reading is None:
            return None
        registration = await self._register(reading, "101-A")
        expect.check("the tenant registered onto a bed through the API", registration.status_code == 201)
        if registration.status_code != 201:
            self.say(f"!! registration: HTTP {registration.status_code} {registration.text}")
            return None
        person = registration.json()["person"]
        self.say(f"operator: {person['name']} ({person['id_number']}) registered on bed 101-A from id_read "
                 f"#{reading['id']}")
        issued = await self.api.post("/api/cards", json={"site": self.site, "uid": TENANT_CARD,
                                                         "person_id": person["id"], "doors": [DOOR]})
        applied = await list_applied(self.api, issued.json(), self.until) if issued.status_code == 201 else None
        expect.check("card issued; the signed allow-list applied at the building's edge", applied is not None)
        if applied is None:
            self.say(f"!! card or allow-list: HTTP {issued.status_code} {issued.text}")
            return None
        self.say(f"operator: card {TENANT_CARD} issued to 王小明 for the {DOOR}; the edge says: {applied}")
        opened = await self._swipe(TENANT_CARD)
        expect.check("the tenant's card opens the door (granted at the edge, lock pulsed)", opened)
        if opened:
            self.say(f"{self.site}: 王小明's card at the {DOOR}: granted at the edge box, green light, lock pulsed")
            self.door.door(True)  # he walks in: an opening his card excused, no alarm
            await asyncio.sleep(1.0)
            self.door.door(False)
        return registration

    async def _wanted_person(self, expect: Expectations, tenant: httpx.Response) -> None:
        self.say(f"{self.site}: 赵国强 registers at the counter the same way; he is on the police watch-list")
        commands_at_door = len(self.door.received.commands)
        reading = await self._read_at_counter(self.wanted)
        registration = await self._register(reading, "102-A") if reading is not None else None
        expect.check("the watch-listed person registered onto a bed like anybody (201)",
                     registration is not None and registration.status_code == 201)

        def hits() -> list[dict[str, Any]]:
            return [d.payload for d in self.police.received
                    if d.payload.get("dispatch", {}).get("alarm_class") == "watchlist"]

        async def police_told() -> bool:
            return bool(hits())

        told = await self.until("110's watch-list dispatch", police_told, 15.0)
        expect.check("a silent watch-list dispatch reached the 110 webhook receiver", told)
        if told:
            listed = hits()[0].get("watchlist", {})
            self.say(f"-> 110: watch-list hit at {listed.get('site')} {listed.get('service_point')}: "
                     f"{listed.get('listed_name')}, {listed.get('reason')} (case {listed.get('case_ref')})")
        same = (registration is not None and registration.status_code == tenant.status_code
                and set(registration.json()) == set(tenant.json()) and "watch" not in registration.text)
        guards_told = any(d.payload.get("dispatch", {}).get("alarm_class") == "watchlist"
                          for d in self.guards.received)
        door_quiet = len(self.door.received.commands) == commands_at_door
        expect.check("nothing shows at the counter or the door (same answer, no door command, no guard told)",
                     same and door_quiet and not guards_told)
        self.say(f"{self.site}: the counter's answer is the same as for anybody; the door was told nothing")
        listed_for_staff = await self.api.get("/api/dispatches", params={"site": self.site})
        expect.check("the monitoring centre's staff do not see the watch-list dispatch",
                     listed_for_staff.status_code == 200
                     and all(d["alarm_class"] != "watchlist" for d in listed_for_staff.json()))
        operator_sees = await self.api.get("/api/watchlist/hits")
        police_sees = await self.api.get("/api/watchlist/hits", headers=self._as(self.police_token))
        expect.check("watch-list hits are for the police only (operator 403)",
                     operator_sees.status_code == 403 and police_sees.status_code == 200
                     and len(police_sees.json()["hits"]) >= 1)

    async def _door_alarms(self, expect: Expectations) -> None:
        self.say(f"{self.site}: 02:30 someone forces the {DOOR} (no card, no exit button)")
        self.door.door(True)

        async def raised(alarm_class: str) -> bool:
            return await dispatch_of(self.api, self.site, alarm_class) is not None

        forced = await self.until("the forced_door dispatch", lambda: raised("forced_door"), 10.0)
        expect.check("a forced door raises a forced_door alarm", forced)
        await asyncio.sleep(0.5)
        self.door.door(False)
        dispatch = await dispatch_of(self.api, self.site, "forced_door")
        if dispatch is not None:  # a guard goes to look; acknowledged in time, it does not go on to 110
            ack = await self.api.post(f"/api/dispatches/{dispatch['id']}/actions", json={"action": "acknowledge"})
            if ack.status_code == 200:
                self.say(f"operator: acknowledge dispatch #{dispatch['id']} (forced door; a guard goes to look)")

        self.say(f"{self.site}: 王小明 opens the door with his card and props it open "
                 f"(held after {HELD_OPEN_AFTER_S:.0f} s in this demo)")
        opened = await self._swipe(TENANT_CARD)
        self.door.door(True)
        held = opened and await self.until("the held_door dispatch", lambda: raised("held_door"),
                                           HELD_OPEN_AFTER_S + 10.0)
        expect.check("a door held open raises a held_door alarm", held)
        self.door.door(False)
        self.say(f"{self.site}: the door is closed again")
