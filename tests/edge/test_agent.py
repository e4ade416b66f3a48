"""The agent as a whole: drivers supervised, status, configuration errors that name file and key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from drivers.base import DriverContext, OutboxRefused
from edge import agent as agent_module
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from shaobing.envelope import Kind, Reading
from shaobing.errors import ConfigError

from .conftest import MakeConfig


class CrashingDriver:
    """Crashes on its first two runs, then submits one reading and serves quietly."""

    name = "flaky"

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, ctx: DriverContext) -> None:
        self.runs += 1
        if self.runs <= 2:
            raise RuntimeError(f"device unplugged (run {self.runs})")
        await ctx.sink.submit(Reading("flaky-1", Kind.TEST, {"run": self.runs}))
        await asyncio.Event().wait()


class SteadyDriver:
    name = "steady"

    async def run(self, ctx: DriverContext) -> None:
        for i in range(3):
            await ctx.sink.submit(Reading("steady-1", Kind.STATUS, {"i": i}))
        ctx.stats.count("frames", 3)
        await asyncio.Event().wait()


async def test_a_crashing_driver_is_restarted_and_the_others_carry_on(
    edge_config: MakeConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(agent_module, "RESTART_DELAY_MIN", 0.05)
    flaky = CrashingDriver()
    async with EdgeAgent(edge_config(), drivers=[flaky, SteadyDriver()]) as agent:
        async with asyncio.timeout(10):
            while agent.outbox.last_seq < 4:
                await asyncio.sleep(0.02)
        status = agent.status()
    assert flaky.runs == 3
    assert status["drivers"]["flaky"]["restarts"] == 2
    assert status["drivers"]["steady"] == {"restarts": 0, "counts": {"frames": 3}}
    assert status["outbox"]["last_seq"] == 4
    assert "device unplugged (run 1)" in caplog.text


async def test_the_status_reports_pending_readings_and_the_link(
    edge_config: MakeConfig,
) -> None:
    async with EdgeAgent(edge_config(mqtt={"url": "mqtt://127.0.0.1:1"}), drivers=[]) as agent:
        await agent.sink.submit(Reading("panel-1", Kind.ALARM, {"class": "panic"}))
        await agent.sink.submit(Reading("bike-1", Kind.POSITION, {"lat": 1.0, "lon": 2.0}))
        status = agent.status()
    assert status["connected"] is False
    assert status["outbox"]["pending"] == {1: 1, 5: 1}
    assert status["outbox"]["last_seq"] == 2
    assert status["site"] == "shop-a"


def test_a_configuration_is_read_with_paths_relative_to_its_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n")
    config_file = tmp_path / "site.toml"
    config_file.write_text('[site]\nid = "shop-a"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\npassword_file = "secret"\n'
                           '[outbox]\npath = "var/o.db"\n[[drivers]]\ntype = "contact_id"\nport = "/dev/pts/9"\n')
    config = load_edge_config(config_file)
    assert config.outbox.path == tmp_path / "var" / "o.db"
    assert config.username == "shop-a"
    assert config.password() == "s3cret"
    assert config.drivers == [{"type": "contact_id", "port": "/dev/pts/9"}]
    assert config.outbox.max_readings == 1_000_000
    assert config.mqtt.max_inflight == 500


@pytest.mark.parametrize(("text", "message"), [
    ('[site]\nid = "Shop A"\n[mqtt]\nurl = "mqtt://h:1"\n[outbox]\npath = "o.db"\n', "site.id"),
    ('[site]\nid = "shop-a"\ncolour = "red"\n[mqtt]\nurl = "mqtt://h:1"\n[outbox]\npath = "o.db"\n',
     "site.colour: unknown key"),
    ('[site]\nid = "shop-a"\n[mqtt]\nurl = "mqtt://h:1"\n[outbox]\npath = "o.db"\nmax_readings = 0\n',
     "outbox.max_readings"),
    ('[site]\nid = "shop-a"\n[mqtt]\nurl = "mqtt://h:1"\npassword = "a"\npassword_file = "b"\n'
     '[outbox]\npath = "o.db"\n', "mqtt: Value error, give password or password_file, not both"),
    ('[site]\nid = "shop-a"\n[mqtt]\nurl = "http://h:1"\n[outbox]\npath = "o.db"\n', "mqtt.url"),
    ('[site]\nid = "shop-a"\n[outbox]\npath = "o.db"\n', "mqtt: Field required"),
])
def test_configuration_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    config_file = tmp_path / "site.toml"
    config_file.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_edge_config(config_file)
    assert str(error.value).startswith(str(config_file))
    assert message in str(error.value)


async def test_an_unknown_driver_type_is_a_configuration_error(edge_config: MakeConfig) -> None:
    config = edge_config(drivers=[{"type": "teleporter"}])
    with pytest.raises(ConfigError, match=r"site.toml: drivers\[0\]: unknown driver type 'teleporter'"):
        async with EdgeAgent(config, config_source="site.toml"):
            pass


class WriterFault(BaseException):
    """A fault the outbox writer cannot handle (not an `Exception`), standing in for a bug in it."""


async def test_the_agent_stops_when_its_outbox_writer_dies(
    edge_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    def fatal_listener(priority: int) -> None:
        raise WriterFault("the writer's own fault")

    async with EdgeAgent(edge_config(mqtt={"url": "mqtt://127.0.0.1:1"}), drivers=[SteadyDriver()]) as agent:
        async with asyncio.timeout(5):
            while agent.outbox.last_seq < 3:
                await asyncio.sleep(0.01)
        agent.outbox.add_listener(fatal_listener)
        await agent.sink.submit(Reading("panel-1", Kind.ALARM, {"class": "panic"}))
        async with asyncio.timeout(5):
            reason = await agent.wait_failed()
            with pytest.raises(OutboxRefused):  # at once: no device is acknowledged any more
                await agent.sink.submit(Reading("panel-1", Kind.ALARM, {"class": "panic"}))
        assert agent.failure == reason
    assert "the outbox writer stopped" in reason
    assert "WriterFault" in reason
    assert "cannot go on" in caplog.text
