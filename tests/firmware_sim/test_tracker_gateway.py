"""Simulated trackers against the real GT06 gateway (`drivers.gt06.driver`) over real TCP, with a recording sink."""

from __future__ import annotations

import asyncio
import contextlib
import random

from firmware_sim.tracker.bike import Bike
from firmware_sim.tracker.device import Exchange, Report, SimTracker, TrackerSettings
from firmware_sim.tracker.fleet import TrackerFleet
from firmware_sim.tracker.geo import LatLon, distance_m
from firmware_sim.tracker.imeis import imei_at
from firmware_sim.tracker.route import RideStyle
from firmware_sim.tracker.streets import StreetGrid

from shaobing.clock import format_ts
from shaobing.envelope import Kind, Reading
from tests.firmware_sim.gateway import RecordingSink, eventually, gateway, running

GRID = StreetGrid()
FAST = TrackerSettings(interval_s=0.3, heartbeat_s=1.0, reply_timeout_s=1.0, reconnect_min_s=0.05,
                       reconnect_max_s=0.3, steal_delay_s=0.5)
GETAWAY = RideStyle(speed_kmh=(90.0, 100.0), accel_ms2=10.0, brake_ms2=10.0, stop_chance=0.0)


def a_tracker(port: int, *, seed: int = 1, settings: TrackerSettings = FAST, index: int = 0,
              journal: list[Report] | None = None, events: list[str] | None = None,
              exchanges: list[Exchange] | None = None) -> SimTracker:
    rng = random.Random(seed)
    bike = Bike(GRID, GRID.point((8, 8)), rng)

    def record(tracker: SimTracker, text: str) -> None:
        if events is not None:
            events.append(text)

    def exchanged(tracker: SimTracker, exchange: Exchange) -> None:
        if exchanges is not None:
            exchanges.append(exchange)

    return SimTracker(imei_at("86471700366440", index), ("127.0.0.1", port), bike, rng, settings=settings,
                      journal=journal, on_event=record, on_exchange=exchanged)


def matches(report: Report, reading: Reading) -> bool:
    """The position reading that carried this report: same fix time (whole seconds) and the same coordinates."""
    data = reading.data
    return (data.get("fix_time") == format_ts(report.fix_time) and data.get("lat") is not None
            and abs(data["lat"] - report.lat) < 1e-6 and abs(data["lon"] - report.lon) < 1e-6)


def carried(report: Report, readings: list[Reading]) -> list[Reading]:
    return [reading for reading in readings if matches(report, reading)]


def settled(tracker: SimTracker) -> bool:
    return tracker.online and tracker.buffer.waiting == 0 and not tracker.buffer.unanswered()


def index_in(journal: list[Report], reading: Reading) -> int:
    return next(i for i, report in enumerate(journal) if matches(report, reading))


async def test_a_tracker_logs_in_and_its_positions_and_status_arrive() -> None:
    sink = RecordingSink()
    exchanges: list[Exchange] = []
    async with gateway(sink) as gw:
        tracker = a_tracker(gw.port, exchanges=exchanges)
        async with running(tracker):
            await eventually(lambda: len(sink.gps(tracker.imei)) >= 4 and bool(sink.of(Kind.STATUS, tracker.imei)))
            assert tracker.online
        positions = sink.gps(tracker.imei)
        spot = GRID.frame.to_latlon(tracker.bike.point)
        for reading in positions:
            data = reading.data
            assert data["valid"] is True and data["archived"] is False
            assert distance_m(spot, LatLon(data["lat"], data["lon"])) < 90.0  # parked: the drift, nothing more
            assert 0 <= data["speed_kmh"] <= 4 and data["cell"]["mcc"] == 460
        status = sink.of(Kind.STATUS, tracker.imei)[0].data
        assert status["armed"] is True and status["acc"] is False and status["charging"] is True
        assert tracker.stats.logins == 1 and tracker.stats.replies >= 5 and tracker.stats.resends == 0
        # Every answered frame was recorded with its send and reply times: the login first.
        assert exchanges[0].kind == "login" and {"location", "heartbeat"} <= {e.kind for e in exchanges}
        assert len(exchanges) == tracker.stats.replies
        assert all(e.replied_at >= e.sent_at for e in exchanges)


