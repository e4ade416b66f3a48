"""The demo's mine community: pithead readers at one edge box, the underground headcount and a key person.

Miners carry residence cards. Going down they tap in at the pithead-in gate (an OSDP reader); coming up they tap out
at pithead-out, a PC/SC desk reader (pcscd with the vpcd virtual reader and virtual cards) when this machine can run a
private pcscd, else a second OSDP reader. The mine's headcount limit is small: the fourth miner below raises the
headcount alarm, and the list of who is below is printed; one miner coming up restores it. The key person (an
explosives handler) stays below, unseen, past the short absence time: central opens an alert, and his swipe coming up
closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from firmware_sim.door.reader import SimulatedReader as DoorReader
from firmware_sim.idreader.cards import id_number
from firmware_sim.pty_pair import PtyPair
from firmware_sim.vcard import pcscd as private_pcscd
from firmware_sim.vcard.card import CardBehaviour, VirtualCard
from firmware_sim.vcard.pcscd import Pcscd

from shaobing.demo.rental import dispatch_of, list_applied, newest_reading
from shaobing.demo.summary import Expectations

GATE_IN, GATE_OUT = "pithead-in", "pithead-out"


@dataclass
class Miner:
    name: str
    id_number: str
    card: str  # the residence card's UID
    key_person: bool = False
    person_id: int = 0


def _miners() -> list[Miner]:
    return [
        Miner("李强", id_number("140202", date(1979, 3, 8), 15, "male"), "04C1D2E3F4A501", key_person=True),
        Miner("王刚", id_number("140203", date(1984, 7, 21), 23, "male"), "04C1D2E3F4A502"),
        Miner("刘洋", id_number("140211", date(1990, 12, 2), 37, "male"), "04C1D2E3F4A503"),
        Miner("陈磊", id_number("140212", date(1993, 5, 30), 41, "male"), "04C1D2E3F4A504"),
    ]


@dataclass
class MineScene:
    api: httpx.AsyncClient  # with the operator's token
    site: str
    supervisor_token: str
    limit: int
    key_absent_s: float
    workdir: Path
    say: Callable[[str], None]
    until: Callable[[str, Callable[[], Awaitable[bool]], float], Awaitable[bool]]
    scbk: str
    miners: list[Miner] = field(default_factory=_miners)
    in_line: PtyPair = field(default_factory=PtyPair)
    out_line: PtyPair | None = None  # pithead out over OSDP when there is no pcscd
    pcscd: Pcscd | None = None

    def __post_init__(self) -> None:
        self.gate_in = DoorReader(self.in_line.master_fd, scbk=bytes.fromhex(self.scbk))
        self.gate_out: DoorReader | None = None

    async def start(self) -> str | None:
        """Start the pithead's readers: PC/SC at the way out if a private pcscd runs, else OSDP (and the reason)."""
        self.gate_in.start()
        reason = await asyncio.to_thread(self._start_pcscd)
        if reason is None:
            return None
        self.out_line = PtyPair()
        self.gate_out = DoorReader(self.out_line.master_fd, scbk=bytes.fromhex(self.scbk)).start()
        return reason

    def _start_pcscd(self) -> str | None:
        """Start a private pcscd (blocking: run it in a thread); None when it runs, else why it does not."""
        reason = private_pcscd.unavailable()
        if reason is not None:
            return reason
        try:
            pcscd = Pcscd(self.workdir / "pcscd-run", self.workdir / "pcscd")
            pcscd.start()
        except (OSError, private_pcscd.PcscdFailed) as failure:
            return f"{failure} (see {self.workdir / 'pcscd' / 'pcscd.log'})"
        self.pcscd = pcscd
        return None

    @property
    def edge_env(self) -> dict[str, str]:
        """What the edge box needs in its environment: the private pcscd's socket."""
        return {"PCSCLITE_CSOCK_NAME": str(self.pcscd.socket_path)} if self.pcscd is not None else {}

    async def stop(self) -> None:
        for reader in (self.gate_in, self.gate_out):
            if reader is not None:
                reader.stop()
        self.in_line.close()
        if self.out_line is not None:
            self.out_line.close()
        if self.pcscd is not None:
            self.pcscd.stop()

    # -- set-up: doors, miners, cards --------------------------------------------------------------------------

    async def set_up(self, expect: Expectations) -> bool:
        supervisor = {"Authorization": f"Bearer {self.supervisor_token}"}
        (await self.api.put(f"/api/sites/{self.site}/kind", json={"kind": "mine", "name": "红旗煤矿"},
                            headers=supervisor)).raise_for_status()
        for door, direction in ((GATE_IN, "in"), (GATE_OUT, "out")):
            (await self.api.put(f"/api/mines/{self.site}/doors/{door}", json={"direction": direction}))\
                .raise_for_status()

        async def ready() -> bool:
            site = (await self.api.get(f"/api/sites/{self.site}")).json()
            return bool(site.get("online")) and self.gate_in.online and (self.gate_out is None or self.gate_out.online)

        up = await self.until(f"{self.site} online", ready, 30.0)
        expect.check(f"{self.site} online with its pithead readers", up)
        if not up:
            return False
        issued: dict[str, Any] = {}
        for miner in self.miners:
            person = await self.api.post("/api/persons", json={"id_number": miner.id_number, "name": miner.name,
                                                               "key_person": miner.key_person})
            person.raise_for_status()
            miner.person_id = person.json()["id"]
            card = await self.api.post("/api/cards", json={"site": self.site, "uid": miner.card,
                                                           "person_id": miner.person_id, "doors": [GATE_IN, GATE_OUT]})
            card.raise_for_status()
            issued = card.json()
        applied = await list_applied(self.api, issued, self.until)
        expect.check("miners and their residence cards entered; the signed allow-list applied at the mine", applied
                     is not None)
        key = next(m for m in self.miners if m.key_person)
        self.say(f"operator: {self.site} 红旗煤矿: {len(self.miners)} miners with residence cards "
                 f"({key.name} a key person: explosives handler); headcount limit {self.limit}; the edge says: "
                 f"{applied}")
        return applied is not None

    # -- the scene -----------------------------------------------------------------------------------------------

    async def _swiped(self, miner: Miner, door: str, present: Callable[[], Awaitable[None]]) -> bool:
        """Present the miner's card; True once central has the granted swipe at that door."""
        before = await newest_reading(self.api, self.site, "card_swipe")

        async def arrived() -> bool:
            newest = await newest_reading(self.api, self.site, "card_swipe")
            return (newest is not None and (before is None or newest["id"] != before["id"])
                    and newest["data"].get("card") == miner.card and newest["data"].get("door") == door
                    and newest["data"].get("decision") == "granted")

        await present()
        return await self.until(f"{miner.name}'s swipe at {door}", arrived, 10.0)

    async def _down(self, miner: Miner) -> bool:
        async def tap() -> None:
            self.gate_in.present_raw(bytes.fromhex(miner.card), len(miner.card) * 4, wiegand=False)

        return await self._swiped(miner, GATE_IN, tap)

    async def _up(self, miner: Miner) -> bool:
        if self.pcscd is None:
            gate_out = self.gate_out
            assert gate_out is not None

            async def tap() -> None:
                gate_out.present_raw(bytes.fromhex(miner.card), len(miner.card) * 4, wiegand=False)

            return await self._swiped(miner, GATE_OUT, tap)
        card = VirtualCard(CardBehaviour(uid=bytes.fromhex(miner.card)), port=self.pcscd.port)

        async def put_on() -> None:
            await card.insert(within=5.0)

        try:
            return await self._swiped(miner, GATE_OUT, put_on)
        finally:
            await card.remove()

    async def _underground(self) -> dict[str, Any]:
        response = await self.api.get(f"/api/mines/{self.site}/underground")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    async def play(self, expect: Expectations) -> None:
        if not await self.set_up(expect):
            return
        key = next(m for m in self.miners if m.key_person)
        self.say(f"{self.site}: the morning shift goes down, one by one through the {GATE_IN} gate (OSDP reader)")
        went_down = True
        for miner in self.miners:  # the key person first: his absence clock starts with his swipe
            went_down = await self._down(miner) and went_down
            self.say(f"{self.site}: {miner.name} taps in at {GATE_IN}: granted at the edge box")
        expect.check(f"every miner's swipe at {GATE_IN} granted", went_down)

        async def over() -> bool:
            return await dispatch_of(self.api, self.site, "headcount") is not None

        alarmed = await self.until("the headcount dispatch", over, 10.0)
        below = await self._underground()
        expect.check(f"headcount over the limit ({len(self.miners)} > {self.limit}) raises the headcount alarm",
                     alarmed and below["over_limit"] is True)
        self.say(f"central: {below['count']} below ground, limit {below['limit']}: "
                 + ", ".join(f"{p['person']['name']}{' (key person)' if p['person']['key_person'] else ''} since "
                             f"{p['since'][11:19]}" for p in below["people"]))
        expect.check("the list of who is below names every miner", {p["person"]["id"] for p in below["people"]}
                     == {m.person_id for m in self.miners})

        reader = "a PC/SC desk reader, virtual card on vpcd" if self.pcscd is not None else "OSDP reader"
        leaving = self.miners[-1]
        self.say(f"{self.site}: {leaving.name} comes up and taps out at {GATE_OUT} ({reader})")
        came_up = await self._up(leaving)

        async def restored() -> bool:
            dispatch = await dispatch_of(self.api, self.site, "headcount")
            if dispatch is None:
                return False
            detail = (await self.api.get(f"/api/dispatches/{dispatch['id']}")).json()
            return any(step["action"] == "restore" for step in detail["transitions"])

        back = came_up and await self.until("the headcount's restore", restored, 10.0)
        expect.check(f"a miner tapping out at {GATE_OUT} brings the headcount back within the limit (restore)", back)
        if back:
            self.say(f"central: {(await self._underground())['count']} below ground: within the limit again")

        async def absent() -> bool:
            tickets = (await self.api.get(f"/api/sites/{self.site}/tickets")).json()
            return any(t["trouble_class"] == "key_person_absent" and t["zone"] == str(key.person_id)
                       for t in tickets)

        alert = await self.until("the key person's absence alert", absent, self.key_absent_s + 15.0)
        expect.check(f"the key person not seen for {self.key_absent_s:.0f} s raises an alert", alert)
        if alert:
            self.say(f"central: key person {key.name} not seen by any reader for {self.key_absent_s:.0f} s "
                     "(this demo's absence time): alert opened")
        self.say(f"{self.site}: {key.name} comes up and taps out at {GATE_OUT}")
        seen = await self._up(key)

        async def closed() -> bool:
            return not await absent()

        closed_again = seen and await self.until("the alert's close", closed, 10.0)
        expect.check("the key person seen again closes the alert", closed_again)
        if closed_again:
            self.say(f"central: {key.name} seen at {GATE_OUT}: the alert is closed")
