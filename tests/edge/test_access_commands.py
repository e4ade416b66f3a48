"""The allow-list over a real broker: central's signed `access_list` command in, door decisions out, refusals that
keep the list in force, a restart, the uplink down."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drivers.base import AccessDecision, DriverContext
from edge.agent import EdgeAgent
from edge.commands import LARGE_PAYLOAD
from edge.config import AccessSection, EdgeConfig
from shaobing import topics
from shaobing.access_list import COMMAND, entry, public_key_text, sign, unsigned
from shaobing.broker import MosquittoBroker
from shaobing.clock import format_ts, utc_now
from shaobing.mqtt import MqttLink, MqttSettings

from .conftest import LOG, Collector, MakeConfig, collecting

MakeSettings = Callable[..., MqttSettings]
KEY = Ed25519PrivateKey.generate()
ANA, BEN, CARO = "04A1B2C3", "04A1B2C4D5E6F7", "W26:12:345"
LIST_1 = [entry(ANA, person="Ana"), entry(BEN, person="Ben", doors=["front"]), entry(CARO, person="Caro")]


class DoorDriver:
    """Stands for a card reader: it keeps its context, through which it asks the site's allow-list."""

    name = "door"

    def __init__(self) -> None:
        self.context: DriverContext | None = None

    async def run(self, ctx: DriverContext) -> None:
        self.context = ctx
        await asyncio.Event().wait()

    def decide(self, card: str, door: str = "front") -> AccessDecision:
        assert self.context is not None, "the driver was not started"
        return self.context.access.decide(card, door, utc_now())


def with_key(config: EdgeConfig, **access: Any) -> EdgeConfig:
    return config.model_copy(update={"access": AccessSection(public_key=public_key_text(KEY.public_key()),
                                                             **access)})


