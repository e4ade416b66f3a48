"""Central's commands to the site: `shaobing/v1/{site}/cmd` in, `shaobing/v1/{site}/cmd/result` out (QoS 1 both).

Payload `{"cmd_id", "name", "args", "issued_at", ...}`. Names: `arm` and `disarm` (args `{"partition": int, "user":
str}`; no partition means partition 0, the whole site) and `ping`. An arm/disarm goes through the agent's sink as an
`arming` reading (so it updates the arming state and reaches central in order with everything else) and is forwarded
to every driver that takes commands. The result is `{"cmd_id", "ok", "detail"}`.

A command issued more than `max_age` seconds ago (by its `issued_at`) is not carried out: a disarm that waited hours
in the broker for an offline site must not take effect when the site comes back. Its result is ok=false "expired".

When no driver of the site takes commands (Contact ID and DC-09 panels only report; they have no return channel), an
arm/disarm sets the edge's own arming state, by which its alarms are stamped, and the result says that no device was
told: the panel's own next open/close report sets the state again.

At-least-once in, exactly-once effect: the message is acknowledged to the broker only after its outcome is recorded
and its result published, and every cmd_id's outcome is remembered on disk (the latest `REMEMBERED` of them), so a
command delivered twice is carried out once and its recorded result is simply published again. A payload that is not
a command gets an ok=false result when a cmd_id can be read from it, and is otherwise logged and dropped. A command
whose handling fails (even the recording of its outcome) gets an ok=false result naming the failure, and is
acknowledged all the same: a command that failed once would fail again on every redelivery.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.base import CommandResult, Driver, OutboxRefused, ReadingSink
from edge.outbox import Outbox
from shaobing import topics
from shaobing.clock import Clock, format_ts, parse_ts
from shaobing.envelope import Kind, Reading
from shaobing.mqtt import IncomingMessage, MqttLink, PublishFailed

REMEMBERED = 1000
DRIVER_COMMAND_TIMEOUT = 10.0
COMMAND_DEVICE = "edge"
DEFAULT_MAX_AGE = 300.0
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
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
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
        async for message in link.messages():
            await self.serve(link, message)

    async def serve(self, link: MqttLink, message: IncomingMessage) -> None:
        """Handle one message of the command topic, answer it and acknowledge it."""
        if message.topic != self.topic:
            self._log.warning("commands: message on unexpected topic %r dropped: %r", message.topic,
                              message.payload[:200])
            link.ack(message)
            return
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
                return
        link.ack(message)

    # -- one command ----------------------------------------------------------------------------------------------

    async def handle(self, payload: bytes) -> CommandOutcome | None:
        """Carry out (or recall) one command and record its outcome; None for a payload with no usable cmd_id."""
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
            self.repeated += 1
            ok, detail = self._seen[cmd_id]
            self._log.info("commands: %r delivered again; not carried out twice", cmd_id)
            return CommandOutcome(cmd_id, ok, detail, repeated=True)
        try:
            ok, detail = await self._execute(cmd_id, raw)
        except MalformedCommand as exc:
            ok, detail = False, f"malformed command: {exc}"
            self._log.warning("commands: %r refused: %s; payload=%r", cmd_id, exc, payload[:200])
        except Exception as exc:
            ok, detail = False, f"failed: {exc}"
            self._log.exception("commands: %r failed; payload=%r", cmd_id, payload[:200])
        self.executed += 1
        try:
            await self._remember(cmd_id, ok, detail)
        except Exception as exc:
            self.failed += 1
            self._log.exception("commands: the outcome of %r could not be recorded", cmd_id)
            return CommandOutcome(cmd_id, False, f"failed at the edge: its outcome could not be recorded ({exc}); "
                                                 f"the command itself: {'ok' if ok else 'not ok'}: {detail}")
        return CommandOutcome(cmd_id, ok, detail)

    async def _remember(self, cmd_id: str, ok: bool, detail: str) -> None:
        counter = self._counter + 1
        await self._outbox.write([
            ("INSERT OR REPLACE INTO commands_seen (cmd_id, received, ok, detail) VALUES (?, ?, ?, ?)",
             (cmd_id, counter, int(ok), detail)),
            ("DELETE FROM commands_seen WHERE received <= ?", (counter - REMEMBERED,)),
        ])
        self._counter = counter
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
        expired = self._expired(raw)
        if expired is not None:
            self._log.warning("commands: %r (%s) refused: %s", cmd_id, name, expired)
            return False, expired
        if name == "ping":
            return True, f"pong: last_seq {self._outbox.last_seq}"
        if name in ("arm", "disarm"):
            return await self._arm(cmd_id, name, args)
        raise MalformedCommand(f"unknown command {name!r} (known: arm, disarm, ping)")

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


def _cmd_id_of(raw: Any) -> str | None:
    cmd_id = raw.get("cmd_id") if isinstance(raw, dict) else None
    if not isinstance(cmd_id, str) or not cmd_id or len(cmd_id) > 200:
        return None
    return cmd_id