async def test_offline_then_back_every_buffered_position_arrives_archived_newest_first() -> None:
    sink = RecordingSink()
    journal: list[Report] = []
    events: list[str] = []
    settings = TrackerSettings(interval_s=0.25, heartbeat_s=5.0, reply_timeout_s=2.0, reconnect_min_s=0.05,
                               reupload="newest_first", reupload_window=3)
    async with gateway(sink) as gw:
        tracker = a_tracker(gw.port, settings=settings, journal=journal, events=events)
        tracker.ride(min_blocks=10)  # moving, so every report is at a different place
        async with running(tracker):
            await eventually(lambda: len(sink.gps(tracker.imei)) >= 2)
            went_offline = len(journal)
            tracker.go_offline(2.0)
            assert not tracker.online
            await eventually(lambda: any(text.startswith("back online") for text in events))
            await eventually(lambda: settled(tracker))
        # Reports made offline went as re-uploads; the first one sent in real time again was made at the login.
        came_back = next(i for i in range(went_offline, len(journal)) if not journal[i].archived)
        positions = sink.gps(tracker.imei)
        offline_reports = journal[went_offline:came_back]
        assert len(offline_reports) >= 5  # two seconds at four reports a second, less scheduling
        for report in journal:
            assert carried(report, positions), f"lost: {report}"
        for report in offline_reports:
            assert all(reading.data["archived"] for reading in carried(report, positions))
        # After the login, the current position went first, in real time; the re-upload came newest first.
        back = journal[came_back]
        after = positions[positions.index(carried(back, positions)[0]):]
        assert after[0].data["archived"] is False
        order = [index_in(journal, reading) for reading in after if reading.data["archived"]]
        assert len(order) >= len(offline_reports) and order == sorted(order, reverse=True)
        assert tracker.stats.archived_sent >= len(offline_reports)


async def test_a_gateway_restart_mid_stream_loses_nothing() -> None:
    sink = RecordingSink()  # the outbox on disk: it outlives the gateway process
    journal: list[Report] = []
    async with gateway(sink) as gw:
        port = gw.port
        tracker = a_tracker(port, settings=FAST, journal=journal)
        tracker.ride(min_blocks=10)
        async with running(tracker):
            await eventually(lambda: len(sink.gps(tracker.imei)) >= 3)
            # The gateway dies while committing a reading: it never answers that one, nor the positions after it.
            sink.gate = asyncio.Event()
            await eventually(lambda: sink.held >= 1)
            gated_at = asyncio.get_running_loop().time()
            await eventually(lambda: any(sent.sent_at > gated_at for sent in tracker.buffer.unanswered()))
            await gw.stop()
            sink.gate = None
            down_at = len(journal)
            await eventually(lambda: len(journal) >= down_at + 4)  # it keeps reporting into its buffer
            assert not tracker.online
            async with gateway(sink, port):
                await eventually(lambda: settled(tracker) and len(journal) > down_at + 6)
                assert tracker.stats.logins == 2 and tracker.stats.disconnects == 1
    positions = sink.gps(tracker.imei)
    for report in journal[:-1]:  # the last may be in flight as the test ends
        assert carried(report, positions), f"lost: {report}"
    assert tracker.stats.resends >= 1  # the position the dead gateway never answered went again


