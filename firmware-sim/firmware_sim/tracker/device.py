"""One simulated GT06 tracker: a bike behind a real GT06 TCP connection, with the device's habits.

Like the devices in the field it:
- connects, logs in with its IMEI and sends nothing else until the login is answered;
- reports its position every `interval_s` and a status heartbeat every `heartbeat_s`;
- keeps every position and alarm until the server's reply carries its serial number (`DeviceBuffer`): reports made
  while the network is down, or left unanswered (a dropped connection, `unanswered_limit` silent replies), are
  re-uploaded later as archived, out of order, a window of `reupload_window` at a time, after the current position
  has gone out in real time;
- gives up on a connection that stays silent and reconnects with an exponential backoff and jitter, so ten thousand
  trackers do not return in one burst after a gateway restart;
- answers the server's text commands (0x80): "Relay,1#" cuts the motor and stops the bike where it is,
  "Relay,0#" restores it; anything else gets an error text.

Everything runs in one task per tracker and in the connection's protocol callbacks: a tick decides what is due
(a report, a heartbeat, a resend, the next step of a scenario or of a theft), and the task sleeps until the next
thing due or until a behaviour wakes it. No per-tracker buffers beyond the reports it keeps, so a fleet of ten
thousand fits in one process.
"""

from __future__ import annotations

import asyncio
import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from drivers.gt06.builder import (
    Cell,
    alarm_frame,
    command_reply_frame,
    heartbeat_frame,
    lbs_frame,
    location_frame,
    login_frame,
    parse_command,
)
from drivers.gt06.framing import Gt06Framer, unwrap
from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.buffer import DeviceBuffer, ReuploadOrder
from firmware_sim.tracker.cells import cell_at
from firmware_sim.tracker.geo import LatLon, distance_m
from firmware_sim.tracker.route import COMMUTER, THIEF, RideStyle
from firmware_sim.tracker.streets import Crossing
from shaobing.clock import Clock, SystemClock
from shaobing.errors import FrameError

COMMAND = 0x80
LOGIN = 0x01


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    interval_s: float = 10.0  # a position report this often
    heartbeat_s: float = 180.0  # a status heartbeat this often (GT06 default: every 3 minutes)
    reply_timeout_s: float = 20.0  # a frame unanswered this long is sent again later
    unanswered_limit: int = 3  # frames unanswered in a row before the connection is given up
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    no_fix: Literal["stale", "lbs"] = "stale"  # without a fix: the last position marked invalid, or an LBS packet
    reupload: ReuploadOrder = "chunks"
    reupload_chunk: int = 10
    reupload_window: int = 10  # frames in flight at once while re-uploading
    buffer_limit: int = 5000  # positions kept while offline (about 14 h at 10 s); alarms are always kept
    theft_distance_m: float = 100.0  # the theft mark: first fix sent after `steal()` this far from where it stood
    steal_delay_s: float = 6.0  # a thief handles the bike (vibration alarms) this long before riding away


DEFAULT_SETTINGS = TrackerSettings()


