"""The NMEA driver on a real pseudo-terminal: a receiver's bytes written on the master end."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.pty_pair import PtyPair

from drivers.base import DriverContext, create_driver
from drivers.nmea.driver import create
from drivers.nmea.serial_driver import NmeaSerialDriver
from drivers.nmea.stream import LOUD_REFUSALS
from drivers.nmea.tcp_server import NmeaTcpServer
from shaobing.envelope import Kind
from shaobing.errors import ConfigError
from tests.drivers.line_kit import RecordingSink, eventually, running_on_port
from tests.drivers.nmea.helpers import epoch, sentence

LOG = "test.nmea.serial"


@asynccontextmanager
async def running(port: str, sink: RecordingSink, **options: Any) -> AsyncIterator[DriverContext]:
    """The driver reading `port` in a task, the port open before the block starts."""
    driver = create({"mode": "serial", "port": port, "reopen_delay": 0.05, **options}, source="test")
    ctx = DriverContext(site="box-1", sink=sink, log=logging.getLogger(LOG))
    async with running_on_port(driver, ctx, "nmea serial driver"):
        yield ctx


async def write(fd: int, data: bytes) -> None:
    """Write all of `data` to the non-blocking master end, waiting while the pty's buffer is full."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        view = view[written:]


async def test_each_epoch_becomes_one_position_reading(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink, name="box-gps", min_interval_s=0) as ctx:
        await write(pair.master_fd, epoch(0) + epoch(1))
        await eventually(lambda: len(sink.readings) == 2, "two readings (the last epoch flushed when quiet)")
    first = sink.readings[0]
    assert (first.device, first.kind) == ("box-gps", Kind.POSITION)
    assert first.ts == datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)
    assert first.data == {"lat": pytest.approx(31.24795), "lon": pytest.approx(121.58743833),
                          "fix_time": "2026-11-24T08:00:00.000Z", "valid": True, "satellites": 7, "speed_kmh": 0.56,
                          "course": 4.94, "source": "gps", "hdop": 1.1, "altitude_m": 190.7, "fix_quality": 1,
                          "mode": "A", "protocol": "nmea", "talker": "GN"}
    assert sink.readings[1].data["fix_time"] == "2026-11-24T08:00:01.000Z"
    assert (ctx.stats.counts["sentences"], ctx.stats.counts["ignored"]) == (4, 2)
    assert not any(name.startswith("refused:") for name in ctx.stats.counts)


async def test_a_1_hz_receiver_is_rate_limited_but_validity_changes_go_through(pair: PtyPair) -> None:
    sink = RecordingSink()
    bursts = [epoch(second) for second in range(12)] + [epoch(12, valid=False), epoch(13, valid=False),
                                                        epoch(14), epoch(15)]
    async with running(pair.slave_path, sink) as ctx:  # default: at most one every 5 s, or 50 m moved
        await write(pair.master_fd, b"".join(bursts))
        await eventually(lambda: ctx.stats.counts["fixes"] == 16, "every epoch assembled")
    assert [(reading.ts.second, reading.data["valid"]) for reading in sink.readings] == [
        (0, True), (5, True), (10, True), (12, False), (14, True)]
    assert ctx.stats.counts["rate_limited"] == 11


async def test_moving_further_than_min_distance_is_sent_at_once(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink, min_interval_s=60, min_distance_m=20) as ctx:
        # 0.0100 minutes of latitude is 18.5 m: every second step is more than 20 m from the last one kept
        lats = [f"3114.{8770 + 100 * step}" for step in range(6)]
        await write(pair.master_fd, b"".join(epoch(second, lat=lat) for second, lat in enumerate(lats)))
        await eventually(lambda: ctx.stats.counts["fixes"] == 6, "every epoch assembled")
    assert [reading.ts.second for reading in sink.readings] == [0, 2, 4]


