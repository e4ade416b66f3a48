"""The demo: a private broker, central on SQLite, two shops, a tracker gateway, a rental building and a mine community
with real edge agents, simulated panels, e-bike trackers and card readers, and a scenario.

Central and the edge agents run as separate processes (`shaobing central`, `shaobing edge`), exactly as deployed; the
panels, the trackers, the card readers, the three webhook recipients (security company, 110, the owners' SMS gateway),
the operator, supervisor and police at the console and the bikes' owners on their phones live in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from firmware_sim.contact_id_panel import ContactIdPanel
from firmware_sim.dc09_dialler import Dc09Dialler, sia_event
from firmware_sim.pty_pair import PtyPair
from firmware_sim.vcard.pcscd import READER as VPCD_READER

from shaobing.access_list import private_key_text, public_key_text
from shaobing.broker import BrokerUser, MosquittoBroker
from shaobing.demo import configs
from shaobing.demo.bikes import OWNERS, BikeScene
from shaobing.demo.console import (
    OPERATOR,
    SUPERVISOR,
    console_settings,
    follow_plan,
    log_in,
    password_hashes,
    site_profile,
    where_to_look,
)
from shaobing.demo.mine import MineScene
from shaobing.demo.receiver import Delivery, WebhookReceiver
from shaobing.demo.rental import DOOR as RENTAL_DOOR
from shaobing.demo.rental import HELD_OPEN_AFTER_S, RentalScene
from shaobing.demo.summary import Expectations, print_summary
from shaobing.net import bound_socket, free_port, split_host_port

ESCALATE_AFTER_S = 15.0  # production default is 120 s; short so the demo shows the escalation
CID_SHOP, DC09_SHOP, TRACKERS = "shop-001", "shop-002", "trackers-001"
RENTAL, MINE = "rental-001", "mine-001"
SITES = (CID_SHOP, DC09_SHOP, TRACKERS, RENTAL, MINE)
UNDERGROUND_LIMIT = 3  # small, so the demo's fourth miner below raises the headcount alarm
KEY_PERSON_ABSENT_S = 10.0  # production default is 12 h; short so the demo shows a key person's absence
DC09_ACCOUNT = "5678"


class Narrator:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {message}", flush=True)


class Demo:
    def __init__(self, workdir: Path, http: str) -> None:
        self.workdir = workdir
        self.http = http
        self.say = Narrator().say
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stops: list[Callable[[], Awaitable[None]]] = []  # simulated devices to stop when the demo ends
        self.passwords = {name: secrets.token_urlsafe(12) for name in (*SITES, "_central-1")}
        self.operator_token = secrets.token_urlsafe(24)
        self.supervisor_token = secrets.token_urlsafe(24)
        self.police_token = secrets.token_urlsafe(24)
        self.list_key = Ed25519PrivateKey.generate()  # central signs the sites' allow-lists with it
        self.api = httpx.AsyncClient(base_url=f"http://{http}",
                                     headers={"Authorization": f"Bearer {self.operator_token}"}, timeout=5.0)

    # --- processes -------------------------------------------------------------------------------------------
    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", "shaobing", *args], stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                env={**os.environ, **env} if env else None)
        log.close()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    async def until(self, what: str, check: Callable[[], Awaitable[bool]], within: float = 20.0) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if await check():
                    return True
            for name, process in self.processes.items():
                if process.poll() is not None and name != DC09_SHOP:
                    self.say(f"!! {name} exited with {process.returncode}; see {self.workdir / (name + '.log')}")
                    return False
            await asyncio.sleep(0.2)
        self.say(f"!! gave up waiting for {what}")
        return False

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.get(path, params=params)
        response.raise_for_status()
        return response.json()

    async def site(self, site: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.get(f"/api/sites/{site}")
        return found

    async def dispatch_for(self, site: str, alarm_class: str) -> dict[str, Any] | None:
        for dispatch in await self.get("/api/dispatches", site=site):
            if dispatch["alarm_class"] == alarm_class:
                found: dict[str, Any] = dispatch
                return found
        return None

    async def act(self, dispatch_id: int, action: str, **body: Any) -> None:
        response = await self.api.post(f"/api/dispatches/{dispatch_id}/actions", json={"action": action, **body})
        if response.status_code != 200:
            self.say(f"!! {action} on dispatch #{dispatch_id}: HTTP {response.status_code} {response.text}")
        else:
            self.say(f"operator: {action.replace('_', ' ')} dispatch #{dispatch_id}"
                     + (f" ({', '.join(f'{k}={v}' for k, v in body.items())})" if body else ""))

    async def _site_profiles(self, expect: Expectations) -> None:
        """The supervisor gives every site its patrol area, address and position, once central knows the site."""
        supervisor = {"Authorization": f"Bearer {await log_in(self.api, SUPERVISOR)}"}

        async def known(site: str) -> bool:
            return (await self.api.get(f"/api/sites/{site}")).status_code == 200

        profiled = []
        for site in SITES:
            if not await self.until(f"{site} known to central", lambda s=site: known(s), 30):  # type: ignore[misc]
                continue
            response = await self.api.patch(f"/api/sites/{site}", json=site_profile(site), headers=supervisor)
            if response.status_code == 200:
                profiled.append(site)
            else:
                self.say(f"!! profile of {site}: HTTP {response.status_code} {response.text}")
        expect.check("every site's profile (patrol area, address, position) set by the supervisor",
                     profiled == list(SITES))
        self.say(f"supervisor {SUPERVISOR.name}: patrol areas, addresses and positions of {len(profiled)} sites "
                 "set (PATCH /api/sites/{site}; the console's site pages and map show them)")

    def where(self) -> list[str]:
        return where_to_look(self.http, [(o["name"], o["phone"], o["password"]) for o in OWNERS.values()])

    def tell_where(self) -> None:
        for line in self.where():
            print(line, flush=True)

    # --- the show ------------------------------------------------------------------------------------------------
    def on_delivery(self, receiver: WebhookReceiver, delivery: Delivery) -> None:
        dispatch = delivery.payload.get("dispatch", {})
        self.say(f"-> {receiver.name} received {delivery.event} #{dispatch.get('id')}: {dispatch.get('alarm_class')} "
                 f"at {dispatch.get('site')}{_zone(dispatch)} (signature verified)")

    async def run(self, duration: float | None) -> int:
        broker = MosquittoBroker(self.workdir / "broker", [
            *(BrokerUser(site, self.passwords[site], "site") for site in SITES),
            BrokerUser("_central-1", self.passwords["_central-1"], "central"),
        ])
        guards = WebhookReceiver("security company", secrets.token_hex(16), self.on_delivery)
        police = WebhookReceiver("110", secrets.token_hex(16), self.on_delivery)
        sms = WebhookReceiver("owners' SMS gateway", secrets.token_hex(16))
        with PtyPair() as serial_line:
            await broker.astart()
            for receiver in (guards, police, sms):
                await receiver.start()
            try:
                return await self._play(broker, (guards, police, sms), serial_line, duration)
            finally:
                for stop in self.stops:
                    await stop()
                self.stop_all()
                for receiver in (guards, police, sms):
                    await receiver.stop()
                await self.api.aclose()
                await broker.astop()

    async def _play(self, broker: MosquittoBroker, receivers: tuple[WebhookReceiver, WebhookReceiver, WebhookReceiver],
                    serial_line: PtyPair, duration: float | None) -> int:
        guards, police, sms = receivers
        started = time.monotonic()
        self.say(f"broker {broker.url} (password and ACL per site); work folder {self.workdir}")
        console = console_settings(await asyncio.to_thread(password_hashes))
        central_toml = configs.central(
            self.workdir, broker_url=broker.url, password=self.passwords["_central-1"], http=self.http,
            tokens={self.operator_token: ("operator-demo", "operator"),
                    self.supervisor_token: ("supervisor-demo", "supervisor"),
                    self.police_token: ("police-demo", "police")},
            escalate_after=ESCALATE_AFTER_S,
            recipients={"guards": (guards.url, guards.secret), "police-110": (police.url, police.secret),
                        "sms-gateway": (sms.url, sms.secret)},
            people=configs.People(watchlist_key=secrets.token_urlsafe(32),
                                  access_list_key=private_key_text(self.list_key),
                                  underground_limits={MINE: UNDERGROUND_LIMIT},
                                  key_person_absent_s=KEY_PERSON_ABSENT_S, check_every_s=1.0),
            console=console,
        )
        dc09_port = free_port()
        dc09_key = secrets.token_hex(16)
        shop1 = configs.shop_with_contact_id(self.workdir, site=CID_SHOP, name="便利店 Contact ID shop",
                                             broker_url=broker.url, password=self.passwords[CID_SHOP],
                                             port=serial_line.slave_path)
        shop2 = configs.shop_with_dc09(self.workdir, site=DC09_SHOP, name="金店 DC-09 shop", broker_url=broker.url,
                                       password=self.passwords[DC09_SHOP], listen=f"127.0.0.1:{dc09_port}",
                                       account=DC09_ACCOUNT, key=dc09_key)
        self.spawn("central", "central", "--config", str(central_toml))
        self.spawn(CID_SHOP, "edge", "--config", str(shop1))
        gt06_port = free_port()
        gateway = configs.tracker_gateway(self.workdir, site=TRACKERS, name="城东 tracker gateway",
                                          broker_url=broker.url, password=self.passwords[TRACKERS],
                                          listen=f"127.0.0.1:{gt06_port}")
        self.spawn(DC09_SHOP, "edge", "--config", str(shop2))
        self.spawn(TRACKERS, "edge", "--config", str(gateway))
        rental, mine = await self._people_sites(broker, guards, police)

        async def api_up() -> bool:
            return (await self.api.get("/api/health")).status_code == 200

        if not await self.until("central's API", api_up, 30):
            return 1
        self.say(f"central API: http://{self.http}/api (OpenAPI: http://{self.http}/openapi.json); "
                 f"operator token: {self.operator_token}")
        # The scripted operator works as 张伟 logged in to the console, so the console shows his name on what he does.
        self.api.headers["Authorization"] = f"Bearer {await log_in(self.api, OPERATOR)}"
        self.say(f"operator {OPERATOR.name} logged in to the console (POST /api/staff/login)")
        self.tell_where()

        panel = ContactIdPanel(serial_line.master_fd)
        dialler = Dc09Dialler("127.0.0.1", dc09_port, DC09_ACCOUNT, receiver="1", prefix="0",
                              key=bytes.fromhex(dc09_key))
        bikes = BikeScene(self.api, ("127.0.0.1", gt06_port), sms, police, self.say, self.until)
        async with dialler:
            expectations = Expectations()
            try:
                # The shops' night, the e-bikes, the rental building and the mine play at the same time, as they
                # would in a district.
                await asyncio.gather(self._scenario(panel, dialler, expectations),
                                     bikes.play(expectations.scene("e-bikes")),
                                     self._people_and_places(rental, mine, expectations),
                                     self._site_profiles(expectations.scene("monitoring centre")))
                if duration is None:
                    self.say("scenario done; central and the trackers keep running — press Ctrl-C to stop")
                    self.tell_where()
                    stop = asyncio.Event()
                    loop = asyncio.get_running_loop()
                    loop.add_signal_handler(signal.SIGINT, stop.set)
                    loop.add_signal_handler(signal.SIGTERM, stop.set)
                    await stop.wait()
                else:
                    remaining = duration - (time.monotonic() - started)
                    if remaining > 0:
                        await asyncio.sleep(remaining)
                await bikes.check_at_end(expectations.scene("e-bikes"))
            finally:
                await bikes.stop()
            summary_ok = await print_summary(self.api, expectations, guards, police, self.say,
                                             where=self.where())
        return 0 if summary_ok else 1

    async def _people_sites(self, broker: MosquittoBroker, guards: WebhookReceiver,
                            police: WebhookReceiver) -> tuple[RentalScene, MineScene]:
        """The rental building's and the mine's simulated readers, and their edge boxes started on those ports."""
        public_key = public_key_text(self.list_key.public_key())
        rental = RentalScene(self.api, RENTAL, self.police_token, self.supervisor_token, guards, police, self.say,
                             self.until)
        self.stops.append(rental.stop)
        rental.start()
        building = configs.rental_building(
            self.workdir, site=RENTAL, name="幸福公寓 rental building", broker_url=broker.url,
            password=self.passwords[RENTAL], public_key=public_key, idcard_port=rental.counter_line.slave_path,
            door_port=rental.door_line.slave_path, scbk=rental.scbk, door=RENTAL_DOOR,
            held_open_after=HELD_OPEN_AFTER_S)
        self.spawn(RENTAL, "edge", "--config", str(building))
        mine = MineScene(self.api, MINE, self.supervisor_token, UNDERGROUND_LIMIT, KEY_PERSON_ABSENT_S, self.workdir,
                         self.say, self.until, secrets.token_hex(16))
        self.stops.append(mine.stop)
        no_pcsc = await mine.start()
        if no_pcsc is not None:
            self.say(f"PC/SC: no private pcscd here ({no_pcsc}): the mine's pithead-out reader is OSDP too")
        community = configs.mine_community(
            self.workdir, site=MINE, name="红旗煤矿 mine community", broker_url=broker.url,
            password=self.passwords[MINE], public_key=public_key, in_port=mine.in_line.slave_path, scbk=mine.scbk,
            out_port=mine.out_line.slave_path if mine.out_line is not None else None,
            out_pcsc_reader=VPCD_READER if no_pcsc is None else None)
        self.spawn(MINE, "edge", "--config", str(community), env=mine.edge_env)
        return rental, mine

    @staticmethod
    async def _people_and_places(rental: RentalScene, mine: MineScene, expect: Expectations) -> None:
        # One after the other, so each scene's story reads in one piece beside the shops and the bikes.
        await rental.play(expect.scene("rental building"))
        await mine.play(expect.scene("mine community"))

    async def _scenario(self, panel: ContactIdPanel, dialler: Dc09Dialler, expect: Expectations) -> None:
        async def online(site: str) -> bool:
            return bool((await self.site(site)).get("online"))

        for site in (CID_SHOP, DC09_SHOP):
            expect.check(f"{site} online", await self.until(f"{site} online", lambda s=site: online(s), 30))  # type: ignore[misc]

        self.say("21:00 closing time: both shops are armed at their panels")
        expect.check("Contact ID closing acknowledged", await panel.send(ContactIdPanel.event("1234", 401, "restore",
                                                                                   zone_or_user=3), timeout=3.0))
        expect.check("DC-09 closing acknowledged", await dialler.send(sia_event("CL", 7), timeout=3.0))

        async def armed(site: str) -> bool:
            return bool((await self.site(site)).get("armed"))

        for site in (CID_SHOP, DC09_SHOP):
            expect.check(f"{site} armed", await self.until(f"{site} armed", lambda s=site: armed(s)))  # type: ignore[misc]
            self.say(f"central: {site} is armed")

        self.say(f"02:13 burglary at {CID_SHOP}: infrared zone 3 trips (Contact ID 130); nobody at the console "
                 f"acknowledges it (escalation after {ESCALATE_AFTER_S:.0f} s in this demo)")
        expect.check("burglary acknowledged by the receiver",
                     await panel.send(ContactIdPanel.event("1234", 130, zone_or_user=3), timeout=3.0))
        expect.burglary_sent = time.monotonic()

        self.say(f"02:14 panic button at {DC09_SHOP} (SIA PA, encrypted DC-09): to 110 at once")
        expect.check("panic acknowledged by the receiver", await dialler.send(sia_event("PA", 1), timeout=3.0))

        async def panic_raised() -> bool:
            return await self.dispatch_for(DC09_SHOP, "panic") is not None

        if await self.until("the panic dispatch", panic_raised):
            panic = await self.dispatch_for(DC09_SHOP, "panic")
            assert panic is not None
            expect.panic_id = panic["id"]
            await self.act(panic["id"], "acknowledge")
            await self.act(panic["id"], "assign_guard", guard="王师傅 (guard 7)")
            await asyncio.sleep(1.0)
            await self.act(panic["id"], "on_scene")
            await asyncio.sleep(1.0)
            early = await self.api.post(f"/api/dispatches/{panic['id']}/actions",
                                        json={"action": "resolve", "outcome": "real", "incident_class": "criminal"})
            expect.check("the panic cannot be resolved before its action plan is complete (409)",
                         early.status_code == 409 and "action plan" in early.text)
            expect.check("every step of the panic's action plan marked",
                         await follow_plan(self.api, panic["id"], self.say))
            await self.act(panic["id"], "resolve", outcome="real", incident_class="criminal",
                           note="robbery attempt; suspect fled, police on site")

        self.say(f"02:16 zone 3 at {CID_SHOP} restores (Contact ID 130, qualifier restore): the site, not the queue")
        expect.check("restore acknowledged",
                     await panel.send(ContactIdPanel.event("1234", 130, "restore", zone_or_user=3), timeout=3.0))

        async def burglary_escalated() -> bool:
            found = await self.dispatch_for(CID_SHOP, "burglary")
            return bool(found and found["escalated"])

        expect.check("burglary escalated to 110 after the acknowledgement time",
                     await self.until("the burglary's escalation", burglary_escalated, ESCALATE_AFTER_S + 15))

        self.say(f"03:00 {DC09_SHOP}'s edge box loses power (kill -9): its MQTT will says it is offline")
        self.processes[DC09_SHOP].kill()

        async def offline_ticket() -> bool:
            tickets = await self.get(f"/api/sites/{DC09_SHOP}/tickets")
            return not (await self.site(DC09_SHOP)).get("online") and any(
                t["trouble_class"] == "comm_fail" for t in tickets)

        went_offline = await self.until("the offline ticket", offline_ticket)
        expect.check(f"{DC09_SHOP} offline with a comm_fail ticket", went_offline)
        self.say(f"central: {DC09_SHOP} offline, communication-failure ticket open")


def _zone(dispatch: dict[str, Any]) -> str:
    """A site-wide dispatch (a mine's headcount) has no zone: say nothing rather than "zone None"."""
    zone = dispatch.get("zone")
    return "" if zone is None else f" zone {zone}"


def _free_or_other(http: str) -> str:
    """The asked HOST:PORT if it can be bound, else the same host on a free port (said when the demo starts)."""
    host, port = split_host_port(http)
    try:
        bound_socket(host, port).close()
    except OSError:
        other = f"{host}:{free_port(host)}"
        print(f"{http} is in use: central's API goes to {other}", flush=True)
        return other
    return http


async def run_demo(duration: float | None, http: str) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="shaobing-demo-"))
    try:
        return await Demo(workdir, _free_or_other(http)).run(duration)
    finally:
        if duration is not None:
            shutil.rmtree(workdir, ignore_errors=True)
