"""The tracker gateway (an edge process with the GT06 driver) killed with SIGKILL mid-stream, then restarted, with the
real broker and central, on SQLite and on PostgreSQL.

Trackers reach the gateway through a TCP relay standing for the mobile network. Just before the kill the relay stops
passing the gateway's replies on: the gateway has committed those reports to its outbox (they reach central) but the
trackers never hear so, as when the replies are lost with the dying gateway. So the trackers certainly hold reports
that central has, and send them again after the restart, besides those the gateway never saw.

What must hold: nothing the gateway had answered is missing at central; every report of every tracker's journal
arrives; a report sent twice is stored twice in `positions` (each reading is kept: at-least-once transport) but the
second copy is marked `filtered = "duplicate"` and left out of the track, so no fix is counted twice; and the
gateway's sequence reaches central without a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

from firmware_sim.tracker.device import Report, SimTracker
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings

from shaobing.clock import parse_ts
from shaobing.net import free_port
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    GATEWAY,
    EdgeProcess,
    RunningCentral,
    bike_broker,
    bike_recipients,
    carrying,
    eventually,
    outbox_state,
    positions_of,
    running_bike_central,
    running_trackers,
    settled,
    sim_tracker,
    start_gateway,
    write_gateway_config,
)

TRACKERS = 4
# A report a second; a frame unanswered for 6 s is sent again later, so the trackers are still connected and
# waiting when the gateway dies.
TRACKER = SimTrackerSettings(interval_s=1.0, heartbeat_s=30.0, reply_timeout_s=6.0, reconnect_min_s=0.2,
                             reconnect_max_s=1.0)


class ReplyLosingRelay:
    """A TCP relay between the trackers and the gateway. While `losing_replies`, what the gateway sends is read and
    dropped; when the gateway's side closes, the tracker's side is closed too."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.losing_replies = False
        self.dropped_bytes = 0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:  # the gateway is down: the tracker's connection fails as it would without a relay
            writer.transport.abort()
            return
        pumps = [asyncio.create_task(self._pump(reader, up_writer, replies=False)),
                 asyncio.create_task(self._pump(up_reader, writer, replies=True))]
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._pumps.difference_update(pumps)
            writer.transport.abort()
            up_writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(4096):
                if replies and self.losing_replies:
                    self.dropped_bytes += len(chunk)
                    continue
                writer.write(chunk)
                await writer.drain()


