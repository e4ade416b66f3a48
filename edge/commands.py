"""Central's commands to the site: `shaobing/v1/{site}/cmd` in, `shaobing/v1/{site}/cmd/result` out (QoS 1 both).

Payload `{"cmd_id", "name", "args", "issued_at", ...}`. Names: `arm` and `disarm` (args `{"partition": int, "user":
str}`; no partition means partition 0, the whole site) and `ping`. An arm/disarm goes through the agent's sink as an
`arming` reading (so it updates the arming state and reaches central in order with everything else) and is forwarded
to every driver that takes commands. The result is `{"cmd_id", "ok", "detail"}`.

A command whose args name a `device` (a tracker's IMEI: `engine_stop`, `engine_resume`, and `arm` / `disarm` of the
tracker itself) is for that one device: it is offered to the drivers that take device commands, the first that knows
the device carries it out and waits for the device's reply, and no site arming reading is made.

A command issued more than `max_age` seconds ago (by its `issued_at`) is not carried out: a disarm that waited hours
in the broker for an offline site must not take effect when the site comes back. Its result is ok=false "expired".

`access_list` (args: the signed allow-list, `shaobing.access_list`) goes to the site's `AccessStore`: verified, and
applied whole or refused with the reason, the list in force kept. It is not refused for its age: a list that waited
in the broker is still the newest the site can have, and an old one replayed is refused as stale by its version.
A payload longer than `LARGE_PAYLOAD` bytes is parsed, and if it is an `access_list` applied, in a child process
(`AccessStore.apply_payload`). A payload longer than `max_payload` bytes (`[access] max_bytes`) is refused before it
is parsed; its result goes to the cmd_id found at its head, if any, and it is not remembered (it is refused the same
way every time).

When no driver of the site takes commands (Contact ID and DC-09 panels only report; they have no return channel), an
arm/disarm sets the edge's own arming state, by which its alarms are stamped, and the result says that no device was
told: the panel's own next open/close report sets the state again.

Lanes: a device command runs in that device's lane, one at a time and in order per device, so a tracker that does
not answer (up to `DEVICE_COMMAND_TIMEOUT`) holds up only its own commands; every other command runs in the main lane,
in order. Lanes run side by side, and a lane's task ends when it has nothing left. A result is published as soon as
its command finishes; the PUBACKs still go out in the order the messages came in (as MQTT requires): a finished
message waits for those before it. One whose result could not be published is not acknowledged (the broker delivers
it again after the reconnect); once the link has reconnected, the messages of the old connection are let go, so they
hold up nothing behind them. A redelivery goes to the same lane as its first delivery, after it.

At-least-once in, exactly-once effect: the message is acknowledged to the broker only after its outcome is recorded
and its result published, and every cmd_id's outcome is remembered on disk (the latest `REMEMBERED` of them), so a
command delivered twice is carried out once and its recorded result is simply published again. A payload that is not
a command gets an ok=false result when a cmd_id can be read from it, and is otherwise logged and dropped. A command
whose handling fails (even the recording of its outcome) gets an ok=false result naming the failure, and is
acknowledged all the same: a command that failed once would fail again on every redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from drivers.base import CommandResult, DeviceCommandDriver, Driver, OutboxRefused, ReadingSink
from edge.access import AccessStore
from edge.outbox import Outbox
from shaobing import topics
from shaobing.access_list import COMMAND as ACCESS_LIST
from shaobing.clock import Clock, format_ts, parse_ts
from shaobing.envelope import Kind, Reading
from shaobing.mqtt import IncomingMessage, MqttLink, PublishFailed

REMEMBERED = 1000
DRIVER_COMMAND_TIMEOUT = 10.0
DEVICE_COMMAND_TIMEOUT = 30.0  # a tracker on GPRS may take a while to answer
STOP_GRACE = 2.0  # seconds a stopping agent gives the commands in progress to finish and be acknowledged
COMMAND_DEVICE = "edge"
DEFAULT_MAX_AGE = 300.0
DEFAULT_MAX_PAYLOAD = 99_000_000
# A longer payload is parsed in a child process, in case it is an allow-list: its JSON would hold the interpreter, and
# the drivers with it, for up to seconds.
LARGE_PAYLOAD = 1_000_000
# The cmd_id of a payload too large to parse, if it leads: after `{` or `,`, outside any string.
HEAD = 4096
HEAD_CMD_ID = re.compile(rb'[{,]\s*"cmd_id"\s*:\s*"([^"\\]{1,200})"')
NO_REMOTE_ARMING = "arming state set at the edge; no device on this site accepts remote arming"

SCHEMA = """CREATE TABLE IF NOT EXISTS commands_seen (
    cmd_id TEXT PRIMARY KEY,
    received INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL
)"""


@dataclass(frozen=True)
class CommandOutcome:
    cmd_id: str
    ok: bool
    detail: str
    repeated: bool = False

    def payload(self) -> bytes:
        return json.dumps({"cmd_id": self.cmd_id, "ok": self.ok, "detail": self.detail},
                          ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Received:
    message: IncomingMessage
    connection: int  # the link's `connects` when it came in
    ack: bool = False  # done, and its result published (or it has none)


class MalformedCommand(ValueError):
    pass


CommandFunction = Callable[[str, Mapping[str, Any]], Awaitable[CommandResult]]


def _driver_command(driver: Driver) -> CommandFunction | None:
    command = getattr(driver, "command", None)
    return command if callable(command) else None


class CommandHandler:
    def __init__(
        self,
        site: str,
        *,
        outbox: Outbox,
        sink: ReadingSink,
        drivers: Sequence[Driver],
        clock: Clock,
        log: logging.Logger,
        max_age: float = DEFAULT_MAX_AGE,
        access: AccessStore | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        if max_payload < 1:
            raise ValueError("max_payload must be positive")
        self.max_payload = max_payload
        self._access = access
        self.site = site
        self.max_age = max_age
        self.topic = topics.cmd(site)
        self.result_topic = topics.cmd_result(site)
        self._outbox = outbox
        self._sink = sink
        self._drivers = drivers
        self._clock = clock
        self._log = log
        self._seen: dict[str, tuple[bool, str]] = {}
        self._received: deque[_Received] = deque()  # in the order received, until acknowledged
        self._lanes: dict[str | None, deque[_Received]] = {}  # per device; None: the main lane
        self._lane_tasks: set[asyncio.Task[None]] = set()
        self._counter = 0
        self.executed = 0
        self.repeated = 0
        self.dropped = 0
        self.failed = 0

    async def load(self) -> None:
        await self._outbox.write([(SCHEMA, ())])
        rows = await self._outbox.query(
            "SELECT cmd_id, received, ok, detail FROM commands_seen ORDER BY received DESC LIMIT ?", (REMEMBERED,))
        self._seen = {str(cmd_id): (bool(ok), str(detail)) for cmd_id, _, ok, detail in reversed(rows)}
        self._counter = int(rows[0][1]) if rows else 0

    # -- the loop over the link's messages ------------------------------------------------------------------------

    async def run(self, link: MqttLink) -> None:
        try:
            async for message in link.messages():
                self.receive(link, message)
        finally:
            await self.stop()

    def receive(self, link: MqttLink, message: IncomingMessage) -> None:
        """Queue one message of the command topic to its lane; it is answered and acknowledged from there."""
        entry = _Received(message, link.connects)
        self._received.append(entry)
        if message.topic != self.topic:
            self._log.warning("commands: message on unexpected topic %r dropped: %r", message.topic,
                              message.payload[:200])
            entry.ack = True
            self._ack_ready(link)
            return
        key = _lane_of(message.payload)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
            task = asyncio.create_task(self._run_lane(link, key, lane), name=f"commands-lane:{key or 'main'}")
            self._lane_tasks.add(task)
            task.add_done_callback(self._lane_tasks.discard)
        lane.append(entry)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let the lanes finish for up to `grace` seconds, then cancel what is still in progress.

        The grace covers a command whose result is published but whose PUBACK has not gone out yet: stopping it there
        would have the broker deliver it again, and a command whose outcome could not be recorded would then run twice.
        A cancelled command's message stays unacknowledged and comes again.
        """
        tasks = list(self._lane_tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        self._received.clear()

    async def _run_lane(self, link: MqttLink, key: str | None, lane: deque[_Received]) -> None:
        # One command at a time, in order. The lane ends when it runs dry; `receive` starts a new one after that.
        try:
            while lane:
                entry = lane[0]
                try:
                    entry.ack = await self.serve(link, entry.message)
                except Exception:
                    # Left unacknowledged (it comes again after a reconnect); the commands behind it go on.
                    self._log.exception("commands: serving a message failed; payload=%r", entry.message.payload[:200])
                lane.popleft()
                self._ack_ready(link)
        finally:
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    def _ack_ready(self, link: MqttLink) -> None:
        """PUBACK finished messages from the front of the queue: MQTT wants them in the order they came in."""
        received = self._received
        while received:
            head = received[0]
            if head.connection != link.connects:
                received.popleft()  # of a lost connection: its ack would be ignored, the broker sends it again
            elif head.ack:
                received.popleft()
                link.ack(head.message)
            else:
                break  # in progress, or its result is unpublished: waits for the reconnect that drops it

    async def serve(self, link: MqttLink, message: IncomingMessage) -> bool:
        """Handle one message of the command topic and publish its result; whether it may be acknowledged."""
        try:
            outcome = await self.handle(message.payload)
        except Exception as exc:
            # A command that failed once fails again on every redelivery: answer it and acknowledge it.
            self.failed += 1
            self._log.exception("commands: handling failed; payload=%r", message.payload[:200])
            cmd_id = _cmd_id_of(_parse(message.payload))
            outcome = None if cmd_id is None else CommandOutcome(cmd_id, False, f"failed at the edge: {exc!r}")
        if outcome is not None:
            try:
                await link.publish(self.result_topic, outcome.payload(), qos=1)
            except PublishFailed as exc:
                # Not acknowledged: the broker delivers the command again and its recorded result goes out then.
                self._log.warning("commands: result of %r not delivered (%s); waiting for redelivery",
                                  outcome.cmd_id, exc)
                return False
        return True

    # -- one command ----------------------------------------------------------------------------------------------

    async def handle(self, payload: bytes) -> CommandOutcome | None:
        """Carry out (or recall) one command and record its outcome; None for a payload with no usable cmd_id."""
        if len(payload) > self.max_payload:
            return self._too_large(payload)
        if len(payload) > LARGE_PAYLOAD and self._access is not None:
            offloaded = await self._access.apply_payload(payload, seen=self._seen.keys())
            if offloaded.cmd_id is not None and offloaded.cmd_id in self._seen:
                return self._recall(offloaded.cmd_id)
            if offloaded.cmd_id is not None and offloaded.result is not None:
                self.executed += 1
                return await self._record(offloaded.cmd_id, offloaded.result.ok, offloaded.result.detail)
            # Not an allow-list: parsed here, as any other payload.
        raw = _parse(payload)
        if isinstance(raw, _NotJson):
            self.dropped += 1
            self._log.warning("commands: payload is not JSON (%s), dropped: %r", raw.reason, payload[:200])
            return None
        cmd_id = _cmd_id_of(raw)
        if cmd_id is None or not isinstance(raw, dict):
            self.dropped += 1
            self._log.warning("commands: payload without a usable cmd_id, dropped: %r", payload[:200])
            return None
        if cmd_id in self._seen:
            return self._recall(cmd_id)
        try:
            ok, detail = await self._execute(cmd_id, raw)
        except MalformedCommand as exc:
            ok, detail = False, f"malformed command: {exc}"
            self._log.warning("commands: %r refused: %s; payload=%r", cmd_id, exc, payload[:200])
        except Exception as exc:
            ok, detail = False, f"failed: {exc}"
            self._log.exception("commands: %r failed; payload=%r", cmd_id, payload[:200])
        self.executed += 1
        return await self._record(cmd_id, ok, detail)

    def _recall(self, cmd_id: str) -> CommandOutcome:
        self.repeated += 1
        ok, detail = self._seen[cmd_id]
        self._log.info("commands: %r delivered again; not carried out twice", cmd_id)
        return CommandOutcome(cmd_id, ok, detail, repeated=True)

    async def _record(self, cmd_id: str, ok: bool, detail: str) -> CommandOutcome:
        """Remember the outcome on disk; the outcome to publish."""
        try:
            await self._remember(cmd_id, ok, detail)
        except Exception as exc:
            self.failed += 1
            self._log.exception("commands: the outcome of %r could not be recorded", cmd_id)
            return CommandOutcome(cmd_id, False, f"failed at the edge: its outcome could not be recorded ({exc}); "
                                                 f"the command itself: {'ok' if ok else 'not ok'}: {detail}")
        return CommandOutcome(cmd_id, ok, detail)

    def _too_large(self, payload: bytes) -> CommandOutcome | None:
        self.dropped += 1
        detail = (f"refused: the command is {len(payload)} bytes, more than the {self.max_payload} this site takes "
                  "([access] max_bytes)")
        match = HEAD_CMD_ID.search(payload[:HEAD])
        cmd_id = None
        if match is not None:
            with contextlib.suppress(UnicodeDecodeError):
                cmd_id = match.group(1).decode()
        self._log.warning("commands: %r %s; head=%r", cmd_id, detail, payload[:200])
        return None if cmd_id is None else CommandOutcome(cmd_id, False, detail)

    async def _remember(self, cmd_id: str, ok: bool, detail: str) -> None:
        # Taken before the write: lanes record side by side, and each outcome needs its own number.
        self._counter += 1
        counter = self._counter
        await self._outbox.write([
            ("INSERT OR REPLACE INTO commands_seen (cmd_id, received, ok, detail) VALUES (?, ?, ?, ?)",
             (cmd_id, counter, int(ok), detail)),
            ("DELETE FROM commands_seen WHERE received <= ?", (counter - REMEMBERED,)),
        ])
        self._seen[cmd_id] = (ok, detail)
        while len(self._seen) > REMEMBERED:
            del self._seen[next(iter(self._seen))]

    def _expired(self, raw: dict[str, Any]) -> str | None:
        """Why the command is too old to carry out, or None. A command without a readable `issued_at` is malformed:
        its age, and so whether it may still be carried out, is unknown."""
        issued = raw.get("issued_at")
        if not isinstance(issued, str):
            raise MalformedCommand("'issued_at' must be a UTC timestamp (ISO 8601)")
        try:
            issued_at = parse_ts(issued)
        except ValueError:
            raise MalformedCommand(f"'issued_at' is not a timestamp: {issued[:40]!r}") from None
        age = (self._clock.now() - issued_at).total_seconds()
        if age <= self.max_age:
            return None
        return (f"expired: issued at {format_ts(issued_at)}, {age:.0f} s ago (max_command_age {self.max_age:.0f} s); "
                "not carried out")

    async def _execute(self, cmd_id: str, raw: dict[str, Any]) -> tuple[bool, str]:
        name = raw.get("name")
        if not isinstance(name, str):
            raise MalformedCommand("'name' must be a string")
        args = raw.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise MalformedCommand("'args' must be an object")
        if name == ACCESS_LIST:
            return await self._access_list(args)
        expired = self._expired(raw)
        if expired is not None:
            self._log.warning("commands: %r (%s) refused: %s", cmd_id, name, expired)
            return False, expired
        if name == "ping":
            return True, f"pong: last_seq {self._outbox.last_seq}"
        if "device" in args:
            return await self._device_command(cmd_id, name, args)
        if name in ("arm", "disarm"):
            return await self._arm(cmd_id, name, args)
        raise MalformedCommand(f"unknown command {name!r} (known: {ACCESS_LIST}, arm, disarm, ping)")

    async def _access_list(self, args: dict[str, Any]) -> tuple[bool, str]:
        if self._access is None:
            return False, "refused: this edge keeps no allow-list"
        result = await self._access.apply(args)
        return result.ok, result.detail

    async def _device_command(self, cmd_id: str, name: str, args: dict[str, Any]) -> tuple[bool, str]:
        device = args["device"]
        if not isinstance(device, str) or not device or len(device) > 128:
            raise MalformedCommand("'device' must be a non-empty string")
        takers = [cast(DeviceCommandDriver, driver) for driver in self._drivers
                  if callable(getattr(driver, "device_command", None))]
        known = sorted({command for driver in takers for command in driver.device_commands})
        if name not in known:
            raise MalformedCommand(f"unknown device command {name!r} (known here: {', '.join(known) or 'none'})")
        for driver in takers:
            if name not in driver.device_commands:
                continue
            try:
                async with asyncio.timeout(DEVICE_COMMAND_TIMEOUT):
                    result = await driver.device_command(device, name, dict(args))
            except TimeoutError:
                result = CommandResult(False, f"{device}: no answer within {DEVICE_COMMAND_TIMEOUT:.0f} s")
            if result is not None:
                self._log.info("commands: %r %s to %s via %s: %s: %s", cmd_id, name, device, driver.name,
                               "ok" if result.ok else "failed", result.detail)
                return result.ok, f"{driver.name}: {result.detail}"
        return False, f"device {device!r} is not served by this gateway"

    async def _arm(self, cmd_id: str, name: str, args: dict[str, Any]) -> tuple[bool, str]:
        partition = args.get("partition", 0)
        if not isinstance(partition, int) or isinstance(partition, bool) or not 0 <= partition <= 999:
            raise MalformedCommand("'partition' must be an integer 0..999")
        user = args.get("user", "central")
        if not isinstance(user, str):
            raise MalformedCommand("'user' must be a string")
        state = "armed" if name == "arm" else "disarmed"
        now = self._clock.now()
        reading = Reading(
            device=COMMAND_DEVICE,
            kind=Kind.ARMING,
            data={"state": state, "partition": partition, "user": user, "source": "command", "cmd_id": cmd_id},
            ts=now,
            rx=now,
        )
        try:
            seq = await self._sink.submit(reading)
        except OutboxRefused as exc:
            return False, f"not recorded at the edge: {exc}"
        details = [f"{state} partition {partition} (seq {seq})"]
        ok = True
        commandable = [(driver, command) for driver in self._drivers
                       if (command := _driver_command(driver)) is not None]
        if not commandable:
            # ok: the edge's own state is set (its alarms are stamped by it), but no panel was told.
            details.insert(0, NO_REMOTE_ARMING)
        for driver, command in commandable:
            try:
                async with asyncio.timeout(DRIVER_COMMAND_TIMEOUT):
                    result = await command(name, dict(args))
            except TimeoutError:
                result = CommandResult(False, f"no answer within {DRIVER_COMMAND_TIMEOUT:.0f} s")
            except Exception as exc:
                self._log.exception("commands: driver %s failed on %r", driver.name, cmd_id)
                result = CommandResult(False, f"error: {exc}")
            ok = ok and result.ok
            details.append(f"{driver.name}: {'ok' if result.ok else 'failed'}: {result.detail}")
        self._log.info("commands: %r %s partition %d by %r: %s", cmd_id, name, partition, user, "; ".join(details))
        return ok, "; ".join(details)


@dataclass(frozen=True)
class _NotJson:
    reason: str


def _parse(payload: bytes) -> Any:
    """The payload's JSON, or `_NotJson` (hostile nesting included: it must not stop the command loop)."""
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return _NotJson(repr(exc)[:200])


def _lane_of(payload: bytes) -> str | None:
    """The device whose lane the command goes to; None for the main lane (arming, ping, allow-lists, the unreadable).

    Decided by the payload alone: a redelivery queues behind its first delivery in the same lane and so finds its
    outcome recorded, never carried out twice."""
    if len(payload) > LARGE_PAYLOAD:
        return None  # only an allow-list is that long; not parsed here (see `LARGE_PAYLOAD`)
    raw = _parse(payload)
    if not isinstance(raw, dict) or raw.get("name") in (ACCESS_LIST, "ping"):
        return None
    args = raw.get("args")
    device = args.get("device") if isinstance(args, dict) else None
    return device if isinstance(device, str) and device else None


def _cmd_id_of(raw: Any) -> str | None:
    cmd_id = raw.get("cmd_id") if isinstance(raw, dict) else None
    if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > 200:
        return None
    return cmd_id
