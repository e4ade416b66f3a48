"""Central's commands over a real broker: arm/disarm with a result, once per cmd_id, malformed ones answered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from drivers.base import CommandResult, DriverContext
from edge.agent import EdgeAgent
from shaobing import topics
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
    subscriptions = [(topics.ALL_CMD_RESULTS, 1), (topics.SHARED_EVENTS, 1)]
    async with collecting(mqtt_settings("_central-1"), subscriptions) as received, \
            MqttLink(mqtt_settings("_central-1"), log=LOG) as sender:
        await sender.wait_connected(5)
        yield sender, received


def results(collector: Collector) -> list[dict[str, Any]]:
    return collector.payloads("/cmd/result")


def arming_events(collector: Collector) -> list[dict[str, Any]]:
    return [p for p in collector.payloads("/event/") if p["kind"] == "arming"]


async def send(link: MqttLink, payload: dict[str, Any] | bytes, site: str = "shop-a") -> None:
    await link.publish(topics.cmd(site), payload if isinstance(payload, bytes) else json.dumps(payload).encode())


async def test_arm_and_disarm_change_the_state_alarms_are_judged_by(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    keypad = KeypadDriver()
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[keypad]) as agent:
        await agent.link.wait_connected(5)
        await asyncio.sleep(0.2)
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
            await agent.link.wait_connected(5)
            await asyncio.sleep(0.2)
            await send(sender, command)
            await send(sender, command)
            await received.wait_for(lambda c: len(results(c)) == 2)
            last_seq = agent.outbox.last_seq
        async with EdgeAgent(edge_config(), drivers=[keypad]) as agent:
            await agent.link.wait_connected(5)
            await asyncio.sleep(0.2)
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
        await agent.link.wait_connected(5)
        await asyncio.sleep(0.2)
        await send(sender, b"\xff\xfe not json")
        await send(sender, b"[1, 2, 3]")
        await send(sender, {"name": "arm"})  # no cmd_id: nobody to answer
        await send(sender, {"cmd_id": "m-1", "name": 5})
        await send(sender, {"cmd_id": "m-2", "name": "self_destruct"})
        await send(sender, {"cmd_id": "m-3", "name": "arm", "args": {"partition": "one"}})
        await send(sender, {"cmd_id": "m-4", "name": "arm", "args": [1]})
        await send(sender, {"cmd_id": "m-5", "name": "ping"})
        await received.wait_for(lambda c: len(results(c)) == 5)
        assert agent.status()["arming"] == {}
    answers = {r["cmd_id"]: (r["ok"], r["detail"]) for r in results(received)}
    assert answers["m-1"] == (False, "malformed command: 'name' must be a string")
    assert answers["m-2"][0] is False
    assert "unknown command" in answers["m-2"][1]
    assert answers["m-3"] == (False, "malformed command: 'partition' must be an integer 0..999")
    assert answers["m-4"] == (False, "malformed command: 'args' must be an object")
    assert answers["m-5"][0] is True
    assert answers["m-5"][1].startswith("pong")


async def test_a_driver_that_fails_the_command_makes_the_result_not_ok(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[KeypadDriver(ok=False)]) as agent:
        await agent.link.wait_connected(5)
        await asyncio.sleep(0.2)
        await send(sender, {"cmd_id": "c-9", "name": "arm", "args": {"partition": 1}})
        await received.wait_for(lambda c: len(results(c)) == 1)
    (result,) = results(received)
    assert result["ok"] is False
    assert "keypad: failed: panel busy" in result["detail"]