async def test_a_gateway_killed_mid_stream_loses_nothing_it_answered_and_counts_no_fix_twice(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker = bike_broker(make_broker)
    port = free_port()
    config = write_gateway_config(tmp_path, broker, port)
    relay = ReplyLosingRelay(port)
    journals: list[list[Report]] = [[] for _ in range(TRACKERS)]
    async with bike_recipients() as to, running_bike_central(broker, database_url, to) as central:
        first = await start_gateway(edges, config, port)
        relay_port = await relay.start()
        fleet = [sim_tracker(n, relay_port, settings=TRACKER, seed=20 + n, journal=journals[n])
                 for n in range(TRACKERS)]
        for tracker in fleet:
            tracker.ride(min_blocks=14)
        try:
            async with running_trackers(fleet):
                async def all_reporting() -> bool:
                    return all([len(await positions_of(central, t.imei)) >= 3 for t in fleet])

                await eventually("every tracker's first positions at central", all_reporting, watch=[first])

                # The replies stop reaching the trackers; the gateway goes on committing what they send.
                relay.losing_replies = True

                async def committed_unanswered() -> dict[str, list[Report]] | None:
                    held = {t.imei: await _stored_unanswered(central, t) for t in fleet}
                    return held if all(len(reports) >= 2 for reports in held.values()) else None

                held = await eventually("reports stored at central but unanswered at every tracker",
                                        committed_unanswered, watch=[first])
                first.kill()
                assert await first.wait() == -9

                async def all_cut_off() -> bool:
                    return not any(t.online for t in fleet)

                await eventually("every tracker cut off", all_cut_off)
                answered = {t.imei: _answered(t, journals[n]) for n, t in enumerate(fleet)}
                relay.losing_replies = False
                down_at = [len(journal) for journal in journals]
                await eventually("reports kept while the gateway is down",
                                 lambda: _grew(journals, [length + 2 for length in down_at]))

                second = await start_gateway(edges, config, port)

                async def all_settled() -> bool:
                    return all(settled(t) for t in fleet)

                await eventually("every tracker back with its buffer emptied", all_settled, within=40,
                                 watch=[second])
                made = [len(journal) for journal in journals]

                async def journals_stored() -> bool:
                    for tracker, journal, count in zip(fleet, journals, made, strict=True):
                        rows = await positions_of(central, tracker.imei)
                        if not all(carrying(report, rows) for report in journal[:count]):
                            return False
                    return True

                await eventually("every report of every journal at central", journals_stored, watch=[second])
                resends = [t.stats.resends for t in fleet]
        finally:
            await relay.stop()

        async def drained() -> bool:
            outbox = outbox_state(tmp_path / f"{GATEWAY}.outbox.db")
            return outbox.pending == 0 and await central.seqs(GATEWAY) == list(range(1, outbox.last_seq + 1))

        await eventually("the gateway's outbox drained to central", drained, watch=[second])
        gaps = await central.gaps(GATEWAY)
        stored = {t.imei: await positions_of(central, t.imei) for t in fleet}
        tracks = {t.imei: await central.api.get(f"/api/trackers/{t.imei}/positions",
                                                params={"limit": 10_000}) for t in fleet}

    assert gaps == []
    assert relay.dropped_bytes > 0
    duplicates = 0
    for tracker, journal, count in zip(fleet, journals, made, strict=True):
        rows = stored[tracker.imei]
        for report in answered[tracker.imei]:
            assert carrying(report, rows), f"answered by the gateway, missing at central: {report}"
        for report in journal[:count]:
            assert carrying(report, rows), f"lost: {report}"
        # Each fix time of the journal is one fix in the track; every other copy stored with it is a marked
        # duplicate: a report sent again, or (the simulator's login report) a second report made in the same second.
        for moment in {report.fix_time for report in journal[:count]}:
            copies = [row["filtered"] for row in rows if row["fix_time"] == moment and row["source"] == "gps"]
            assert copies.count(None) == 1 and set(copies) <= {None, "duplicate"}, (moment, copies)
        for report in held[tracker.imei]:
            carried = carrying(report, rows)
            assert len(carried) >= 2, f"stored before the kill and sent again, yet stored once: {report}"
            assert len({(row["site"], row["seq"]) for row in carried}) == len(carried)  # each a reading of its own
            assert [row["archived"] for row in carried][1:] == [True] * (len(carried) - 1)  # resent as re-uploads
            duplicates += len(carried) - 1
        accepted = Counter(row["fix_time"] for row in rows if row["filtered"] is None and row["source"] == "gps")
        assert max(accepted.values()) == 1  # no fix counted twice
        track = tracks[tracker.imei]
        assert track.status_code == 200, track.text
        points = [parse_ts(point["fix_time"]) for point in track.json()["points"]]
        assert len(points) == len(set(points)) == len(accepted)
    assert all(count >= 2 for count in resends), resends
    print(f"resent {sum(resends)} reports; {duplicates} stored twice and marked duplicate")


async def _stored_unanswered(central: RunningCentral, tracker: SimTracker) -> list[Report]:
    """The reports this tracker sent and is still waiting to hear about, which central has stored already."""
    waiting = [sent.report for sent in tracker.buffer.unanswered() if sent.report is not None]
    rows = await positions_of(central, tracker.imei)
    return [report for report in waiting if carrying(report, rows)]


def _answered(tracker: SimTracker, journal: list[Report]) -> list[Report]:
    """The reports the tracker made that it holds no more: the gateway answered them."""
    kept = {id(report) for report in tracker.buffer.reports()}
    return [report for report in journal if id(report) not in kept]


async def _grew(journals: list[list[Report]], lengths: list[int]) -> bool:
    return all(len(journal) >= length for journal, length in zip(journals, lengths, strict=True))
