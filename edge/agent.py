"""The edge agent: drivers -> sink -> durable outbox -> uplink, plus presence and commands, for one site.

Each driver, the uplink and the command handler run as named tasks of one task group. Central's `stored`
confirmations (with `[mqtt] confirm = "central"`) come in on the command link and go straight to the uplink, which
deletes the confirmed readings from the outbox. A driver that crashes (or returns) is logged and started again after
a delay that grows to a minute: one bad device never takes the agent down. Every driver's context carries the site's
allow-list (`edge.access.AccessStore`), loaded before the drivers start, so doors decide locally.
Stopping (SIGTERM/SIGINT for `shaobing edge`) stops the drivers, publishes the offline state, closes the MQTT link
cleanly (so the will does not fire) and commits what is queued in the outbox.

If the outbox's writer dies, nothing more can be made durable: the outbox refuses every reading at once (no device is
acknowledged), the agent stops its tasks and `wait_failed()` returns; `shaobing edge` then goes offline cleanly and
exits with an error, for its service manager (systemd `Restart=always`) to start it again on a freshly opened outbox.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from drivers.base import Driver, DriverContext, DriverStats, create_driver
from edge.access import AccessStore
from edge.arming import ArmingBook, ArmingChange
from edge.commands import CommandHandler
from edge.config import EdgeConfig, load_edge_config
from edge.outbox import Outbox
from edge.presence import Presence
from edge.uplink import Uplink
from shaobing import __version__, topics
from shaobing import stored as stored_confirmation
from shaobing.access_list import load_public_key
from shaobing.clock import Clock, SystemClock, format_ts
from shaobing.envelope import Kind, Reading
from shaobing.errors import FrameError
from shaobing.mqtt import IncomingMessage, MqttLink, MqttSettings

RESTART_DELAY_MIN = 1.0
RESTART_DELAY_MAX = 60.0


class AgentFailed(RuntimeError):
    """The agent cannot go on (its outbox writer died); the process must exit and be started again."""


class AgentSink:
    """The `ReadingSink` every driver is given: arming state in, `site_armed` onto alarms, then the outbox."""

    def __init__(self, outbox: Outbox, arming: ArmingBook) -> None:
        self._outbox = outbox
        self._arming = arming

    async def submit(self, reading: Reading) -> int:
        if reading.kind == Kind.ARMING:
            change = self._arming.change_for(reading)
            if change is not None:
                # The state changes with the reading's own commit, or not at all.
                return await self._outbox.submit(reading, statements=change.statements,
                                                 on_commit=functools.partial(self._applied, change))
        elif reading.kind == Kind.ALARM:
            reading = self._arming.annotate(reading)
        return await self._outbox.submit(reading)

    def _applied(self, change: ArmingChange, seq: int) -> None:
        self._arming.apply(change)


@dataclass
class _RunningDriver:
    driver: Driver
    context: DriverContext
    restarts: int = 0


class EdgeAgent:
    """One site's agent. `async with EdgeAgent(config) as agent:` runs it until the block ends."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        log: logging.Logger | None = None,
        clock: Clock | None = None,
        drivers: Sequence[Driver] | None = None,
        config_source: str = "config",
        version: str = __version__,
    ) -> None:
        self.config = config
        self.site = config.site.id
        self._log = log or logging.getLogger(f"shaobing.edge.{self.site}")
        self._clock = clock or SystemClock()
        self._source = config_source
        self._given_drivers = drivers
        self.version = version
        self.outbox = Outbox(
            config.outbox.path,
            self.site,
            log=self._log.getChild("outbox"),
            max_readings=config.outbox.max_readings,
            commit_interval=config.outbox.commit_interval_ms / 1000,
        )
        self.arming = ArmingBook(self.outbox, log=self._log.getChild("arming"))
        self.sink = AgentSink(self.outbox, self.arming)
        self.presence = Presence(self.site, version=version, outbox=self.outbox, clock=self._clock,
                                 log=self._log.getChild("presence"))
        key = config.access.public_key
        # The site's allow-list: every driver decides from it (doors open with the uplink down).
        self.access = AccessStore(config.access_path, self.site,
                                  public_key=None if key is None else load_public_key(key),
                                  log=self._log.getChild("access"), max_entries=config.access.max_entries,
                                  clock=self._clock)
        self._drivers: list[_RunningDriver] = []
        self._link: MqttLink | None = None
        self._uplink: Uplink | None = None
        self._commands: CommandHandler | None = None
        self._runner: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._failed = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def link(self) -> MqttLink:
        if self._link is None:
            raise RuntimeError("the agent is not running")
        return self._link

    async def __aenter__(self) -> EdgeAgent:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _build_drivers(self) -> list[Driver]:
        if self._given_drivers is not None:
            return list(self._given_drivers)
        return [create_driver(raw, source=f"{self._source}: drivers[{index}]")
                for index, raw in enumerate(self.config.drivers)]

    async def start(self) -> None:
        drivers = self._build_drivers()  # configuration errors surface before anything is opened
        await self.outbox.open()
        try:
            await self.access.open()
            await self.arming.load()
            self._drivers = [
                _RunningDriver(driver, DriverContext(site=self.site, sink=self.sink,
                                                     log=self._log.getChild(f"driver.{driver.name}"),
                                                     clock=self._clock, stats=DriverStats(), access=self.access))
                for driver in drivers
            ]
            self._commands = CommandHandler(self.site, outbox=self.outbox, sink=self.sink, drivers=drivers,
                                            clock=self._clock, log=self._log.getChild("commands"),
                                            max_age=self.config.commands.max_command_age, access=self.access,
                                            max_payload=self.config.access.max_bytes)
            await self._commands.load()
            mqtt = self.config.mqtt
            settings = MqttSettings(
                url=mqtt.url,
                username=self.config.username,
                password=self.config.password(self._source),
                client_id=f"edge-{self.site}",
                keepalive=mqtt.keepalive,
                clean_start=mqtt.session_expiry == 0,
                session_expiry=mqtt.session_expiry,
                max_inflight=mqtt.max_inflight,
                reconnect_min=mqtt.reconnect_min,
                reconnect_max=mqtt.reconnect_max,
            )
            confirming = mqtt.confirm == "central"
            subscriptions = [(topics.cmd(self.site), 1)]
            if confirming:
                subscriptions.append((topics.stored(self.site), 1))
            link = MqttLink(settings, log=self._log.getChild("mqtt"), will=self.presence.will(),
                            subscriptions=subscriptions, manual_ack=True, on_connect=self._on_connect)
            uplink = Uplink(self.outbox, link, window=mqtt.max_inflight, log=self._log.getChild("uplink"),
                            confirm_timeout=mqtt.confirm_timeout if confirming else None)
            self._uplink = uplink
            await link.start()
            self._link = link
        except BaseException:
            await self.access.close()
            await self.outbox.close()
            raise
        self._runner = asyncio.create_task(self._run(link, uplink, self._commands), name=f"edge-agent-{self.site}")
        self._runner.add_done_callback(self._runner_stopped)
        self._log.info("edge agent for site %s started: %d drivers, broker %s", self.site, len(self._drivers),
                       mqtt.url)

    async def _on_connect(self) -> None:
        if self._link is not None:
            await self.presence.announce_online(self._link)

    async def _run(self, link: MqttLink, uplink: Uplink, commands: CommandHandler) -> None:
        async with asyncio.TaskGroup() as group:
            for running in self._drivers:
                group.create_task(self._supervise(running), name=f"driver:{running.driver.name}")
            group.create_task(self._keep_running("uplink", uplink.run), name="uplink")
            group.create_task(self._keep_running("commands", lambda: self._receive(link, uplink, commands)),
                              name="commands")
            group.create_task(self._watch_outbox(), name="outbox-watch")

    async def _receive(self, link: MqttLink, uplink: Uplink, commands: CommandHandler) -> None:
        """Central's confirmations to the uplink at once; commands to the command handler's lanes."""
        stored_topic = topics.stored(self.site)
        try:
            async for message in link.messages():
                if message.topic == stored_topic:
                    if uplink.confirms:  # else: a subscription left from a run with confirm = "central"
                        self._confirmed(uplink, message)
                    link.ack(message)
                else:
                    commands.receive(link, message)
        finally:
            await commands.stop()

    def _confirmed(self, uplink: Uplink, message: IncomingMessage) -> None:
        try:
            ranges = stored_confirmation.decode(message.payload)
        except FrameError as exc:
            self._log.error("confirmation refused: %s; payload=%r", exc.reason, message.payload[:300])
            return
        uplink.confirm(ranges)

    async def _watch_outbox(self) -> None:
        reason = await self.outbox.wait_failed()
        raise AgentFailed(f"site {self.site}: {reason}")

    def _runner_stopped(self, runner: asyncio.Task[None]) -> None:
        if runner.cancelled():
            return  # stopped on purpose
        error = runner.exception()
        if error is None:
            return
        failures = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
        self._failure = "; ".join(str(failure) for failure in failures)
        self._log.critical("edge agent for site %s cannot go on: %s; stopping, to be started again", self.site,
                           self._failure)
        self._failed.set()

    @property
    def failure(self) -> str | None:
        """Why the agent stopped by itself (None while it runs, or after a requested stop)."""
        return self._failure

    async def wait_failed(self) -> str:
        """Return (with the reason) once the agent has stopped by itself and must be started again."""
        await self._failed.wait()
        return self._failure or "stopped"

    async def _keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """The uplink and the command handler are not expected to fail; if one does, it starts again."""
        while True:
            try:
                await run()
                return
            except Exception:
                self._log.exception("%s failed; starting it again in %.0f s", name, RESTART_DELAY_MIN)
            await asyncio.sleep(RESTART_DELAY_MIN)

    async def _supervise(self, running: _RunningDriver) -> None:
        delay = RESTART_DELAY_MIN
        name = running.driver.name
        while True:
            started = self._clock.monotonic()
            try:
                await running.driver.run(running.context)
                self._log.warning("driver %s returned; starting it again in %.0f s", name, delay)
            except Exception:
                self._log.exception("driver %s crashed; starting it again in %.0f s", name, delay)
            running.restarts += 1
            running.context.stats.count("restarts")
            if self._clock.monotonic() - started > RESTART_DELAY_MAX:
                delay = RESTART_DELAY_MIN  # it ran well for a while: this is a new failure, not a crash loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_DELAY_MAX)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner])  # a failure has been logged by _runner_stopped
        link, self._link = self._link, None
        if link is not None:
            await self.presence.announce_offline(link)
            await link.close()
        await self.access.close()
        await self.outbox.close()
        self._log.info("edge agent for site %s stopped; %d readings pending, last seq %d", self.site,
                       self.outbox.total, self.outbox.last_seq)

    # -- what tests and the status page see ---------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        counts = self.outbox.counts()
        uplink = self._uplink.stats() if self._uplink is not None else None
        return {
            "site": self.site,
            "version": self.version,
            "connected": self._link.connected if self._link is not None else False,
            "outbox": {
                "pending": counts.pending,
                "total": counts.total,
                "in_flight": counts.in_flight,
                "evicted": counts.evicted,
                "refused": counts.refused,
                "last_seq": counts.last_seq,
            },
            "uplink": None if uplink is None else {"sent": uplink.sent, "failed": uplink.failed,
                                                   "refused": uplink.refused, "unrouted": uplink.unrouted,
                                                   "in_flight": uplink.in_flight, "awaiting": uplink.awaiting,
                                                   "confirmed": uplink.confirmed, "resent": uplink.resent},
            "arming": {partition: {"state": entry.state, "user": entry.user, "since": format_ts(entry.since)}
                       for partition, entry in sorted(self.arming.snapshot().items())},
            "access": self.access.status(),
            "drivers": {running.driver.name: {"restarts": running.restarts,
                                              "counts": dict(running.context.stats.counts)}
                        for running in self._drivers},
        }


async def run_edge(path: Path) -> None:
    """`shaobing edge --config FILE`: run until SIGTERM or SIGINT, then go offline cleanly."""
    config = load_edge_config(path)
    logging.basicConfig(level=config.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with EdgeAgent(config, config_source=str(path)) as agent:
            stopping = asyncio.create_task(stop.wait(), name="stop-signal")
            failing = asyncio.create_task(agent.wait_failed(), name="agent-failure")
            await asyncio.wait([stopping, failing], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            failing.cancel()
            await asyncio.wait([stopping, failing])
        if agent.failure is not None:
            raise AgentFailed(agent.failure)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
