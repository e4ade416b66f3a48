"""The retained state topic: online on connect, offline before a clean stop, the will when the process dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from edge.agent import EdgeAgent
from shaobing import __version__, topics
from shaobing.broker import MosquittoBroker
from shaobing.envelope import Kind, Reading
from shaobing.mqtt import MqttSettings

from .conftest import MakeConfig, collecting

MakeSettings = Callable[..., MqttSettings]
STATES = [(topics.ALL_STATES, 1)]


def states(payloads: list[dict[str, object]]) -> list[bool]:
    return [bool(p["online"]) for p in payloads]


async def test_the_online_state_is_retained_and_a_clean_stop_publishes_offline(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with EdgeAgent(edge_config(), drivers=[]) as agent:
        await agent.link.wait_connected(5)
        await agent.sink.submit(Reading("panel-1", Kind.TEST, {}))
        # Subscribing after the fact: the broker hands over the retained state.
        async with collecting(mqtt_settings("_central-1"), STATES) as late:
            await late.wait_for(lambda c: len(c.messages) == 1)
        online = json.loads(late.messages[0].payload)
        assert late.messages[0].retain
        assert online["online"] is True
        assert online["version"] == __version__
        assert isinstance(online["since"], str)
        async with collecting(mqtt_settings("_central-1"), STATES) as central:
            await central.wait_for(lambda c: len(c.messages) == 1)
            await agent.stop()
            await central.wait_for(lambda c: len(c.messages) == 2)
    offline = central.payloads()[-1]
    assert offline["online"] is False
    assert offline["last_seq"] == 1


async def test_the_online_state_is_published_again_after_a_broker_restart(
    broker: MosquittoBroker, mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with EdgeAgent(edge_config(), drivers=[]) as agent:
        await agent.link.wait_connected(5)
        await broker.astop()
        async with asyncio.timeout(5):
            while agent.link.connected:
                await asyncio.sleep(0.01)
        await broker.astart()
        await agent.link.wait_connected(10)
        async with collecting(mqtt_settings("_central-1"), STATES) as central:
            await central.wait_for(lambda c: len(c.messages) >= 1)
            await central.wait_for(lambda c: c.payloads()[-1]["online"] is True)
        assert agent.link.connects == 2


def write_site_config(path: Path, broker: MosquittoBroker, tmp_path: Path) -> None:
    (tmp_path / "shop-a.password").write_text(broker.user("shop-a").password + "\n")
    path.write_text(
        '[site]\nid = "shop-a"\nname = "Shop A"\n\n'
        f'[mqtt]\nurl = "{broker.url}"\npassword_file = "shop-a.password"\nkeepalive = 5\n\n'
        '[outbox]\npath = "var/shop-a.db"\n\n[log]\nlevel = "INFO"\n'
    )


def start_edge_process(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from shaobing.cli import main; main()", "edge", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_the_will_says_offline_when_the_agent_process_is_killed(
    broker: MosquittoBroker, mqtt_settings: MakeSettings, tmp_path: Path
) -> None:
    config = tmp_path / "shop-a.toml"
    write_site_config(config, broker, tmp_path)
    async with collecting(mqtt_settings("_central-1"), STATES) as central:
        process = start_edge_process(config)
        try:
            await central.wait_for(lambda c: True in states(c.payloads()), within=20)
            process.send_signal(signal.SIGKILL)
            await central.wait_for(lambda c: states(c.payloads())[-1] is False, within=10)
        finally:
            process.kill()
            process.wait()
            assert process.stderr is not None
            process.stderr.close()
    assert states(central.payloads()) == [True, False]
    assert (tmp_path / "var" / "shop-a.db").exists()


async def test_sigterm_stops_the_agent_cleanly_with_an_offline_state(
    broker: MosquittoBroker, mqtt_settings: MakeSettings, tmp_path: Path
) -> None:
    config = tmp_path / "shop-a.toml"
    write_site_config(config, broker, tmp_path)
    async with collecting(mqtt_settings("_central-1"), STATES) as central:
        process = start_edge_process(config)
        try:
            await central.wait_for(lambda c: True in states(c.payloads()), within=20)
            process.send_signal(signal.SIGTERM)
            returncode = await asyncio.to_thread(process.wait, 10)
            await central.wait_for(lambda c: states(c.payloads())[-1] is False, within=10)
        finally:
            process.kill()
            process.wait()
            assert process.stderr is not None
            log = process.stderr.read().decode()
            process.stderr.close()
    assert returncode == 0, log
    assert "stopped" in log
    assert states(central.payloads()) == [True, False]
