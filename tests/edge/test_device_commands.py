"""Commands addressed to one device of a gateway (a tracker's IMEI in `args.device`), over a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from drivers.base import CommandResult, DriverContext
from edge.agent import EdgeAgent
from shaobing import topics
from shaobing.broker import MosquittoBroker
from shaobing.mqtt import MqttLink, MqttSettings

from .conftest import LOG, MakeConfig, collecting
from .test_commands import arming_events, central, results, send

MakeSettings = Callable[..., MqttSettings]


class GatewayDriver:
    """Serves a few devices and takes commands for them, as a tracker gateway does; it records what it was told."""

    device_commands = frozenset({"engine_stop", "engine_resume", "arm"})

    def __init__(self, name: str, devices: set[str]) -> None:
        self.name = name
        self.devices = devices
        self.told: list[tuple[str, str, dict[str, Any]]] = []

    async def run(self, ctx: DriverContext) -> None:
        await asyncio.Event().wait()

    async def device_command(self, device: str, name: str, args: Mapping[str, Any]) -> CommandResult | None:
        if device not in self.devices:
            return None
        self.told.append((device, name, dict(args)))
        return CommandResult(True, f"{device} says: Cut off the fuel supply: Success!")


async def test_a_device_command_reaches_the_driver_that_serves_the_device_only(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    first = GatewayDriver("gt06-a", {"111111111111111"})
    second = GatewayDriver("gt06-b", {"222222222222222"})
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[first, second]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": "222222222222222"}})
        await received.wait_for(lambda c: len(results(c)) == 1)
    (result,) = results(received)
    assert result == {"cmd_id": "c-1", "ok": True,
                      "detail": "gt06-b: 222222222222222 says: Cut off the fuel supply: Success!"}
    assert first.told == []
    assert second.told == [("222222222222222", "engine_stop", {"device": "222222222222222"})]


async def test_a_device_arm_command_makes_no_site_arming_reading(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = GatewayDriver("gt06", {"111111111111111"})
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[gateway]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "arm", "args": {"device": "111111111111111"}})
        await received.wait_for(lambda c: len(results(c)) == 1)
        assert agent.arming.armed(None) is None  # the site's own arming state is untouched
    assert results(received)[0]["ok"] is True
    assert arming_events(received) == []
    assert gateway.told == [("111111111111111", "arm", {"device": "111111111111111"})]


async def test_unknown_devices_unknown_names_and_bad_device_fields_are_answered_not_ok(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = GatewayDriver("gt06", {"111111111111111"})
    commands: list[dict[str, Any]] = [
        {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": "999999999999999"}},
        {"cmd_id": "c-2", "name": "self_destruct", "args": {"device": "111111111111111"}},
        {"cmd_id": "c-3", "name": "engine_stop", "args": {"device": 12345}},
        {"cmd_id": "c-4", "name": "engine_stop", "args": {"device": ""}},
    ]
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[gateway]) as agent:
        await agent.link.wait_subscribed(5)
        for command in commands:
            await send(sender, command)
        await received.wait_for(lambda c: len(results(c)) == len(commands))
    by_id = {result["cmd_id"]: result for result in results(received)}
    assert all(result["ok"] is False for result in by_id.values())
    assert by_id["c-1"]["detail"] == "device '999999999999999' is not served by this gateway"
    assert "unknown device command 'self_destruct'" in by_id["c-2"]["detail"]
    assert "engine_resume, engine_stop" in by_id["c-2"]["detail"]
    assert "'device' must be a non-empty string" in by_id["c-3"]["detail"]
    assert "'device' must be a non-empty string" in by_id["c-4"]["detail"]
    assert gateway.told == []


async def test_a_device_command_on_a_site_without_a_gateway_is_refused(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": "111111111111111"}})
        await received.wait_for(lambda c: len(results(c)) == 1)
    (result,) = results(received)
    assert result["ok"] is False
    assert "known here: none" in result["detail"]


class SlowGatewayDriver(GatewayDriver):
    """A gateway one of whose trackers does not answer until `release` is set, as one out of GPRS coverage."""

    def __init__(self, silent: str, answering: str) -> None:
        super().__init__("gt06", {silent, answering})
        self.silent = silent
        self.release = asyncio.Event()

    async def device_command(self, device: str, name: str, args: Mapping[str, Any]) -> CommandResult | None:
        self.told.append((device, name, dict(args)))
        if device == self.silent:
            await self.release.wait()
        return CommandResult(True, f"{device} done")


SILENT = "111111111111111"
ANSWERING = "222222222222222"


async def test_a_silent_device_holds_up_neither_other_devices_nor_the_site_and_every_command_is_acked_once(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = SlowGatewayDriver(SILENT, ANSWERING)
    config = edge_config()
    async with central(mqtt_settings) as (sender, received):
        async with EdgeAgent(config, drivers=[gateway]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": SILENT}})
            await send(sender, {"cmd_id": "c-2", "name": "engine_stop", "args": {"device": ANSWERING}})
            await send(sender, {"cmd_id": "c-3", "name": "disarm", "args": {"partition": 0}})
            await received.wait_for(lambda c: {r["cmd_id"] for r in results(c)} == {"c-2", "c-3"})
            assert agent.arming.armed(None) is False  # the site's disarm took effect meanwhile
            gateway.release.set()
            await received.wait_for(lambda c: len(results(c)) == 3)
        # Every message acknowledged, the later ones in spite of finishing first: nothing comes again after a restart.
        async with EdgeAgent(config, drivers=[gateway]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, {"cmd_id": "p-1", "name": "ping"})
            await received.wait_for(lambda c: any(r["cmd_id"] == "p-1" for r in results(c)))
    assert [(r["cmd_id"], r["ok"]) for r in results(received)] == [("c-2", True), ("c-3", True), ("c-1", True),
                                                                    ("p-1", True)]
    assert [(device, name) for device, name, _ in gateway.told] == [(SILENT, "engine_stop"),
                                                                    (ANSWERING, "engine_stop")]


async def test_commands_to_one_device_run_one_at_a_time_in_order(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = SlowGatewayDriver(SILENT, ANSWERING)
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[gateway]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": SILENT}})
        await send(sender, {"cmd_id": "c-2", "name": "engine_resume", "args": {"device": SILENT}})
        await send(sender, {"cmd_id": "c-3", "name": "engine_stop", "args": {"device": ANSWERING}})
        await received.wait_for(lambda c: len(results(c)) == 1)
        assert [r["cmd_id"] for r in results(received)] == ["c-3"]
        assert [name for device, name, _ in gateway.told if device == SILENT] == ["engine_stop"]  # c-2 waits
        gateway.release.set()
        await received.wait_for(lambda c: len(results(c)) == 3)
    assert [r["cmd_id"] for r in results(received)] == ["c-3", "c-1", "c-2"]
    assert [name for device, name, _ in gateway.told if device == SILENT] == ["engine_stop", "engine_resume"]


async def test_a_command_delivered_again_while_it_runs_is_carried_out_once(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = SlowGatewayDriver(SILENT, ANSWERING)
    command = {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": SILENT}}
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(edge_config(), drivers=[gateway]) as agent:
        await agent.link.wait_subscribed(5)
        await send(sender, command)
        await send(sender, command)
        await send(sender, {"cmd_id": "c-2", "name": "ping"})
        await received.wait_for(lambda c: len(results(c)) == 1)
        gateway.release.set()
        await received.wait_for(lambda c: len(results(c)) == 3)
    assert [r["cmd_id"] for r in results(received)] == ["c-2", "c-1", "c-1"]
    assert results(received)[1] == results(received)[2] == {"cmd_id": "c-1", "ok": True,
                                                             "detail": f"gt06: {SILENT} done"}
    assert gateway.told == [(SILENT, "engine_stop", {"device": SILENT})]


async def test_a_command_the_broker_redelivers_while_it_runs_is_carried_out_once_and_acknowledged(
    broker: MosquittoBroker, mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    gateway = SlowGatewayDriver(SILENT, ANSWERING)
    config = edge_config()
    # A persistent listener: it misses no result across the broker's restart.
    listener = mqtt_settings("_central-1", clean_start=False, session_expiry=600)
    async with collecting(listener, [(topics.ALL_CMD_RESULTS, 1)]) as received, \
            MqttLink(mqtt_settings("_central-2"), log=LOG) as sender:
        await sender.wait_connected(5)
        async with EdgeAgent(config, drivers=[gateway]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, {"cmd_id": "c-1", "name": "engine_stop", "args": {"device": SILENT}})
            async with asyncio.timeout(5):
                while not gateway.told:
                    await asyncio.sleep(0.01)
            await broker.arestart()  # the unacknowledged c-1 comes again on the edge's new connection
            await agent.link.wait_subscribed(10)
            await sender.wait_connected(10)
            await send(sender, {"cmd_id": "p-1", "name": "ping"})  # comes after the redelivery
            await received.wait_for(lambda c: len(results(c)) == 1)
            gateway.release.set()
            await received.wait_for(lambda c: len(results(c)) == 3)
        async with EdgeAgent(config, drivers=[gateway]) as agent:
            await agent.link.wait_subscribed(5)
            await send(sender, {"cmd_id": "p-2", "name": "ping"})
            await received.wait_for(lambda c: any(r["cmd_id"] == "p-2" for r in results(c)))
    assert [r["cmd_id"] for r in results(received)] == ["p-1", "c-1", "c-1", "p-2"]  # acknowledged: not again
    assert gateway.told == [(SILENT, "engine_stop", {"device": SILENT})]