async def test_commands_cut_and_restore_the_relay() -> None:
    sink = RecordingSink()
    events: list[str] = []
    journal: list[Report] = []
    async with gateway(sink) as gw:
        server = gw.server
        tracker = a_tracker(gw.port, events=events, journal=journal)
        tracker.ride(min_blocks=12)
        async with running(tracker):
            await eventually(lambda: len(sink.gps(tracker.imei)) >= 2)
            result = await server.device_command(tracker.imei, "engine_stop", {})
            assert result is not None and result.ok and result.detail == "Cut off the fuel supply: Success!"
            assert tracker.bike.engine_cut and not tracker.bike.riding
            held, cut_at = tracker.bike.point, len(journal)
            await eventually(lambda: len(journal) >= cut_at + 4)
            assert tracker.bike.point == held  # stopped where it was
            stopped = journal[cut_at:]
            assert all(report.speed_kmh <= 4 for report in stopped)  # standing: only the drift's Doppler noise
            result = await server.device_command(tracker.imei, "engine_resume", {})
            assert result is not None and result.ok and result.detail == "Restore fuel supply: Success!"
            await eventually(lambda: tracker.bike.point != held)
            await eventually(lambda: settled(tracker))
        for report in stopped:
            assert carried(report, sink.gps(tracker.imei))
        assert any("Relay,1#" in text for text in events)
        assert tracker.stats.commands == 2


async def test_a_theft_raises_vibration_and_power_cut_alarms_then_moves_away() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw:
        tracker = a_tracker(gw.port)
        async with running(tracker):
            await eventually(lambda: tracker.online and len(sink.gps(tracker.imei)) >= 1)
            spot = GRID.frame.to_latlon(tracker.bike.point)
            tracker.steal(power_cut=True, vibrations=2, style=GETAWAY)
            await eventually(lambda: tracker.theft_mark is not None)
            await eventually(lambda: settled(tracker))
        alarms = [reading.data["class"] for reading in sink.of(Kind.ALARM, tracker.imei)]
        assert alarms == ["vibration", "vibration", "power_cut"]
        mark = tracker.theft_mark
        assert mark is not None and mark.distance_m > 100.0 and not mark.archived
        far = [r for r in sink.gps(tracker.imei) if r.data["fix_time"] == format_ts(mark.fix_time)
               and distance_m(spot, LatLon(r.data["lat"], r.data["lon"])) > 100.0]
        assert far, "the fix that marked the theft did not arrive"
        status = sink.of(Kind.STATUS, tracker.imei)[-1].data
        assert status["charging"] is False  # on the backup battery after the wire was cut


async def test_without_a_fix_stale_positions_or_lbs_packets() -> None:
    sink = RecordingSink()
    stale_journal: list[Report] = []
    lbs_journal: list[Report] = []
    async with gateway(sink) as gw:
        stale = a_tracker(gw.port, index=0, journal=stale_journal)
        lbs = a_tracker(gw.port, index=1, seed=2, journal=lbs_journal,
                        settings=TrackerSettings(interval_s=0.3, heartbeat_s=1.0, no_fix="lbs"))
        for tracker in (stale, lbs):
            tracker.ride(min_blocks=10)
        async with running(stale), running(lbs):
            await eventually(lambda: len(sink.gps(stale.imei)) >= 2 and len(sink.gps(lbs.imei)) >= 2)
            stale.lose_fix()
            lbs.lose_fix()
            lost_at = {stale.imei: len(stale_journal), lbs.imei: len(lbs_journal)}
            await eventually(lambda: len(stale_journal) >= lost_at[stale.imei] + 3
                             and len(lbs_journal) >= lost_at[lbs.imei] + 3)
            await eventually(lambda: settled(stale) and settled(lbs))
        # Stale: location packets with the last good coordinates, marked not positioned.
        positions = sink.of(Kind.POSITION, stale.imei)
        # (The last good report may share the second and the coordinates: the invalid copy is the one to find.)
        frozen = [[r for r in carried(report, positions) if r.data["valid"] is False]
                  for report in stale_journal[lost_at[stale.imei]:]]
        assert all(frozen)
        assert len({(readings[0].data["lat"], readings[0].data["lon"]) for readings in frozen}) == 1
        # LBS: cell-only packets carrying the serving cell and the time.
        cells = {r.data["fix_time"]: r for r in sink.of(Kind.POSITION, lbs.imei) if r.data["source"] == "lbs"}
        for report in lbs_journal[lost_at[lbs.imei]:]:
            assert report.lbs_only
            reading = cells[format_ts(report.fix_time)]
            assert reading.data["lat"] is None and reading.data["cell"]["mcc"] == 460