async def test_each_reading_is_committed_before_the_next_is_read(pair: PtyPair) -> None:
    gate = asyncio.Event()
    sink = RecordingSink(gate=gate)
    async with running(pair.slave_path, sink, min_interval_s=0) as ctx:
        await write(pair.master_fd, b"".join(epoch(second) for second in range(5)))
        await eventually(lambda: sink.calls == 1, "the first reading submitted")
        await asyncio.sleep(0.3)  # give the driver every chance to read on: it must not while submit is pending
        assert sink.calls == 1 and ctx.stats.counts["sentences"] <= 3
        gate.set()
        await eventually(lambda: len(sink.readings) == 5, "the rest, after the outbox took the first")
    assert [reading.ts.second for reading in sink.readings] == [0, 1, 2, 3, 4]


async def test_a_refused_reading_is_dropped_and_the_next_fix_goes_out(pair: PtyPair) -> None:
    sink = RecordingSink(refuse=1)
    async with running(pair.slave_path, sink) as ctx:
        await write(pair.master_fd, epoch(0) + epoch(1))
        await eventually(lambda: len(sink.readings) == 1, "the second fix committed")
    assert ctx.stats.counts["outbox_refused"] == 1
    # the refused fix did not count as sent, so the rate limit let the next one through
    assert sink.readings[0].ts.second == 1


async def test_sentences_written_one_byte_at_a_time(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink, min_interval_s=0):
        for byte in epoch(0):
            await write(pair.master_fd, bytes([byte]))
            await asyncio.sleep(0.001)
        await eventually(lambda: len(sink.readings) == 1, "one reading")
    assert sink.readings[0].data["satellites"] == 7