def listed(version: int, entries: list[dict[str, Any]], *, site: str = "shop-a",
           key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    return sign(unsigned(site, version, entries, issued_at=format_ts(utc_now())), key)


@asynccontextmanager
async def central(mqtt_settings: MakeSettings) -> AsyncIterator[tuple[MqttLink, Collector]]:
    async with collecting(mqtt_settings("_central-1"), [(topics.ALL_CMD_RESULTS, 1)]) as received, \
            MqttLink(mqtt_settings("_central-2"), log=LOG) as sender:
        await sender.wait_connected(5)
        yield sender, received


async def push(sender: MqttLink, received: Collector, cmd_id: str, args: Any) -> dict[str, Any]:
    """Send an `access_list` command and wait for its result."""
    payload = {"cmd_id": cmd_id, "name": COMMAND, "args": args, "issued_at": format_ts(utc_now())}
    answered = len(received.payloads("/cmd/result"))
    await sender.publish(topics.cmd("shop-a"), json.dumps(payload).encode())
    await received.wait_for(lambda c: len(c.payloads("/cmd/result")) > answered)
    (result,) = received.payloads("/cmd/result")[answered:]
    assert result["cmd_id"] == cmd_id
    return result


async def started(agent: EdgeAgent, door: DoorDriver) -> None:
    await agent.link.wait_subscribed(5)
    async with asyncio.timeout(5):
        while door.context is None:
            await asyncio.sleep(0.01)


@asynccontextmanager
async def edge_with_door(
    mqtt_settings: MakeSettings, config: EdgeConfig
) -> AsyncIterator[tuple[MqttLink, Collector, EdgeAgent, DoorDriver]]:
    """Central's command link, and the edge agent with one door driver, started."""
    door = DoorDriver()
    async with central(mqtt_settings) as (sender, received), EdgeAgent(config, drivers=[door]) as agent:
        await started(agent, door)
        yield sender, received, agent, door


async def test_a_signed_list_is_applied_and_the_doors_decide_by_it(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with edge_with_door(mqtt_settings, with_key(edge_config())) as (sender, received, agent, door):
        assert door.decide(ANA) == AccessDecision(False, "no_list")
        result = await push(sender, received, "list-1", listed(1, LIST_1))
        assert result == {"cmd_id": "list-1", "ok": True, "detail": "applied version 1 (3 cards)"}
        assert door.decide(ANA) == AccessDecision(True, "granted", "Ana")
        assert door.decide(BEN, "back") == AccessDecision(False, "door_not_allowed", "Ben")
        assert door.decide("DEADBEEF") == AccessDecision(False, "unknown_card")
        status = agent.status()["access"]
    assert (status["version"], status["entries"], status["cards"]) == (1, 3, 3)
    assert status["applied_at"] is not None


async def test_a_revoked_card_is_refused_after_the_next_version_and_redelivery_applies_nothing_twice(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with edge_with_door(mqtt_settings, with_key(edge_config())) as (sender, received, agent, door):
        await push(sender, received, "list-1", listed(1, LIST_1))
        second = listed(2, [e for e in LIST_1 if e["card"] != BEN])
        assert (await push(sender, received, "list-2", second))["detail"] == "applied version 2 (2 cards)"
        assert door.decide(BEN) == AccessDecision(False, "unknown_card")
        assert door.decide(ANA).granted
        # The same command delivered again: its recorded result, not a "stale" refusal.
        again = await push(sender, received, "list-2", second)
        assert again == {"cmd_id": "list-2", "ok": True, "detail": "applied version 2 (2 cards)"}
        assert len(received.payloads("/cmd/result")) == 3
        assert agent.status()["access"]["version"] == 2


async def test_forged_stale_foreign_oversized_and_malformed_lists_are_refused_and_the_old_one_stays(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    config = with_key(edge_config(), max_entries=50, max_bytes=20_000)
    async with edge_with_door(mqtt_settings, config) as (sender, received, agent, door):
        await push(sender, received, "list-5", listed(5, LIST_1))
        mallory = [entry("CAFEBABE", person="Mallory")]
        refused = {
            "forged": listed(6, mallory, key=Ed25519PrivateKey.generate()),
            "altered": {**listed(6, LIST_1), "entries": mallory},
            "unsigned": unsigned("shop-a", 6, mallory, issued_at=format_ts(utc_now())),
            "stale": listed(5, mallory),
            "older": listed(4, mallory),
            "foreign": listed(6, mallory, site="shop-b"),
            "too-many": listed(6, [entry(f"{n:08X}") for n in range(51)]),
            "too-large": listed(6, [entry(f"{n:08X}", person="x" * 150) for n in range(120)]),
            "not-a-card": listed(6, [entry("CAFEBABE"), {**entry("00"), "card": 1234}]),
            "no-doors": listed(6, [entry("CAFEBABE", doors=[])]),
            "not-an-object": [1, 2, 3],
        }
        results = {name: await push(sender, received, name, args) for name, args in refused.items()}
        assert all(result["ok"] is False for result in results.values()), results
        assert door.decide("CAFEBABE") == AccessDecision(False, "unknown_card")
        assert door.decide(ANA).granted
        assert agent.status()["access"]["version"] == 5
        # Too large, and its cmd_id past the head: nobody to answer; logged, dropped, and the commands go on.
        hidden = {"name": COMMAND, "args": refused["too-large"], "cmd_id": "hidden"}
        await sender.publish(topics.cmd("shop-a"), json.dumps(hidden).encode())
        assert (await push(sender, received, "after", listed(6, [])))["ok"] is True
        assert door.decide("CAFEBABE") == AccessDecision(False, "unknown_card")
        assert door.decide(ANA) == AccessDecision(False, "unknown_card")  # version 6, empty, is in force
        assert agent.status()["access"]["version"] == 6
    detail = {name: result["detail"] for name, result in results.items()}
    assert "the signature does not match" in detail["forged"]
    assert "the signature does not match" in detail["altered"]
    assert "not signed" in detail["unsigned"]
    assert detail["stale"] == "stale: version 5 is not newer than version 5 in force; not applied"
    assert detail["older"].startswith("stale: version 4 ")
    assert "for site 'shop-b', not 'shop-a'" in detail["foreign"]
    assert "too large: 51 entries, more than the 50" in detail["too-many"]
    assert detail["too-large"].startswith("refused: the command is ")
    assert "more than the 20000 this site takes" in detail["too-large"]
    assert "entries[1]: 'card' must be a string" in detail["not-a-card"]
    assert "entries[0]: 'doors' must be a non-empty list" in detail["no-doors"]
    assert detail["not-an-object"] == "malformed command: 'args' must be an object"


async def test_without_a_public_key_the_site_refuses_every_list(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with edge_with_door(mqtt_settings, edge_config()) as (sender, received, _agent, door):
        result = await push(sender, received, "list-1", listed(1, LIST_1))
        assert door.decide(ANA) == AccessDecision(False, "no_list")
    assert result["ok"] is False
    assert "no public key is configured" in result["detail"]


async def test_a_list_waiting_in_the_broker_longer_than_max_command_age_is_still_applied(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    config = with_key(edge_config(commands={"max_command_age": 60}))
    async with edge_with_door(mqtt_settings, config) as (sender, received, _agent, door):
        payload = {"cmd_id": "late", "name": COMMAND, "args": listed(1, LIST_1),
                   "issued_at": format_ts(utc_now() - timedelta(hours=3))}
        await sender.publish(topics.cmd("shop-a"), json.dumps(payload).encode())
        await received.wait_for(lambda c: len(c.payloads("/cmd/result")) == 1)
        assert door.decide(ANA).granted
    assert received.payloads("/cmd/result")[0]["ok"] is True


async def test_the_list_survives_a_restart_and_decisions_go_on_with_the_broker_down(
    mqtt_settings: MakeSettings, edge_config: MakeConfig, broker: MosquittoBroker
) -> None:
    config = with_key(edge_config())
    async with central(mqtt_settings) as (sender, received):
        door = DoorDriver()
        async with EdgeAgent(config, drivers=[door]) as agent:
            await started(agent, door)
            await push(sender, received, "list-1", listed(1, LIST_1))
            before = [door.decide(card, gate) for card in (ANA, BEN, CARO, "DEADBEEF") for gate in ("front", "back")]
            status = agent.status()["access"]
    door = DoorDriver()
    async with EdgeAgent(config, drivers=[door]) as agent:
        await started(agent, door)
        assert [door.decide(card, gate) for card in (ANA, BEN, CARO, "DEADBEEF") for gate in ("front", "back")] \
            == before
        assert agent.status()["access"] == status
        broker.stop()
        async with asyncio.timeout(10):
            while agent.status()["connected"]:
                await asyncio.sleep(0.02)
        assert [door.decide(card, gate) for card in (ANA, BEN, CARO, "DEADBEEF") for gate in ("front", "back")] \
            == before
    assert before[0] == AccessDecision(True, "granted", "Ana")


def long_list(version: int, count: int, *, key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    """A list whose command is past `LARGE_PAYLOAD`, so it is parsed and applied in a child process."""
    return listed(version, [entry(f"{n:08X}", person=f"person number {n}", doors=["front", f"flat-{n % 40}"])
                            for n in range(count)], key=key)


async def test_a_long_list_is_applied_from_a_child_process_and_refused_there_like_any_other(
    mqtt_settings: MakeSettings, edge_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shaobing.edge")
    async with edge_with_door(mqtt_settings, with_key(edge_config())) as (sender, received, agent, door):
        await push(sender, received, "short", listed(1, LIST_1))
        long = long_list(2, 12_000)
        assert len(json.dumps(long)) > LARGE_PAYLOAD
        forged = await push(sender, received, "forged", long_list(3, 12_000, key=Ed25519PrivateKey.generate()))
        assert door.decide(ANA).granted  # version 1 still in force
        assert await push(sender, received, "long", long) == {
            "cmd_id": "long", "ok": True, "detail": "applied version 2 (12000 cards)"}
        assert door.decide("00002EDF", "flat-39") == AccessDecision(True, "granted", "person number 11999")
        assert door.decide("00002EDF", "flat-38") == AccessDecision(False, "door_not_allowed", "person number 11999")
        assert door.decide(ANA) == AccessDecision(False, "unknown_card")
        # Delivered again: the recorded result, and nothing applied twice.
        assert (await push(sender, received, "long", long))["detail"] == "applied version 2 (12000 cards)"
        stale = await push(sender, received, "stale", long)
        padded = await push(sender, received, "padded", [{"pad": "x" * 1_100_000}])
        status = agent.status()["access"]
    assert forged["ok"] is False
    assert "the signature does not match" in forged["detail"]
    assert stale == {"cmd_id": "stale", "ok": False,
                     "detail": "stale: version 2 is not newer than version 2 in force; not applied"}
    assert padded == {"cmd_id": "padded", "ok": False, "detail": "malformed command: 'args' must be an object"}
    assert (status["version"], status["entries"]) == (2, 12_000)
    offloaded = [r.getMessage() for r in caplog.records if "parsed in a child process" in r.getMessage()]
    assert [m.rsplit("cmd_id ", 1)[1] for m in offloaded] == ["'forged')", "'long')", "'long')", "'stale')",
                                                             "'padded')"]


async def test_a_long_payload_that_is_not_an_allow_list_is_handled_as_usual(
    mqtt_settings: MakeSettings, edge_config: MakeConfig
) -> None:
    async with central(mqtt_settings) as (sender, received), \
            EdgeAgent(with_key(edge_config()), drivers=[]) as agent:
        await agent.link.wait_subscribed(5)
        payload = {"cmd_id": "big-ping", "name": "ping", "args": {"pad": "x" * 1_100_000},
                   "issued_at": format_ts(utc_now())}
        await sender.publish(topics.cmd("shop-a"), json.dumps(payload).encode())
        await received.wait_for(lambda c: len(c.payloads("/cmd/result")) == 1)
        assert agent.status()["access"]["version"] is None
    (result,) = received.payloads("/cmd/result")
    assert result["ok"] is True
    assert result["detail"].startswith("pong")
