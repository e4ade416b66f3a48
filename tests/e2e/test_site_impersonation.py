"""A site cannot speak for another, through the chain: the broker refuses site A's publish on site B's topic, and
central refuses an envelope of site B that comes on site A's topic; B's own agent is the only voice of B."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from firmware_sim.dc09_dialler import Dc09Dialler, sia_event

from shaobing import topics
from shaobing.broker import MosquittoBroker
from shaobing.envelope import Envelope, Kind, Reading
from shaobing.mqtt import MqttLink, MqttSettings, PublishRefused
from shaobing.net import free_port
from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, eventually, running_central, start_edge, wait_listening, write_edge_config

SITE_A, SITE_B = "shop-a", "shop-b"
LOG = logging.getLogger("test.e2e.impersonation")


def forged_panic(site: str) -> bytes:
    """A valid-looking envelope: seq 1 of `site`, a panic (which would go to 110 at once)."""
    reading = Reading(device="dialler:5678", kind=Kind.ALARM,
                      data={"class": "panic", "source": "dc09", "zone": 9, "partition": 1, "qualifier": "new"})
    return Envelope.of(site, 1, reading).to_json()


async def test_site_a_cannot_publish_as_site_b(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker: MosquittoBroker = make_broker()
    port = free_port()
    config_b = write_edge_config(tmp_path / f"{SITE_B}.toml", site=SITE_B, broker=broker,
                                 outbox=tmp_path / "b.outbox.db",
                                 drivers=[{"type": "dc09", "name": "dialler", "listen": f"127.0.0.1:{port}",
                                         "accept_any_account": True}])
    site_a = MqttSettings(url=broker.url, username=SITE_A, password=broker.user(SITE_A).password,
                          client_id="shop-a-impostor", reconnect_min=0.05, reconnect_max=0.5)
    async with running_central(broker, sqlite_url) as central:
        edge_b = start_edge(edges, config_b)
        await wait_listening(port, watch=[edge_b])

        async with MqttLink(site_a, log=LOG) as link:
            await link.wait_connected(10)
            # On B's topic: the broker's ACL refuses it (MQTT 5 PUBACK "Not authorized"); central never sees it.
            with pytest.raises(PublishRefused, match="Not authorized"):
                await link.publish(topics.event(SITE_B, Kind.ALARM), forged_panic(SITE_B))
            # On A's own topic, claiming to be B: the broker lets it through, central refuses it.
            await link.publish(topics.event(SITE_A, Kind.ALARM), forged_panic(SITE_B))
            # Then a genuine reading of A, behind both on the same connection: once it is stored, both were handled.
            marker = Reading(device="edge", kind=Kind.TEST, data={"test": "manual", "source": "edge"})
            await link.publish(topics.event(SITE_A, Kind.TEST), Envelope.of(SITE_A, 1, marker).to_json())

        async with Dc09Dialler("127.0.0.1", port, "5678") as dialler:
            assert await dialler.send(sia_event("RP", 5), timeout=2.0)  # B's real panel: a periodic test, zone 5

        async def both_sites_heard() -> bool:
            return await central.count(SITE_A) == 1 and await central.count(SITE_B) == 1

        await eventually("A's genuine reading and B's own", both_sites_heard, watch=[edge_b])
        readings_a = await central.readings(SITE_A)
        readings_b = await central.readings(SITE_B)
        rejected = await central.rejected()
        raised = await central.dispatches()

    assert [(r["seq"], r["kind"], r["device"]) for r in readings_a] == [(1, "test", "edge")]
    # B's seq 1 is its own panel's test signal, not the forged panic.
    assert [(r["seq"], r["kind"], r["device"], r["data"]["zone"]) for r in readings_b] == \
        [(1, "test", "dialler:5678", 5)]
    assert rejected == [(topics.event(SITE_A, Kind.ALARM),
                         f"envelope of site {SITE_B!r} published on the topic of site {SITE_A!r}")]
    assert raised == []  # neither forged panic raised a dispatch
