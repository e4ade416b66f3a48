"""The demo's e-bikes: GT06 trackers through a tracker gateway, their owners on the API, and one theft.

Two owners and three bikes. 张伟's two bikes are parked and armed: one only drifts where it stands (GPS wander with
multipath jumps, which must raise nothing), the other is stolen. The theft rule raises one theft alarm, the SMS gateway
texts the owner, the owner confirms the theft, 110 receives it with a live link, the police open the link, the owner
stops the engine, and downloads the track as GPX. 李娜's bike is ridden around, disarmed; she cannot see 张伟's bikes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import SimTracker, TrackerSettings
from firmware_sim.tracker.fleet import parking_spot
from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at
from firmware_sim.tracker.streets import StreetGrid

from shaobing.demo.receiver import WebhookReceiver
from shaobing.demo.summary import Expectations

# Short intervals so the demo shows a theft within seconds; trackers in the field report every 10-30 s.
DEMO_TRACKERS = TrackerSettings(interval_s=2.0, heartbeat_s=30.0, steal_delay_s=2.0)
GPX = "{http://www.topografix.com/GPX/1/1}"
# The owners' accounts, fixed so a person can log in to the owners' pages (/my/) while the demo plays.
OWNERS = {
    "zhang": {"phone": "+8613800138000", "name": "张伟", "password": "zhangwei-bike-1"},
    "li": {"phone": "+8613900139000", "name": "李娜", "password": "lina-bike-2"},
}


@dataclass
class DemoBike:
    imei: str
    name: str
    plate: str
    bind_code: str
    owner: str  # the owner's key in BikeScene.owners
    tracker: SimTracker | None = None


@dataclass
class BikeScene:
    api: httpx.AsyncClient  # with the operator's token
    gateway: tuple[str, int]
    sms: WebhookReceiver
    police: WebhookReceiver
    say: Callable[[str], None]
    until: Callable[[str, Callable[[], Awaitable[bool]], float], Awaitable[bool]]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    owners: dict[str, dict[str, str]] = field(default_factory=dict)  # key -> phone, name, password, token
    bikes: list[DemoBike] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.owners = {key: dict(owner) for key, owner in OWNERS.items()}
        self.bikes = [
            DemoBike(imei_at(DEFAULT_BASE, 0), "小蓝", "深圳A12345", secrets.token_hex(4), "zhang"),
            DemoBike(imei_at(DEFAULT_BASE, 1), "小白", "深圳A23456", secrets.token_hex(4), "zhang"),
            DemoBike(imei_at(DEFAULT_BASE, 2), "绿驹", "深圳B34567", secrets.token_hex(4), "li"),
        ]

    @property
    def stolen(self) -> DemoBike:
        return self.bikes[0]

    @property
    def parked(self) -> DemoBike:
        return self.bikes[1]

    def _as(self, owner: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owners[owner]['token']}"}

    async def _owner_call(self, owner: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.request(method, path, headers=self._as(owner), **kwargs)

    # -- set-up: accounts, trackers, claims --------------------------------------------------------------------

    async def set_up(self, expect: Expectations) -> bool:
        for bike in self.bikes:
            response = await self.api.post("/api/trackers", json={"imei": bike.imei, "bind_code": bike.bind_code})
            if response.status_code not in (200, 201):
                self.say(f"!! provisioning {bike.imei}: HTTP {response.status_code} {response.text}")
                return False
        self.say("operator: 3 trackers provisioned, each with the bind code printed on its box")
        for key, owner in self.owners.items():
            body = {"phone": owner["phone"], "name": owner["name"], "password": owner["password"]}
            (await self.api.post("/api/owners", json=body, headers={"Authorization": ""})).raise_for_status()
            login = await self.api.post("/api/owners/login", json={"phone": owner["phone"],
                                                                   "password": owner["password"]},
                                        headers={"Authorization": ""})
            login.raise_for_status()
            owner["token"] = login.json()["token"]
            self.owners[key] = owner
        for bike in self.bikes:
            claim = await self._owner_call(bike.owner, "POST", "/api/my/bikes",
                                           json={"imei": bike.imei, "bind_code": bike.bind_code,
                                                 "name": bike.name, "plate": bike.plate})
            if claim.status_code != 201:
                self.say(f"!! claiming {bike.name}: HTTP {claim.status_code} {claim.text}")
                return False
            self.say(f"owner {self.owners[bike.owner]['name']}: registered e-bike {bike.name} ({bike.plate}) "
                     f"by its tracker's IMEI and bind code")
        other = await self._owner_call("li", "GET", f"/api/my/bikes/{self.stolen.imei}")
        expect.check("an owner cannot see another owner's bike (404)", other.status_code == 404)
        return True

    def start_trackers(self) -> None:
        grid = StreetGrid()
        for bike in self.bikes:
            sim_bike = Bike(grid, parking_spot(grid, self.rng), self.rng)
            bike.tracker = SimTracker(bike.imei, self.gateway, sim_bike, self.rng, settings=DEMO_TRACKERS,
                                      on_event=self._tracker_event)
            self.tasks.append(asyncio.create_task(bike.tracker.run(), name=f"demo-tracker-{bike.name}"))
        rider = self.bikes[2].tracker
        assert rider is not None
        rider.ride(min_blocks=4)

    def _tracker_event(self, tracker: SimTracker, text: str) -> None:
        if text == "stolen" or text.startswith(("stolen bike", "command")):
            name = next(bike.name for bike in self.bikes if bike.imei == tracker.imei)
            self.say(f"tracker of {name}: {text}")

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- the scene -----------------------------------------------------------------------------------------------

    async def _bike(self, bike: DemoBike) -> dict[str, Any]:
        response = await self._owner_call(bike.owner, "GET", f"/api/my/bikes/{bike.imei}")
        response.raise_for_status()
        found: dict[str, Any] = response.json()
        return found

    async def play(self, expect: Expectations) -> None:
        if not await self.set_up(expect):
            expect.check("e-bikes registered by their owners", False)
            return
        self.start_trackers()

        async def positioned() -> bool:
            states = [await self._bike(bike) for bike in self.bikes]
            return all(state.get("position") for state in states)

        expect.check("every tracker's position reached central",
                     await self.until("the trackers' first positions", positioned, 30.0))
        for bike in (self.stolen, self.parked):
            (await self._owner_call(bike.owner, "POST", f"/api/my/bikes/{bike.imei}/arm")).raise_for_status()
        self.say("owner 张伟: armed 小蓝 and 小白 from the phone; they stand in the street, their GPS drifting")
        await asyncio.sleep(8.0)  # a few drifting fixes of both parked bikes before the theft

        self.say("02:20 a thief rides off on 小蓝 (深圳A12345)")
        assert self.stolen.tracker is not None
        stolen_at = time.monotonic()
        self.stolen.tracker.steal(power_cut=False, vibrations=1)

        def texts(event: str, imei: str) -> list[dict[str, Any]]:
            return [d.payload for d in self.sms.received if d.event == event and d.payload.get("imei") == imei]

        async def owner_texted() -> bool:
            return bool(texts("owner.theft", self.stolen.imei))

        texted = await self.until("the owner's theft text", owner_texted, 60.0)
        expect.check("the owner is texted about the theft", texted)
        if not texted:
            return
        message = texts("owner.theft", self.stolen.imei)[0]
        self.say(f"-> SMS to {message['to'][:7]}****: {message['text']} "
                 f"({time.monotonic() - stolen_at:.1f} s after the thief rode off)")

        confirm = await self._owner_call("zhang", "POST", f"/api/my/bikes/{self.stolen.imei}/theft")
        expect.check("the owner confirms the theft", confirm.status_code in (200, 201))
        if confirm.status_code not in (200, 201):
            self.say(f"!! confirming the theft: HTTP {confirm.status_code} {confirm.text}")
            return
        link = confirm.json()["link"]["url"]
        self.say(f"owner 张伟: \"my bike is stolen\" -> dispatch #{confirm.json()['dispatch_id']} to 110 with a "
                 f"live link {link}")

        def police_theft() -> list[dict[str, Any]]:
            return [d.payload for d in self.police.received
                    if d.payload.get("dispatch", {}).get("alarm_class") == "theft"]

        async def police_has_link() -> bool:
            return any(link in str(payload) for payload in police_theft())

        expect.check("110 received the theft with the live link", await self.until("110's theft", police_has_link,
                                                                                   20.0))
        token = link.rsplit("/", 1)[-1]  # the link opens the police's page, which reads this API path
        shared = await self.api.get(f"/api/share/{token}", headers={"Authorization": ""})
        shared_ok = shared.status_code == 200 and "phone" not in shared.text
        expect.check("the police open the live link without an account (no owner data in it)", shared_ok)
        if shared_ok:
            self.say(f"police: the live link shows {self._where(shared.json())}")

        stop = await self._owner_call("zhang", "POST", f"/api/my/bikes/{self.stolen.imei}/commands",
                                      json={"name": "engine_stop"})
        if stop.status_code == 202:
            cmd_id = stop.json()["cmd_id"]

            async def answered() -> bool:
                command = await self._owner_call("zhang", "GET",
                                                 f"/api/my/bikes/{self.stolen.imei}/commands/{cmd_id}")
                return command.status_code == 200 and command.json().get("ok") is True

            stopped = await self.until("the tracker's answer to engine stop", answered, 40.0)
            expect.check("engine stop reached the stolen bike's tracker and it answered", stopped)
            if stopped:
                self.say("owner 张伟: engine stop -> the tracker answered \"Cut off the fuel supply: Success!\"")
        else:
            expect.check("engine stop reached the stolen bike's tracker and it answered", False)
            self.say(f"!! engine stop: HTTP {stop.status_code} {stop.text}")

        gpx = await self._owner_call("zhang", "GET", f"/api/my/bikes/{self.stolen.imei}/track.gpx")  # the last 24 h
        points = 0
        with contextlib.suppress(ElementTree.ParseError):
            points = len(ElementTree.fromstring(gpx.content).findall(f".//{GPX}trkpt"))
        expect.check("the stolen bike's track downloads as GPX", gpx.status_code == 200 and points > 0)
        if gpx.status_code != 200:
            self.say(f"!! track.gpx: HTTP {gpx.status_code} {gpx.text[:200]}")
        self.say(f"owner 张伟: downloaded the track as GPX ({points} points) for the police report")

    @staticmethod
    def _where(shared: dict[str, Any]) -> str:
        position = shared.get("position") or {}
        if position.get("lat") is None:
            return "no GPS fix yet"
        return f"{position['lat']:.5f}, {position['lon']:.5f} at {position.get('fix_time')}"

    async def check_at_end(self, expect: Expectations) -> None:
        """What must hold once the scenario is over: one theft dispatch, none for the bike that only drifted."""
        listing = await self.api.get("/api/dispatches")
        listing.raise_for_status()
        thefts = [d for d in listing.json() if d["alarm_class"] == "theft"]
        expect.check("exactly one theft dispatch for the stolen bike",
                     sum(1 for d in thefts if d["zone"] == self.stolen.imei) == 1)
        expect.check("no theft alarm for the parked bike whose GPS only drifted",
                     not any(d["zone"] == self.parked.imei for d in listing.json()))
        parked = await self._bike(self.parked)
        expect.check("the parked bike is still armed and not alarmed",
                     parked.get("armed") is True and parked.get("theft_state") is None)
