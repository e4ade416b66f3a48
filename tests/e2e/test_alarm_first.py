"""An alarm queued behind 10,000 positions while the link is down reaches central ahead of them, and is dispatched."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from firmware_sim.dc09_dialler import Dc09Dialler, sia_event

from edge.outbox import Outbox
from shaobing.broker import MosquittoBroker
from shaobing.envelope import Kind, Reading
from shaobing.net import free_port
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    EdgeProcess,
    OutboxState,
    eventually,
    outbox_state,
    running_central,
    start_edge,
    wait_listening,
    write_edge_config,
)

SITE = "shop-a"
POSITIONS = 10_000
WINDOW = 100  # the uplink's window of unacknowledged publishes (mqtt.max_inflight)
LOG = logging.getLogger("test.e2e.alarm_first")


def position(number: int) -> Reading:
    return Reading(device=f"bike-{number % 500:04d}", kind=Kind.POSITION,
                   data={"lat": 39.9 + number * 1e-6, "lon": 116.4, "valid": True, "satellites": 8, "source": "gps"})


async def test_an_alarm_queued_behind_ten_thousand_positions_reaches_central_first(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker: MosquittoBroker = make_broker()
    outbox_path = tmp_path / f"{SITE}.outbox.db"
    # A day of e-bike positions the box could not send yet, committed before the agent runs.
    async with Outbox(outbox_path, SITE, log=LOG) as outbox:
        seqs = await asyncio.gather(*(outbox.submit_nowait(position(n)) for n in range(POSITIONS)))
    assert sorted(seqs) == list(range(1, POSITIONS + 1))

    port = free_port()
    config = write_edge_config(tmp_path / f"{SITE}.toml", site=SITE, broker=broker, outbox=outbox_path,
                               drivers=[{"type": "dc09", "name": "dialler", "listen": f"127.0.0.1:{port}",
                                         "accept_any_account": True}],
                               mqtt={"max_inflight": WINDOW})
    async with running_central(broker, sqlite_url) as central:
        await broker.astop()  # the link is down when the agent starts and when the panic comes in
        edge = start_edge(edges, config)
        await wait_listening(port, watch=[edge])
        async with Dc09Dialler("127.0.0.1", port, "4321") as dialler:
            assert await dialler.send(sia_event("PA", 1), timeout=2.0)
        assert outbox_state(outbox_path) == OutboxState(last_seq=POSITIONS + 1, pending=POSITIONS + 1)

        await broker.astart()  # same port and database: central and the agent both reconnect

        async def everything_stored() -> bool:
            return await central.count(SITE) == POSITIONS + 1

        await eventually("all 10,001 readings at central", everything_stored, within=60, watch=[edge])
        stored = await central.readings(SITE)
        gaps = await central.gaps(SITE)
        raised = await central.dispatches(SITE)

    alarms = [reading for reading in stored if reading["kind"] == "alarm"]
    assert [(alarm["seq"], alarm["data"]["class"]) for alarm in alarms] == [(POSITIONS + 1, "panic")]
    alarm = alarms[0]
    ahead = [reading["seq"] for reading in stored if reading["id"] < alarm["id"]]
    # The outbox drains by (priority, seq), so the alarm heads the uplink's first fetch. What can still land ahead of
    # it is the rest of that one window: if the agent connects before central has re-subscribed (Mosquitto does not
    # keep shared subscriptions across a restart), the broker drops the alarm ("no matching subscribers"), the
    # uplink releases it and holds off, and positions published later in the same window may already be routed.
    # The alarm's own PUBACK comes first (in publish order), so the hold-off starts before any refill: at most
    # WINDOW - 1 positions, never a second window.
    assert len(ahead) <= WINDOW - 1, f"{len(ahead)} positions stored before the alarm: {ahead[:20]}..."
    assert sorted(reading["seq"] for reading in stored) == list(range(1, POSITIONS + 2))
    assert gaps == []
    assert [(d["alarm_class"], d["reading_id"]) for d in raised] == [("panic", alarm["id"])]
