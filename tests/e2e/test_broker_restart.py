"""A broker restart in the middle of a stream of readings loses nothing: central ends with every seq once, no gap."""

from __future__ import annotations

from pathlib import Path

from shaobing.broker import MosquittoBroker
from tests.conftest import MakeBroker
from tests.e2e.conftest import EdgeProcess, eventually, outbox_state, running_central, start_edge, write_edge_config

SITE = "shop-a"
LOAD = {"type": "synthetic_load", "name": "bikes", "rate": 2000.0, "devices": 200, "concurrency": 32}


async def test_a_broker_restart_in_the_middle_of_a_stream_loses_nothing(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker: MosquittoBroker = make_broker()
    outbox = tmp_path / f"{SITE}.outbox.db"
    streaming = write_edge_config(tmp_path / f"{SITE}.toml", site=SITE, broker=broker, outbox=outbox, drivers=[LOAD])
    async with running_central(broker, sqlite_url) as central:
        edge = start_edge(edges, streaming)

        async def stored_at_least(count: int) -> int:
            stored = await central.count(SITE)
            return stored if stored >= count else 0

        before = await eventually("the stream reaching central", lambda: stored_at_least(1000), watch=[edge])
        committed_before = outbox_state(outbox).last_seq
        await broker.arestart()  # same port, same persistence database; the stream goes on meanwhile
        assert broker.running
        # Readings flow again through the new broker process, beyond everything committed before the restart.
        await eventually("the stream through the restarted broker",
                         lambda: stored_at_least(max(before, committed_before) + 1000), within=30, watch=[edge])
        assert await edge.terminate() == 0
        assert "disconnected" in edge.log_path.read_text()  # the restart did cut the agent's link mid-stream
        final = outbox_state(outbox)
        assert final.last_seq > committed_before

        # What the stopped agent still held goes out when it runs again, with no driver adding to it.
        draining = write_edge_config(tmp_path / f"{SITE}-drain.toml", site=SITE, broker=broker, outbox=outbox,
                                     drivers=[])
        drainer = start_edge(edges, draining)

        async def all_stored() -> bool:
            return outbox_state(outbox).pending == 0 and await central.count(SITE) >= final.last_seq

        await eventually("the rest of the outbox stored by central", all_stored, within=30, watch=[drainer])
        assert await drainer.terminate() == 0
        seqs = await central.seqs(SITE)
        gaps = await central.gaps(SITE)
        site = await central.site(SITE)

    assert outbox_state(outbox).last_seq == final.last_seq  # the draining agent gave out no seq of its own
    assert seqs == list(range(1, final.last_seq + 1))  # every seq 1..N, each exactly once
    assert gaps == []
    assert site is not None and site["last_seq"] == final.last_seq and site["missing_readings"] == 0
