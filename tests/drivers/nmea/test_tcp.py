"""The NMEA driver as a TCP server for trackers, over real sockets."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from drivers.base import DriverContext
from drivers.nmea.codec import checksum
from drivers.nmea.driver import create
from drivers.nmea.tcp_server import GARBAGE_LINES, NmeaTcpServer, identification
from tests.drivers.line_kit import RecordingSink, eventually
from tests.drivers.nmea.helpers import epoch, sentence
from tests.drivers.tcp_kit import RawClient, connected, serving

LOG = logging.getLogger("test.nmea.tcp")


@contextlib.asynccontextmanager
async def server(sink: RecordingSink, **options: Any) -> AsyncIterator[tuple[NmeaTcpServer, DriverContext]]:
    driver = create({"mode": "tcp", "listen": "127.0.0.1:0", "name": "trk", **options}, source="test")
    assert isinstance(driver, NmeaTcpServer)
    ctx = DriverContext(site="gateway-1", sink=sink, log=LOG)
    async with serving(driver, ctx, "nmea tcp server"):
        yield driver, ctx


def tracker(port: int | None) -> contextlib.AbstractAsyncContextManager[RawClient]:
    """A raw TCP client standing in for a tracker."""
    assert port is not None
    return connected(RawClient, port)


def pshb(tracker_id: str) -> bytes:
    body = f"PSHB,ID,{tracker_id}"
    return f"${body}*{checksum(body)}\r\n".encode()


@pytest.mark.parametrize(("line", "expected"), [
    (pshb("866104023456789"), "866104023456789"), (pshb("bike_7-a").lower().replace(b"$pshb,id", b"$PSHB,ID"),
                                                   "bike_7-a"),
    (b"ID:866104023456789\r\n", "866104023456789"), (b"ID:A", "A"), (b"$PSHB,ID,1235*00\r\n", None),
    (b"ID:" + b"9" * 33, None), (b"ID:bad id", None), (b"ID:", None), (b"$PSHB,ID,12*", None),
    (sentence("GPRMC,,V,,,,,,,,,,N"), None),
])
def test_identification_lines(line: bytes, expected: str | None) -> None:
    assert identification(line) == expected


async def test_a_tracker_that_identifies_itself_reports_under_its_id() -> None:
    sink = RecordingSink()
    async with server(sink, min_interval_s=0) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(pshb("866104023456789") + epoch(0) + epoch(1))
        await eventually(lambda: len(sink.readings) == 2, "two readings")
    assert {reading.device for reading in sink.readings} == {"trk-866104023456789"}
    assert sink.readings[0].data["satellites"] == 7
    assert ctx.stats.counts["ignored"] == 2  # the GSVs; the identification line is neither ignored nor refused
    assert not any(name.startswith("refused:") for name in ctx.stats.counts)


async def test_plain_identification_and_none_at_all() -> None:
    sink = RecordingSink()
    async with (server(sink, min_interval_s=0) as (srv, _), tracker(srv.bound_port) as plain,
                tracker(srv.bound_port) as anonymous):
        await plain.send(b"ID:bike42\n" + epoch(0))
        await anonymous.send(epoch(0))
        await eventually(lambda: len(sink.readings) == 2, "one reading from each")
    assert sorted(reading.device for reading in sink.readings) == ["trk-127.0.0.1", "trk-bike42"]


async def test_an_identification_line_with_a_bad_checksum_is_refused_and_the_address_names_the_tracker() -> None:
    sink = RecordingSink()
    async with server(sink, min_interval_s=0) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(b"$PSHB,ID,1235*00\r\n" + epoch(0))
        await eventually(lambda: len(sink.readings) == 1, "the reading")
    assert sink.readings[0].device == "trk-127.0.0.1"
    assert ctx.stats.counts["refused:checksum"] == 1


async def test_sentences_sent_one_byte_at_a_time() -> None:
    sink = RecordingSink()
    async with server(sink, min_interval_s=0) as (srv, _), tracker(srv.bound_port) as client:
        for byte in b"ID:slow\r\n" + epoch(0):
            await client.send(bytes([byte]))
        await eventually(lambda: len(sink.readings) == 1, "the reading")
    assert sink.readings[0].device == "trk-slow"


async def test_a_whole_log_in_one_segment_is_rate_limited_per_tracker() -> None:
    sink = RecordingSink()
    async with (server(sink) as (srv, ctx), tracker(srv.bound_port) as first,
                tracker(srv.bound_port) as second):
        await first.send(b"ID:one\r\n" + b"".join(epoch(second) for second in range(12)))
        await second.send(b"ID:two\r\n" + b"".join(epoch(second) for second in range(7)))
        await eventually(lambda: ctx.stats.counts["fixes"] == 19, "every epoch of both")
        await eventually(lambda: len(sink.readings) == 5, "the readings kept")
    by_device: dict[str, list[int]] = {}
    for reading in sink.readings:
        by_device.setdefault(reading.device, []).append(reading.ts.second)
    assert by_device == {"trk-one": [0, 5, 10], "trk-two": [0, 5]}


async def test_the_open_epoch_is_flushed_when_the_tracker_hangs_up() -> None:
    sink = RecordingSink()
    async with server(sink, min_interval_s=0) as (srv, _):
        async with tracker(srv.bound_port) as client:
            await client.send(b"ID:t1\r\n" + epoch(0))
        await eventually(lambda: len(sink.readings) == 1, "the last epoch's reading")
        await eventually(lambda: srv.connection_count == 0, "connection gone")


async def test_garbage_closes_the_connection() -> None:
    sink = RecordingSink()
    async with server(sink) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(b"GET / HTTP/1.1\r\n" + b"Host: example\r\n" * GARBAGE_LINES)
        assert await client.closed_by_peer()
        assert ctx.stats.counts["garbage_closed"] == 1
    assert sink.readings == []
    assert sum(count for name, count in ctx.stats.counts.items() if name.startswith("refused:")) == GARBAGE_LINES


async def test_a_few_bad_lines_do_not_close_a_tracker() -> None:
    sink = RecordingSink()
    async with server(sink, min_interval_s=0) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(b"ID:t2\r\n" + b"noise\r\n" * (GARBAGE_LINES - 1) + epoch(0) + b"noise\r\n" * 5 + epoch(1))
        await eventually(lambda: len(sink.readings) == 2, "both readings")
        assert ctx.stats.counts["garbage_closed"] == 0


async def test_an_over_long_line_closes_the_connection() -> None:
    sink = RecordingSink()
    async with server(sink, max_line=100) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(b"ID:t3\r\n" + b"$GPRMC," + b"1" * 150)
        assert await client.closed_by_peer()
    assert (ctx.stats.counts["refused:length"], ctx.stats.counts["garbage_closed"]) == (1, 1)


async def test_an_idle_tracker_is_closed() -> None:
    sink = RecordingSink()
    async with server(sink, idle_timeout=0.3, min_interval_s=0) as (srv, ctx), tracker(srv.bound_port) as client:
        await client.send(b"ID:t4\r\n" + epoch(0))
        assert await client.closed_by_peer()
        assert ctx.stats.counts["idle_closed"] == 1
    assert len(sink.readings) == 1  # flushed when quiet, before the idle close


async def test_a_tracker_talking_slowly_is_not_idle() -> None:
    sink = RecordingSink()
    async with server(sink, idle_timeout=0.6, min_interval_s=0) as (srv, ctx), tracker(srv.bound_port) as client:
        for second in range(4):  # a burst every 0.4 s: quiet long enough to flush, never long enough to be idle
            await client.send(epoch(second))
            await eventually(lambda: len(sink.readings) == second + 1, f"reading {second}")  # noqa: B023
        assert ctx.stats.counts["idle_closed"] == 0


async def test_connections_over_max_connections_are_refused() -> None:
    sink = RecordingSink()
    async with (server(sink, max_connections=2) as (srv, ctx), tracker(srv.bound_port) as one,
                tracker(srv.bound_port) as two):
        await one.send(b"ID:a\r\n")
        await two.send(b"ID:b\r\n")
        await eventually(lambda: srv.connection_count == 2, "two connections served")
        async with tracker(srv.bound_port) as third:
            assert await third.closed_by_peer()
        assert ctx.stats.counts["refused:max_connections"] == 1