async def test_bad_sentences_are_refused_with_their_reason_and_the_line_carries_on(
        pair: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    sink = RecordingSink()
    bad_checksum = sentence("GNRMC,080000.00,A,3114.8770,N,12135.2463,E,0.30,4.94,241126,,,A")[:-4] + b"00\r\n"
    out_of_range = sentence("GNRMC,080000.00,A,9114.8770,N,12135.2463,E,0.30,4.94,241126,,,A")
    no_checksum = b"$GNRMC,080000.00,A,3114.8770,N,12135.2463,E,0.30,4.94,241126,,,A\r\n"
    async with running(pair.slave_path, sink, min_interval_s=0) as ctx:
        await write(pair.master_fd, bad_checksum + out_of_range + no_checksum + b"\xff\xfe\x00\r\n" + epoch(0))
        await eventually(lambda: len(sink.readings) == 1, "the good epoch")
    refused = {name: count for name, count in ctx.stats.counts.items() if name.startswith("refused:")}
    assert refused == {"refused:checksum": 2, "refused:lat": 1, "refused:start": 1}
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("'checksum: computed" in message and "hex=24474e524d43" in message for message in warnings)


async def test_without_required_checksums_a_bare_sentence_is_taken(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink, require_checksum=False, min_interval_s=0) as ctx:
        await write(pair.master_fd, b"$GNRMC,080000.00,A,3114.8770,N,12135.2463,E,0.30,4.94,241126,,,A\r\n")
        await eventually(lambda: len(sink.readings) == 1, "the bare sentence")
    assert ctx.stats.counts["sentences"] == 1


async def test_a_wrong_baud_rate_is_logged_for_a_few_lines_then_summed_up(
        pair: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG)
    noise = random.Random(3).randbytes(6000).replace(b"$", b"#").replace(b"!", b"#")
    noise = b"\r\n".join(noise[i:i + 60] for i in range(0, len(noise), 60)) + b"\r\n"
    sink = RecordingSink()
    async with running(pair.slave_path, sink, min_interval_s=0) as ctx:
        await write(pair.master_fd, noise)
        await eventually(lambda: sum(count for name, count in ctx.stats.counts.items()
                                     if name.startswith("refused:")) >= 100, "every noisy line refused")
        await write(pair.master_fd, epoch(0))
        await eventually(lambda: len(sink.readings) == 1, "the receiver at the right rate again")
    refused = sum(count for name, count in ctx.stats.counts.items() if name.startswith("refused:"))
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len([line for line in lines if line.startswith("refused frame")]) == LOUD_REFUSALS
    assert [line for line in lines if "more lines refused" in line] == [
        f"nmea {pair.slave_path}: {refused - LOUD_REFUSALS} more lines refused before this good one "
        "(not logged one by one)"]


async def test_a_run_without_line_end_is_one_refusal(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink, min_interval_s=0) as ctx:
        await write(pair.master_fd, b"$GPRMC" * 2000)
        await write(pair.master_fd, b"\r\n" + epoch(0))
        await eventually(lambda: len(sink.readings) == 1, "the good epoch after the overflow")
    assert ctx.stats.counts["refused:length"] == 1


async def test_port_closed_and_reopened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "ttyGPS"
    sink = RecordingSink()
    caplog.set_level(logging.INFO, logger=LOG)
    first = PtyPair()
    try:
        link.symlink_to(first.slave_path)
        async with running(str(link), sink, min_interval_s=0) as ctx:
            await write(first.master_fd, epoch(0))
            await eventually(lambda: ctx.stats.counts["sentences"] == 2, "first epoch read")
            first.close()  # the receiver is unplugged: its open epoch is flushed
            await eventually(lambda: len(sink.readings) == 1, "the open epoch flushed")
            await eventually(lambda: ctx.stats.counts["open_failed"] >= 3, "reopen attempts")
            with PtyPair() as second:
                link.unlink()
                link.symlink_to(second.slave_path)
                await eventually(lambda: ctx.stats.counts["reopen"] == 1, "reopened")
                await write(second.master_fd, epoch(5))
                await eventually(lambda: len(sink.readings) == 2, "a reading from the new port")
    finally:
        first.close()
    assert [reading.ts.second for reading in sink.readings] == [0, 5]
    assert ctx.stats.counts["port_lost"] == 1
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert "lost" in warnings[0]
    cannot_open = warnings[1:]
    assert cannot_open and all("cannot open" in message for message in cannot_open)
    assert len(cannot_open) < ctx.stats.counts["open_failed"]  # once per outage, not once per attempt


def test_options_are_closed_and_checked() -> None:
    driver = create({"mode": "serial", "port": "/dev/ttyS1"}, source="box.toml: drivers[0]")
    assert isinstance(driver, NmeaSerialDriver)
    options = driver.options
    assert (driver.name, options.baudrate, options.min_interval_s, options.min_distance_m, options.require_checksum) \
        == ("gps", 4800, 5.0, 50.0, True)
    server = create({"mode": "tcp"}, source="gateway.toml")
    assert isinstance(server, NmeaTcpServer)
    assert (server.options.listen, server.options.max_line) == ("0.0.0.0:10110", 256)


@pytest.mark.parametrize(("options", "message"), [
    ({"port": "/dev/ttyS1"}, "mode: Field required"),
    ({"mode": "usb", "port": "/dev/ttyS1"}, "mode: Input should be 'serial' or 'tcp'"),
    ({"mode": "serial"}, 'mode "serial" needs port'),
    ({"mode": "serial", "port": "/dev/ttyS1", "listen": "0.0.0.0:1"}, 'listen cannot be used with mode "serial"'),
    ({"mode": "tcp", "baudrate": 9600}, 'baudrate cannot be used with mode "tcp"'),
    ({"mode": "tcp", "listen": "nowhere"}, "listen 'nowhere' must be HOST:PORT"),
    ({"mode": "serial", "port": "/dev/ttyS1", "speed": 4800}, r"drivers\[0\]: speed: unknown key"),
    ({"mode": "serial", "port": "/dev/ttyS1", "min_interval_s": -1}, "min_interval_s"),
    ({"mode": "tcp", "max_line": 10}, "max_line"),
    ({"mode": "serial", "port": "/dev/ttyS1", "name": "bad name"}, "name"),
])
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create(options, source="box.toml: drivers[0]")


def test_found_by_entry_point() -> None:
    driver = create_driver({"type": "nmea", "mode": "serial", "port": "loop://", "name": "roof"})
    assert isinstance(driver, NmeaSerialDriver)
    assert driver.name == "roof"