async def test_sos_alarm_arrives() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw:
        tracker = a_tracker(gw.port)
        async with running(tracker):
            await eventually(lambda: tracker.online)
            tracker.sos()
            await eventually(lambda: bool(sink.of(Kind.ALARM, tracker.imei)))
        assert sink.of(Kind.ALARM, tracker.imei)[0].data["class"] == "sos"


async def test_a_refused_report_is_sent_again_until_answered() -> None:
    sink = RecordingSink()
    journal: list[Report] = []
    async with gateway(sink) as gw:
        tracker = a_tracker(gw.port, journal=journal,
                            settings=TrackerSettings(interval_s=0.3, heartbeat_s=30.0, reply_timeout_s=0.5,
                                                     unanswered_limit=10))
        async with running(tracker):
            await eventually(lambda: tracker.online and len(sink.gps(tracker.imei)) >= 1)
            sink.refusals = 3  # the outbox is full for a moment: no reply, the device must try again
            await eventually(lambda: sink.refusals == 0)
            await eventually(lambda: tracker.stats.resends >= 1 and settled(tracker))
        for report in journal[:-1]:
            assert carried(report, sink.gps(tracker.imei)), f"lost: {report}"


async def test_a_babbling_server_is_given_up_and_retried() -> None:
    connections = finished = 0
    # Garbage, then a login reply with a bad CRC: neither may log the tracker in.
    babble = b"\x00garbage\xff" + bytes.fromhex("78780501000100000d0a")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, finished
        connections += 1
        writer.write(babble)
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()
        finished += 1

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        tracker = a_tracker(port, settings=TrackerSettings(interval_s=0.3, reply_timeout_s=0.3,
                                                           reconnect_min_s=0.05, reconnect_max_s=0.1))
        async with running(tracker):
            await eventually(lambda: connections >= 3)
            assert not tracker.online
        await eventually(lambda: finished == connections)
    assert tracker.stats.bad_frames >= 2  # the garbage, and the frame whose CRC is wrong
    assert tracker.stats.logins == 0 and tracker.buffer.waiting >= 1  # its reports wait for a real gateway


async def test_a_fleet_of_a_few_hundred_connects_and_reports() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw:
        server = gw.server
        settings = TrackerSettings(interval_s=2.0, heartbeat_s=30.0)
        async with TrackerFleet(("127.0.0.1", gw.port), 300, settings=settings, scenario="mixed",
                                seed=7, ramp_per_s=1000.0) as fleet:
            assert await fleet.wait_online(within=60.0)
            assert server.connection_count == 300
            await eventually(lambda: len({r.device for r in sink.of(Kind.POSITION)}) == 300, within=30.0)
            summary = fleet.summary()
        assert summary["trackers"] == 300 and summary["logins"] >= 300 and summary["crashed"] == 0
        assert summary["reply_ms_p50"] is not None
        assert len({tracker.imei for tracker in fleet.trackers}) == 300
        await eventually(lambda: server.connection_count == 0)


async def test_a_fleet_comes_back_after_the_gateway_drops_it() -> None:
    sink = RecordingSink()
    settings = TrackerSettings(interval_s=1.0, heartbeat_s=30.0, reconnect_min_s=0.1, reconnect_max_s=1.0)
    async with gateway(sink) as gw:
        port = gw.port
        async with TrackerFleet(("127.0.0.1", port), 200, settings=settings, scenario="park", seed=3,
                                ramp_per_s=2000.0) as fleet:
            assert await fleet.wait_online(within=60.0)
            await gw.stop()
            await eventually(lambda: fleet.stats.connected == 0)
            assert fleet.stats.disconnects == 200
            async with gateway(sink, port) as again:
                assert await fleet.wait_online(within=60.0)
                assert again.server.connection_count == 200
                assert fleet.stats.logins == 400
            assert fleet.crashed == 0