class State(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    LOGGING_IN = "logging in"
    ONLINE = "online"
    OFFLINE = "offline"  # the network is gone (`go_offline`): no connection attempts until it returns


@dataclass(slots=True)
class Report:
    """A position or alarm the device made and keeps until the server has answered it."""

    fix_time: datetime
    lat: float
    lon: float
    speed_kmh: int
    course: int
    satellites: int
    valid: bool
    cell: Cell
    alarm: str | None = None
    lbs_only: bool = False
    attempts: int = 0
    archived: bool = False  # the last time it was sent, it went as a re-upload

    @property
    def is_alarm(self) -> bool:
        return self.alarm is not None


@dataclass(slots=True)
class TrackerStats:
    """Counters, shared by every tracker of a fleet."""

    connected: int = 0  # logged in right now
    connects: int = 0
    connect_failures: int = 0
    logins: int = 0
    disconnects: int = 0  # connections lost while online (server dropped it, or the device gave up)
    frames_sent: int = 0
    replies: int = 0
    reports_made: int = 0
    realtime_sent: int = 0
    archived_sent: int = 0
    resends: int = 0  # reports sent more than once
    alarms_sent: int = 0
    commands: int = 0
    buffer_dropped: int = 0
    bad_frames: int = 0  # bytes from the server that were not a GT06 frame


@dataclass(frozen=True, slots=True)
class Exchange:
    """One frame and its reply, for latency figures: loop times of the send and of the reply."""

    kind: str
    sent_at: float
    replied_at: float


@dataclass(frozen=True, slots=True)
class TheftMark:
    """The first fix sent after `steal()` beyond `theft_distance_m` from where the bike stood: theft latency is
    measured from `sent_wall` (wall clock) / `sent_at` (loop time)."""

    stolen_wall: datetime
    sent_at: float
    sent_wall: datetime
    fix_time: datetime
    distance_m: float
    archived: bool


class Script(Protocol):
    """A scenario: what the rider (or thief, or network) does to a tracker over time."""

    def act(self, tracker: SimTracker, now: float) -> float | None:
        """Do what is due at loop time `now`; return when to act next (None: nothing more)."""
        ...


EventHook = Callable[["SimTracker", str], None]
ExchangeHook = Callable[["SimTracker", Exchange], None]

COMMAND_REPLIES: dict[str, tuple[str, str]] = {
    # what the device answers, and what it does
    "RELAY,1#": ("Cut off the fuel supply: Success!", "cut"),
    "RELAY,0#": ("Restore fuel supply: Success!", "restore"),
    "DYD,000000#": ("DYD=Success!", "cut"),  # the older GT06 spelling
    "HFYD,000000#": ("HFYD=Success!", "restore"),
}
UNKNOWN_COMMAND_REPLY = "Invalid command!"


@dataclass(slots=True)
class _TheftPlan:
    anchor: LatLon
    stolen_wall: datetime
    destination: Crossing | None
    style: RideStyle
    steps: list[tuple[float, str]] = field(default_factory=list)  # (loop time, "vibration" | "power_cut" | "ride")


class _Link(asyncio.Protocol):
    """One TCP connection of a tracker: frames in go to the tracker, a lost connection is reported to it."""

    __slots__ = ("framer", "tracker", "transport")

    def __init__(self, tracker: SimTracker) -> None:
        self.tracker = tracker
        self.transport: asyncio.Transport | None = None
        self.framer = Gt06Framer()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for item in self.framer.feed(data):
            if isinstance(item, FrameError):
                self.tracker.stats.bad_frames += 1
            else:
                self.tracker._on_frame(self, item)

    def connection_lost(self, exc: Exception | None) -> None:
        self.tracker._on_lost(self)

    def write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class SimTracker:
    """A GT06 tracker on a bike. `await run()` until cancelled; behaviours (`ride`, `park`, `steal`, `sos`,
    `lose_fix`, `go_offline`, ...) can be called at any time from the same event loop."""

    __slots__ = ("_clock", "_failures", "_journal", "_link", "_login_deadline", "_loop", "_moved_at",
                 "_next_heartbeat", "_next_report", "_offline_until", "_on_event", "_on_exchange", "_reconnect_at",
                 "_script", "_script_at", "_serial", "_theft", "_unanswered", "_waiter", "_was_offline", "acc",
                 "armed", "bike", "buffer", "external_power", "imei", "rng", "server", "settings", "state", "stats",
                 "theft_mark")

    def __init__(self, imei: str, server: tuple[str, int], bike: Bike, rng: random.Random, *,
                 settings: TrackerSettings = DEFAULT_SETTINGS, stats: TrackerStats | None = None,
                 clock: Clock | None = None, script: Script | None = None, on_event: EventHook | None = None,
                 on_exchange: ExchangeHook | None = None, journal: list[Report] | None = None) -> None:
        """`journal`, when given, receives every report the tracker makes (tests compare it with what arrived)."""
        self.imei = imei
        self.server = server
        self.bike = bike
        self.settings = settings
        self.stats = stats if stats is not None else TrackerStats()
        self.state = State.DISCONNECTED
        self.armed = True
        self.acc = False
        self.external_power = True
        self.theft_mark: TheftMark | None = None
        self.buffer: DeviceBuffer[Report] = DeviceBuffer(order=settings.reupload, chunk=settings.reupload_chunk,
                                                         limit=settings.buffer_limit)
        self.rng = rng
        self._clock = clock or SystemClock()
        self._script = script
        self._on_event = on_event
        self._on_exchange = on_exchange
        self._journal = journal
        self._link: _Link | None = None
        self._serial = 0
        self._failures = 0  # connection attempts failed in a row
        self._unanswered = 0
        self._theft: _TheftPlan | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._moved_at = 0.0
        self._next_report = 0.0
        self._next_heartbeat = 0.0
        self._reconnect_at = 0.0
        self._login_deadline = 0.0
        self._offline_until = 0.0
        self._script_at: float | None = None
        self._was_offline = False

    # -- behaviours ---------------------------------------------------------------------------------------------

    def ride(self, to: Crossing | None = None, *, style: RideStyle = COMMUTER, min_blocks: int = 2) -> None:
        """The owner rides off (key on: acc on, disarmed) to crossing `to` (None: somewhere `min_blocks` away)."""
        self._move_bike()
        self.armed, self.acc = False, True
        self.bike.ride_to(to, self.rng, style, min_blocks=min_blocks)
        self._wake()

    def park(self) -> None:
        """The owner parks and arms: key off, the receiver drifts around the spot from now on."""
        self._move_bike()
        self.bike.park(self.rng)
        self.armed, self.acc = True, False
        self._wake()

    def steal(self, *, power_cut: bool = True, vibrations: int = 2, to: Crossing | None = None,
              style: RideStyle = THIEF) -> None:
        """A thief handles the bike (`vibrations` alarms over `steal_delay_s`), optionally cuts the tracker's power
        wire (a `power_cut` alarm; the device runs on its backup battery), and rides away fast without the key."""
        now = self._now()
        self._move_bike()
        delay = self.settings.steal_delay_s
        plan = _TheftPlan(anchor=self.bike.grid.frame.to_latlon(self.bike.point), stolen_wall=self._clock.now(),
                          destination=to, style=style)
        plan.steps += [(now + delay * i / max(1, vibrations), "vibration") for i in range(vibrations)]
        if power_cut:
            plan.steps.append((now + delay, "power_cut"))
        plan.steps.append((now + delay, "ride"))
        self._theft = plan
        self.theft_mark = None
        self._event("stolen")
        self._wake()

    def sos(self) -> None:
        """The rider presses SOS: an alarm packet now (kept until answered, like every alarm)."""
        self._alarm("sos")

    def lose_fix(self) -> None:
        self.bike.lose_fix()
        self._event("lost GPS fix")

    def regain_fix(self) -> None:
        self.bike.regain_fix()
        self._event("GPS fix back")

    def go_offline(self, seconds: float) -> None:
        """The network is lost for `seconds`: the connection dies, reports pile up in the device's buffer."""
        self._offline_until = self._now() + seconds
        self._was_offline = True
        self._drop_link()
        self.state = State.OFFLINE
        self._event(f"offline for {seconds:.0f} s")
        self._wake()

    @property
    def online(self) -> bool:
        return self.state is State.ONLINE

    # -- the task -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, log in and report until cancelled; reconnects by itself."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        now = loop.time()
        self._moved_at = now
        self._next_report = now + self.settings.interval_s
        if self._script is not None:
            self._script_at = now
        try:
            while True:
                now = loop.time()
                self._tick(now)
                if self.state is State.DISCONNECTED and now >= self._reconnect_at:
                    await self._connect()
                    continue
                await self._sleep_until(self._next_due())
        finally:
            self._drop_link()
            self.state = State.DISCONNECTED

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else asyncio.get_running_loop().time()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _sleep_until(self, deadline: float) -> None:
        assert self._loop is not None
        delay = deadline - self._loop.time()
        if delay <= 0:
            return
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_at(deadline, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _next_due(self) -> float:
        due = [self._next_report]
        if self._script_at is not None:
            due.append(self._script_at)
        if self._theft is not None and self._theft.steps:
            due.append(self._theft.steps[0][0])
        if self.state is State.ONLINE:
            due.append(self._next_heartbeat)
        if self.state is State.LOGGING_IN:
            due.append(self._login_deadline)
        if self.state is State.DISCONNECTED:
            due.append(self._reconnect_at)
        if self.state is State.OFFLINE:
            due.append(self._offline_until)
        oldest = self.buffer.oldest_in_flight()
        if oldest is not None:
            due.append(oldest + self.settings.reply_timeout_s)
        return min(due)

    def _tick(self, now: float) -> None:
        if self._script_at is not None and now >= self._script_at:
            self._script_at = self._script.act(self, now) if self._script is not None else None
        self._theft_steps(now)
        if self.state is State.OFFLINE and now >= self._offline_until:
            self.state = State.DISCONNECTED
            self._reconnect_at = now
        if now >= self._next_report:
            self._next_report += self.settings.interval_s
            if self._next_report <= now:  # fell behind (a busy loop): keep the cadence from now on
                self._next_report = now + self.settings.interval_s
            self._submit(self._make_report())
        if self.state is State.LOGGING_IN and now >= self._login_deadline:
            self._give_up("no login reply")
        if self.state is State.ONLINE:
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + self.settings.heartbeat_s
                self._send_heartbeat(now)
            self._expire(now)
            self._pump(now)

    # -- connection ---------------------------------------------------------------------------------------------

    async def _connect(self) -> None:
        assert self._loop is not None
        self.state = State.CONNECTING
        host, port = self.server
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                _, link = await self._loop.create_connection(lambda: _Link(self), host, port)
        except (OSError, TimeoutError):
            self.stats.connect_failures += 1
            if self.state is State.CONNECTING:
                self._schedule_reconnect()
            return
        self.stats.connects += 1
        if self.state is not State.CONNECTING:  # went offline meanwhile
            link.abort()
            return
        self._link = link
        self.state = State.LOGGING_IN
        now = self._loop.time()
        self._login_deadline = now + self.settings.reply_timeout_s
        serial = self._next_serial()
        self.buffer.sent(serial, "login", now)
        self._write(login_frame(self.imei, serial))

    def _schedule_reconnect(self) -> None:
        self._failures += 1
        ceiling = min(self.settings.reconnect_max_s, self.settings.reconnect_min_s * 2 ** (self._failures - 1))
        self._reconnect_at = self._now() + self.rng.uniform(self.settings.reconnect_min_s, ceiling)
        self.state = State.DISCONNECTED

    def _give_up(self, reason: str) -> None:
        """The device stops trusting this connection: close it and reconnect after a backoff."""
        self._drop_link()
        self._event(f"connection given up ({reason})")
        self._schedule_reconnect()

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            self._connection_gone()
            link.abort()

    def _connection_gone(self) -> None:
        if self.state is State.ONLINE:
            self.stats.connected -= 1
            self.stats.disconnects += 1
        self.buffer.connection_lost()
        self._unanswered = 0

    def _on_lost(self, link: _Link) -> None:
        if link is not self._link:
            return  # a connection already given up
        self._link = None
        self._connection_gone()
        self._event("connection closed by the server")
        self._schedule_reconnect()
        self._wake()

    def _write(self, frame: bytes) -> None:
        if self._link is not None:
            self._link.write(frame)
            self.stats.frames_sent += 1

    def _next_serial(self) -> int:
        self._serial = self._serial % 0xFFFF + 1
        return self._serial

    # -- frames from the server ---------------------------------------------------------------------------------

    def _on_frame(self, link: _Link, frame: bytes) -> None:
        if link is not self._link:
            return
        now = self._now()
        try:
            envelope = unwrap(frame)
        except FrameError:
            self.stats.bad_frames += 1  # a bad CRC: as if never received, the frame will be answered again
            return
        protocol, serial = envelope.protocol, envelope.serial
        if protocol == COMMAND:
            self._on_command(frame)
            return
        sent = self.buffer.answered(serial)
        if sent is None:
            return  # the reply to a frame already given up on
        self.stats.replies += 1
        self._unanswered = 0
        if self._on_exchange is not None:
            self._on_exchange(self, Exchange(sent.kind, sent.sent_at, now))
        if sent.kind == "login" and protocol == LOGIN and self.state is State.LOGGING_IN:
            self._logged_in(now)
        self._pump(now)

    def _logged_in(self, now: float) -> None:
        self.state = State.ONLINE
        self.stats.connected += 1
        self.stats.logins += 1
        self._failures = 0
        if self._was_offline:
            self._was_offline = False
            self._event(f"back online, {self.buffer.waiting} buffered reports to re-upload")
        # The current position first, in real time; then the heartbeat; then the re-upload.
        self._next_report = now + self.settings.interval_s
        self._submit(self._make_report())
        self._next_heartbeat = now + self.settings.heartbeat_s
        self._send_heartbeat(now)

    def _on_command(self, frame: bytes) -> None:
        try:
            server_flag, text = parse_command(frame)
        except FrameError:
            self.stats.bad_frames += 1
            return
        self.stats.commands += 1
        answer, action = COMMAND_REPLIES.get(text.strip().upper(), (UNKNOWN_COMMAND_REPLY, ""))
        if action == "cut":
            self._move_bike()
            self.bike.cut_engine(self.rng)
        elif action == "restore":
            self.bike.restore_engine()
        self._event(f"command {text!r}: {answer}")
        self._write(command_reply_frame(self._next_serial(), server_flag=server_flag, text=answer))

    # -- reports ------------------------------------------------------------------------------------------------

    def _move_bike(self) -> None:
        now = self._now()
        self.bike.advance(now - self._moved_at, self.rng)
        self._moved_at = now

    def _make_report(self, alarm: str | None = None) -> Report:
        now = self._now()
        seen = self.bike.advance(now - self._moved_at, self.rng)
        self._moved_at = now
        frame = self.bike.grid.frame
        position = frame.to_latlon(seen.point)
        report = Report(fix_time=self._clock.now().replace(microsecond=0), lat=position.lat, lon=position.lon,
                        speed_kmh=seen.speed_kmh, course=seen.course, satellites=seen.satellites, valid=seen.valid,
                        cell=cell_at(self.bike.point), alarm=alarm,
                        lbs_only=alarm is None and not seen.valid and self.settings.no_fix == "lbs")
        self.stats.reports_made += 1
        if self._journal is not None:
            self._journal.append(report)
        return report

    def _submit(self, report: Report) -> None:
        """Send a fresh report in real time, or keep it for later when not online."""
        if self.state is State.ONLINE:
            self._send_report(report, archived=False)
        else:
            dropped = self.buffer.dropped
            self.buffer.keep(report)
            self.stats.buffer_dropped += self.buffer.dropped - dropped

    def _alarm(self, alarm: str) -> None:
        self._submit(self._make_report(alarm))
        self._wake()

    def _send_report(self, report: Report, *, archived: bool) -> None:
        now = self._now()
        serial = self._next_serial()
        report.attempts += 1
        report.archived = archived
        if report.attempts > 1:
            self.stats.resends += 1
        if report.alarm is not None:
            frame = alarm_frame(serial, alarm=report.alarm, fix_time=report.fix_time, lat=report.lat,
                                lon=report.lon, valid=report.valid, speed_kmh=report.speed_kmh, course=report.course,
                                satellites=report.satellites, cell=report.cell, armed=self.armed,
                                voltage_level=self._voltage_level, gsm=4)
            kind = "alarm"
            self.stats.alarms_sent += 1
        elif report.lbs_only:
            frame = lbs_frame(serial, fix_time=report.fix_time, cell=report.cell)
            kind = "lbs"
        else:
            frame = location_frame(serial, fix_time=report.fix_time, lat=report.lat, lon=report.lon,
                                   speed_kmh=report.speed_kmh, course=report.course, satellites=report.satellites,
                                   valid=report.valid, archived=archived, cell=report.cell, acc=self.acc)
            kind = "location"
        if archived:
            self.stats.archived_sent += 1
        else:
            self.stats.realtime_sent += 1
        self.buffer.sent(serial, kind, now, report)
        self._write(frame)
        self._mark_theft(report, now)

    def _send_heartbeat(self, now: float) -> None:
        serial = self._next_serial()
        self.buffer.sent(serial, "heartbeat", now)
        self._write(heartbeat_frame(serial, voltage_level=self._voltage_level, gsm=4, charging=self.external_power,
                                    acc=self.acc, armed=self.armed, gps_tracking=self.bike.has_fix))

    @property
    def _voltage_level(self) -> int:
        return 4 if self.external_power else 3  # on the backup battery after the wire is cut

    def _expire(self, now: float) -> None:
        for _ in self.buffer.expired(now, self.settings.reply_timeout_s):
            self._unanswered += 1
        if self._unanswered >= self.settings.unanswered_limit:
            self._give_up(f"{self._unanswered} frames unanswered")

    def _pump(self, now: float) -> None:
        """Re-upload kept reports while the window has room."""
        while self.state is State.ONLINE and self.buffer.in_flight < self.settings.reupload_window:
            report = self.buffer.next_to_send()
            if report is None:
                return
            self._send_report(report, archived=not report.is_alarm and not report.lbs_only)

    # -- theft --------------------------------------------------------------------------------------------------

    def _theft_steps(self, now: float) -> None:
        plan = self._theft
        while plan is not None and plan.steps and plan.steps[0][0] <= now:
            _, step = plan.steps.pop(0)
            if step == "vibration":
                self._alarm("vibration")
            elif step == "power_cut":
                self.external_power = False
                self._alarm("power_cut")
            else:
                self._move_bike()
                self.acc = False  # no key: the thief pushes it off or bridges the motor
                self.bike.ride_to(plan.destination, self.rng, plan.style, min_blocks=8)

    def _mark_theft(self, report: Report, now: float) -> None:
        plan = self._theft
        if plan is None or self.theft_mark is not None or not report.valid or report.lbs_only:
            return
        distance = distance_m(plan.anchor, LatLon(report.lat, report.lon))
        if distance > self.settings.theft_distance_m:
            self.theft_mark = TheftMark(stolen_wall=plan.stolen_wall, sent_at=now, sent_wall=self._clock.now(),
                                        fix_time=report.fix_time, distance_m=distance, archived=report.archived)
            self._event(f"stolen bike {distance:.0f} m from where it stood")

    def _event(self, text: str) -> None:
        if self._on_event is not None:
            self._on_event(self, text)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
