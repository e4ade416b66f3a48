"""Central's commands over a real broker: arm/disarm with a result, once per cmd_id, malformed, expired and failing
ones answered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from drivers.base import CommandResult, DriverContext
from edge.agent import EdgeAgent
from edge.commands import NO_REMOTE_ARMING
from shaobing import topics
from shaobing.clock import format_ts, utc_now
from shaobing.envelope import Kind, Reading
from shaobing.mqtt import MqttLink, MqttSettings

from .conftest import LOG, Collector, MakeConfig, collecting

MakeSettings = Callable[..., MqttSettings]


class KeypadDriver:
    """A driver that takes commands, as a panel with remote arming would; it records what it was told."""

    name = "keypad"

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.commands: list[tuple[str, dict[str, Any]]] = []

    async def run(self, ctx: DriverContext) -> None:
        await asyncio.Event().wait()

    async def command(self, name: str, args: Mapping[str, Any]) -> CommandResult:
        self.commands.append((name, dict(args)))
        return CommandResult(self.ok, "panel says done" if self.ok else "panel busy")


@asynccontextmanager
async def central(mqtt_settings: MakeSettings) -> AsyncIterator[tuple[MqttLink, Collector]]:
    """A listener and a sender: two connections at once, so two central users (one connection per broker user)."""
    subscriptions = [(topics.ALL_CMD_RESULTS, 1), (topics.SHARED_EVENTS, 1)]
    async with collecting(mqtt_settings("_central-1"), subscriptions) as received, \
            MqttLink(mqtt_settings("_central-2"), log=LOG) as sender:
        await sender.wait_connected(5)
        yield sender, received


def results(collector: Collector) -> list[dict[str, Any]]:
    return collector.payloads("/cmd/result")


def arming_events(collector: Collector) -> list[dict[str, Any]]:
    return [p for p in collector.payloads("/event/") if p["kind"] == "arming"]


def issued(seconds_ago: float = 0.0) -> str:
    return format_ts(utc_now() - timedelta(seconds=seconds_ago))


async def send(link: MqttLink, payload: dict[str, Any] | bytes, site: str = "shop-a") -> None:
    """Publish a command; a dict without `issued_at` is stamped with the present moment."""
    if isinstance(payload, dict):
        payload = json.dumps({"issued_at": issued(), **payload}).encode()
    await link.publish(topics.cmd(site), payload)


async def test_arm_and_disarm_change_the_state_alarms_are_judged_by(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    keypad = KeypadDriver()
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[keypad]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "arm", "args": {"partition": 1, "user": "op7"},
                            "issued_at": "2026-11-24T20:00:00.000Z"})
        await received.wait_for(lambda c: len(results(c)) == 1)
        first_alarm = await agent.sink.submit(Reading("panel-1", Kind.ALARM, {"class": "burglary", "partition": 1}))
        await send(sender, {"cmd_id": "c-2", "name": "disarm", "args": {"partition": 1, "user": "op7"}})
        await received.wait_for(lambda c: len(results(c)) == 2)
        second_alarm = await agent.sink.submit(Reading("panel-1", Kind.ALARM, {"class": "burglary", "partition": 1}))
        await received.wait_for(lambda c: len(arming_events(c)) == 2 and len(c.payloads("/event/alarm")) == 2)
    assert [(r["cmd_id"], r["ok"]) for r in results(received)] == [("c-1", True), ("c-2", True)]
    assert "keypad: ok: panel says done" in results(received)[0]["detail"]
    assert keypad.commands == [("arm", {"partition": 1, "user": "op7"}), ("disarm", {"partition": 1, "user": "op7"})]
    assert [e["data"] for e in arming_events(received)] == [
        {"state": "armed", "partition": 1, "user": "op7", "source": "command", "cmd_id": "c-1"},
        {"state": "disarmed", "partition": 1, "user": "op7", "source": "command", "cmd_id": "c-2"},
    ]
    alarms = {a["seq"]: a["data"]["site_armed"] for a in received.payloads("/event/alarm")}
    assert alarms == {first_alarm: True, second_alarm: False}


async def test_a_command_delivered_twice_is_carried_out_once_even_across_a_restart(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    keypad = KeypadDriver()
    command = {"cmd_id": "c-dup", "name": "arm", "args": {"partition": 2, "user": "op1"}}
    async with central(mqtt_settings) as (sender, received):
        async with EdgeAgent(edge_config(), drivers=[keypad]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, command)
            await send(sender, command)
            await received.wait_for(lambda c: len(results(c)) == 2)
            last_seq = agent.outbox.last_seq
        async with EdgeAgent(edge_config(), drivers=[keypad]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, command)
            await received.wait_for(lambda c: len(results(c)) == 3)
            assert agent.outbox.last_seq == last_seq
    assert len(keypad.commands) == 1
    assert len({json.dumps(r, sort_keys=True) for r in results(received)}) == 1  # the same result each time
    assert results(received)[0]["ok"] is True


async def test_malformed_commands_are_answered_or_dropped_and_the_agent_carries_on(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, b"\xff\xfe not json")
        await send(sender, b"[1, 2, 3]")
        await send(sender, {"name": "arm"})  # no cmd_id: nobody to answer
        await send(sender, {"cmd_id": "m-1", "name": 5})
        await send(sender, {"cmd_id": "m-2", "name": "self_destruct"})
        await send(sender, {"cmd_id": "m-3", "name": "arm", "args": {"partition": "one"}})
        await send(sender, {"cmd_id": "m-4", "name": "arm", "args": [1]})
        await send(sender, {"cmd_id": "m-5", "name": "ping"})
        await send(sender, b'{"cmd_id": "m-6", "name": "ping"}')  # no issued_at: its age is unknown
        await send(sender, {"cmd_id": "m-7", "name": "ping", "issued_at": "yesterday"})
        await send(sender, b'{"cmd_id": "m-8", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        await received.wait_for(lambda c: len(results(c)) == 7)
        assert agent.status()["arming"] == {}
    answers = {r["cmd_id"]: (r["ok"], r["detail"]) for r in results(received)}
    assert answers["m-1"] == (False, "malformed command: 'name' must be a string")
    assert answers["m-2"][0] is False
    assert "unknown command" in answers["m-2"][1]
    assert answers["m-3"] == (False, "malformed command: 'partition' must be an integer 0..999")
    assert answers["m-4"] == (False, "malformed command: 'args' must be an object")
    assert answers["m-5"][0] is True
    assert answers["m-5"][1].startswith("pong")
    assert answers["m-6"] == (False, "malformed command: 'issued_at' must be a UTC timestamp (ISO 8601)")
    assert answers["m-7"] == (False, "malformed command: 'issued_at' is not a timestamp: 'yesterday'")
    assert "m-8" not in answers  # too deeply nested to read: logged and dropped, and the loop carries on


async def test_a_driver_that_fails_the_command_makes_the_result_not_ok(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[KeypadDriver(ok=False)]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-9", "name": "arm", "args": {"partition": 1}})
        await received.wait_for(lambda c: len(results(c)) == 1)
    (result,) = results(received)
    assert result["ok"] is False
    assert "keypad: failed: panel busy" in result["detail"]


async def test_a_command_older_than_max_command_age_is_refused_as_expired(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    keypad = KeypadDriver()
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(commands={"max_command_age": 60}), drivers=[keypad]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "old", "name": "disarm", "args": {"partition": 1}, "issued_at": issued(61)})
        await send(sender, {"cmd_id": "fresh", "name": "arm", "args": {"partition": 2}, "issued_at": issued(50)})
        await received.wait_for(lambda c: len(results(c)) == 2)
        await received.wait_for(lambda c: len(arming_events(c)) == 1)
        arming = agent.status()["arming"]
    answers = {r["cmd_id"]: (r["ok"], r["detail"]) for r in results(received)}
    assert answers["old"][0] is False
    assert answers["old"][1].startswith("expired: issued at ")
    assert "max_command_age 60 s" in answers["old"][1]
    assert answers["fresh"][0] is True
    assert keypad.commands == [("arm", {"partition": 2})]  # the panel was never told of the expired one
    assert [e["data"]["cmd_id"] for e in arming_events(received)] == ["fresh"]
    assert list(arming) == [2]


async def test_without_a_commandable_device_the_result_says_only_the_edge_state_was_set(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "arm", "args": {}})
        await received.wait_for(lambda c: len(results(c)) == 1)
        assert agent.arming.armed(None) is True  # the state the edge stamps its alarms with
    (result,) = results(received)
    assert result["ok"] is True
    assert NO_REMOTE_ARMING in result["detail"]
    assert NO_REMOTE_ARMING == "arming state set at the edge; no device on this site accepts remote arming"


async def test_a_command_with_a_commandable_device_does_not_claim_there_is_none(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[KeypadDriver()]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "arm", "args": {}})
        await received.wait_for(lambda c: len(results(c)) == 1)
    (result,) = results(received)
    assert result["ok"] is True
    assert NO_REMOTE_ARMING not in result["detail"]


@contextlib.contextmanager
def refusing_command_records(outbox_path: Path) -> Iterator[None]:
    """A trigger in the agent's own database that makes recording a command's outcome fail, as a full disk would."""
    with contextlib.closing(sqlite3.connect(outbox_path)) as db:
        db.execute("CREATE TRIGGER refuse_records BEFORE INSERT ON commands_seen "
                   "BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        db.commit()
        try:
            yield
        finally:
            db.execute("DROP TRIGGER refuse_records")
            db.commit()


async def test_a_command_whose_handling_fails_is_answered_not_ok_and_still_acknowledged(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    config = edge_config()
    async with central(mqtt_settings) as (sender, received):
        async with EdgeAgent(config, drivers=[]) as agent:
            await agent.link.wait_subscribed(5)
            with refusing_command_records(config.outbox.path):
                await send(sender, {"cmd_id": "p-1", "name": "ping"})
                await received.wait_for(lambda c: len(results(c)) == 1)
        # Acknowledged: the persistent session does not hand it to the agent again after a restart.
        async with EdgeAgent(config, drivers=[]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, {"cmd_id": "p-2", "name": "ping"})
            await received.wait_for(lambda c: any(r["cmd_id"] == "p-2" for r in results(c)))
    answers = [(r["cmd_id"], r["ok"]) for r in results(received)]
    assert answers == [("p-1", False), ("p-2", True)]
    detail = results(received)[0]["detail"]
    assert detail.startswith("failed at the edge: its outcome could not be recorded")
    assert "disk says no" in detail
