"""The DC-09 receiver over real TCP sockets, with the simulated dialler and raw sockets as panels."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from firmware_sim.dc09_dialler import Dc09Dialler, cid_event, run_panel, sia_event

from drivers.base import DriverContext, create_driver
from drivers.dc09.builder import build_message
from drivers.dc09.crypto import parse_key
from drivers.dc09.driver import Dc09Receiver, create
from drivers.dc09.framing import Dc09Framer
from drivers.dc09.replies import Dc09Reply, parse_reply
from shaobing.envelope import Kind
from shaobing.errors import ConfigError
from tests.drivers.tcp_kit import RawClient, RecordingSink, connected, serving

KEY_HEX = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
LOG = logging.getLogger("tests.dc09")


@contextlib.asynccontextmanager
async def receiver(sink: RecordingSink, **options: Any) -> AsyncIterator[tuple[Dc09Receiver, DriverContext]]:
    settings = {"listen": "127.0.0.1:0", **options}
    settings.setdefault("accept_any_account", "accounts" not in settings)
    server = create(settings, source="test: driver 'dc09'")
    ctx = DriverContext(site="test-site", sink=sink, log=LOG)
    async with serving(server, ctx, "dc09-receiver"):
        yield server, ctx


class Panel(RawClient):
    """A raw TCP client that writes bytes and reads reply frames."""

    wait_s = 3.0

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.framer = Dc09Framer()
        self.pending: list[bytes] = []

    async def reply(self, within: float = 3.0, *, key: bytes | None = None) -> Dc09Reply | None:
        """The next reply frame, or None if the connection closed first (TimeoutError after `within` s)."""
        async with asyncio.timeout(within):
            while not self.pending:
                chunk = await self.reader.read(4096)
                if not chunk:
                    return None
                self.pending += [item for item in self.framer.feed(chunk) if isinstance(item, bytes)]
        return parse_reply(self.pending.pop(0), key=key)


def panel(port: int) -> contextlib.AbstractAsyncContextManager[Panel]:
    return connected(Panel, port)


def now() -> datetime:
    return datetime.now(UTC)


def burglary(sequence: int, account: str = "1234", *, timestamp: datetime | None = None, zone: int = 3,
             key: bytes | None = None) -> bytes:
    return build_message("SIA-DCS", sequence, account, f"#{account}|Nri1/BA{zone:03d}", receiver="1", prefix="2",
                         timestamp=timestamp or now(), key=key)


def refused_counts(ctx: DriverContext, prefix: str) -> int:
    return sum(count for name, count in ctx.stats.counts.items() if name.startswith(f"refused:{prefix}"))


async def test_entry_point_and_closed_options() -> None:
    driver = create_driver({"type": "dc09", "listen": "127.0.0.1:0", "accept_any_account": True}, source="site.toml")
    assert isinstance(driver, Dc09Receiver)
    assert driver.name == "dc09"
    with pytest.raises(ConfigError, match=r"site\.toml: driver 'dc09': listen_on: unknown key"):
        create_driver({"type": "dc09", "listen_on": "x"}, source="site.toml")
    with pytest.raises(ConfigError, match=r"accounts\.1234\.key"):
        create({"accounts": {"1234": {"key": "abc"}}}, source="site.toml")
    with pytest.raises(ConfigError, match="no \\[accounts\\] configured"):
        create({"listen": "0.0.0.0:9000"}, source="site.toml")
    with pytest.raises(ConfigError, match="choose one"):
        create({"accounts": {"1234": {}}, "accept_any_account": True}, source="site.toml")


async def test_ack_is_written_only_after_the_reading_is_submitted() -> None:
    sink = RecordingSink()
    sink.gate = asyncio.Event()
    async with receiver(sink) as (server, _), panel(server.bound_port or 0) as client:
        await client.send(burglary(11))
        await asyncio.wait_for(sink.entered.wait(), 3)
        assert await client.nothing_within(0.3)  # submit has not returned: no ACK yet
        assert sink.readings == []
        sink.gate.set()
        reply = await client.reply()
        assert reply is not None
        assert (reply.token, reply.sequence, reply.receiver, reply.prefix, reply.account) == (
            "ACK", "0011", "1", "2", "1234")
        assert len(sink.readings) == 1
    reading = sink.readings[0]
    assert (reading.device, reading.kind) == ("dc09:1234", Kind.ALARM)
    assert reading.data == {"class": "burglary", "source": "dc09", "zone": 3, "partition": 1, "user": None,
                            "qualifier": "new", "code": "BA", "account": "1234"}
    assert abs((reading.ts - reading.rx).total_seconds()) < 5


async def test_frame_sent_one_byte_at_a_time() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, _), panel(server.bound_port or 0) as client:
        for byte in burglary(12):
            await client.send(bytes([byte]))
            await asyncio.sleep(0.001)
        reply = await client.reply()
        assert reply is not None
        assert (reply.token, reply.sequence) == ("ACK", "0012")
    assert len(sink.readings) == 1


async def test_many_frames_in_one_segment_are_each_acknowledged_in_order() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, _), panel(server.bound_port or 0) as client:
        await client.send(b"".join(burglary(sequence, zone=sequence) for sequence in range(1, 21)))
        replies = [await client.reply() for _ in range(20)]
    assert [(r.token, r.sequence) for r in replies if r is not None] == [
        ("ACK", f"{sequence:04d}") for sequence in range(1, 21)]
    assert [reading.data["zone"] for reading in sink.readings] == list(range(1, 21))


async def test_bad_crc_gets_no_ack_and_the_dialler_retry_succeeds() -> None:
    sink = RecordingSink()

    def corrupt_first_attempt(frame: bytes, attempt: int) -> bytes:
        return frame.replace(b"BA", b"BX") if attempt == 1 else frame

    async with receiver(sink) as (server, ctx):
        async with Dc09Dialler("127.0.0.1", server.bound_port or 0, "1234", wire_noise=corrupt_first_attempt,
                               log=LOG) as dialler:
            assert await dialler.send(sia_event("BA", 4, account="1234"), timeout=0.4, attempts=3)
        assert (dialler.stats["timeout"], dialler.stats["ack"], dialler.stats["sent"]) == (1, 1, 2)
        assert refused_counts(ctx, "CRC") == 1
    assert [reading.data["code"] for reading in sink.readings] == ["BA"]


async def test_old_timestamp_is_refused_with_a_nak_carrying_the_receiver_time() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, ctx), panel(server.bound_port or 0) as client:
        await client.send(burglary(13, timestamp=now() - timedelta(hours=1)))
        reply = await client.reply()
        assert reply is not None
        assert reply.token == "NAK"
        assert reply.timestamp is not None
        assert abs((reply.timestamp - now()).total_seconds()) < 5
        await client.send(burglary(13, timestamp=now() + timedelta(seconds=60)))  # too far ahead
        reply = await client.reply()
        assert reply is not None
        assert reply.token == "NAK"
        assert refused_counts(ctx, "timestamp") == 2
    assert sink.readings == []


async def test_dialler_with_a_wrong_clock_is_corrected_by_the_nak() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, _):
        async with Dc09Dialler("127.0.0.1", server.bound_port or 0, "1234", log=LOG,
                               clock=lambda: now() - timedelta(hours=2)) as dialler:
            assert await dialler.send(cid_event(130, "new", 1, 9, account="1234"), timeout=1.0, attempts=3)
        assert (dialler.stats["nak"], dialler.stats["ack"]) == (1, 1)
    assert [(reading.kind, reading.data["zone"], reading.data["source"]) for reading in sink.readings] == [
        (Kind.ALARM, 9, "adm_cid")]


async def test_encrypted_message_gets_an_encrypted_ack() -> None:
    sink = RecordingSink()
    key = parse_key(KEY_HEX)
    accounts = {"12AB": {"key": KEY_HEX, "name": "Shop 7"}}
    async with receiver(sink, accounts=accounts) as (server, _), panel(server.bound_port or 0) as client:
        await client.send(burglary(21, "12AB", key=key))
        reply = await client.reply(key=key)
        assert reply is not None
        assert (reply.token, reply.encrypted, reply.sequence) == ("ACK", True, "0021")
        assert reply.timestamp is not None
        assert b'"*ACK"' in reply.raw
        assert b"]" not in reply.raw  # the brackets' content is encrypted
    assert [(r.device, r.data["account_name"]) for r in sink.readings] == [("dc09:12AB", "Shop 7")]


async def test_encrypted_dialler_round_trip() -> None:
    sink = RecordingSink()
    async with (receiver(sink, accounts={"12ab": {"key": KEY_HEX}}) as (server, _),
                Dc09Dialler("127.0.0.1", server.bound_port or 0, "12AB", key=parse_key(KEY_HEX),
                            log=LOG) as dialler):
        assert await dialler.send(sia_event("FA", 2, account="12AB"), timeout=1.0, attempts=2)
        assert await dialler.poll(timeout=1.0, attempts=2)
    assert [(r.kind, r.data.get("class"), r.data.get("test")) for r in sink.readings] == [
        (Kind.ALARM, "fire", None), (Kind.TEST, None, "poll")]


async def test_wrong_key_gets_nak_unknown_account_and_clear_text_get_duh() -> None:
    sink = RecordingSink()
    accounts = {"12AB": {"key": KEY_HEX}, "777": {}}
    async with receiver(sink, accounts=accounts) as (server, ctx), panel(server.bound_port or 0) as client:
        await client.send(burglary(1, "12AB", key=bytes(32)))
        nak = await client.reply()
        await client.send(burglary(2, "ABCD"))
        unknown = await client.reply()
        await client.send(burglary(3, "12AB"))
        clear_text = await client.reply()
        await client.send(burglary(4, "777", key=bytes(16)))
        no_key = await client.reply()
        await client.send(build_message("ADM-CID", 5, "777", "#777|hello", timestamp=now()))
        unreadable = await client.reply()
        await client.send(burglary(6, "777"))
        accepted = await client.reply()
    replies = [nak, unknown, clear_text, no_key, unreadable, accepted]
    assert [(r.token, r.sequence) for r in replies if r is not None] == [
        ("NAK", "0000"), ("DUH", "0002"), ("DUH", "0003"), ("DUH", "0004"), ("DUH", "0005"), ("ACK", "0006")]
    assert refused_counts(ctx, "decryption failed") == 1
    assert refused_counts(ctx, "account") == 1
    assert refused_counts(ctx, "encryption") == 2
    assert refused_counts(ctx, "data") == 1
    assert [r.device for r in sink.readings] == ["dc09:777"]


async def test_null_poll_gives_a_test_reading_and_an_ack() -> None:
    sink = RecordingSink()
    async with receiver(sink, name="shop") as (server, _), panel(server.bound_port or 0) as client:
        await client.send(build_message("NULL", 0, "7890"))
        reply = await client.reply()
        assert reply is not None
        assert (reply.token, reply.sequence, reply.account) == ("ACK", "0000", "7890")
    assert [(r.device, r.kind, r.data) for r in sink.readings] == [
        ("shop:7890", Kind.TEST, {"source": "dc09", "test": "poll", "account": "7890"})]


async def test_outbox_refusal_means_no_ack_and_the_panel_retry_is_taken() -> None:
    sink = RecordingSink()
    sink.refusals = 1
    async with receiver(sink) as (server, ctx):
        async with Dc09Dialler("127.0.0.1", server.bound_port or 0, "1234", log=LOG) as dialler:
            assert await dialler.send(sia_event("PA", 1, account="1234"), timeout=0.4, attempts=3)
        assert (dialler.stats["timeout"], dialler.stats["ack"]) == (1, 1)
        assert ctx.stats.counts["outbox_refused"] == 1
    assert [reading.data["class"] for reading in sink.readings] == ["panic"]


async def test_a_resend_after_a_lost_ack_is_acknowledged_without_a_second_reading() -> None:
    sink = RecordingSink()
    frame = burglary(31)
    async with receiver(sink) as (server, ctx), panel(server.bound_port or 0) as client:
        await client.send(frame)
        first = await client.reply()
        await client.send(frame)
        second = await client.reply()
        assert ctx.stats.counts["resent"] == 1
    assert [(r.token, r.sequence) for r in (first, second) if r is not None] == [("ACK", "0031"), ("ACK", "0031")]
    assert len(sink.readings) == 1


async def test_idle_connection_is_closed() -> None:
    sink = RecordingSink()
    async with receiver(sink, idle_timeout=0.3) as (server, ctx), panel(server.bound_port or 0) as client:
        assert await client.closed_by_peer(within=3.0)
        assert ctx.stats.counts["idle_closed"] == 1


async def test_connections_over_max_connections_are_refused() -> None:
    sink = RecordingSink()
    async with receiver(sink, max_connections=2) as (server, ctx):
        port = server.bound_port or 0
        async with panel(port) as first, panel(port) as second:
            for index, client in enumerate((first, second)):
                await client.send(burglary(40 + index))
                assert await client.reply() is not None
            async with panel(port) as third:
                assert await third.closed_by_peer(within=3.0)
            assert ctx.stats.counts["refused:max_connections"] == 1
            await first.send(burglary(42))
            reply = await first.reply()
            assert reply is not None
            assert reply.token == "ACK"
        for _ in range(300):  # the receiver notices the two closed connections
            if server.connection_count == 0:
                break
            await asyncio.sleep(0.01)
        assert server.connection_count == 0
        async with panel(port) as later:  # a freed slot can be used again
            await later.send(burglary(43))
            assert await later.reply() is not None
    assert len(sink.readings) == 4


async def test_garbage_flood_is_dropped_and_does_not_stop_other_connections() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, ctx):
        port = server.bound_port or 0
        async with panel(port) as flood, panel(port) as honest:
            flood_task = asyncio.create_task(_flood(flood))
            await honest.send(burglary(50))
            reply = await honest.reply()
            assert reply is not None
            assert reply.token == "ACK"
            await flood_task
            assert await flood.closed_by_peer(within=3.0)
            await honest.send(b"\n" + b"X" * 5000 + b"\r" + b"\x00\xff\n\n\n" + burglary(51))
            reply = await honest.reply()
            assert reply is not None
            assert reply.sequence == "0051"
        assert ctx.stats.counts["garbage_closed"] == 1
        assert refused_counts(ctx, "framing") >= 2
    assert len(sink.readings) == 2


async def _flood(client: Panel) -> None:
    with contextlib.suppress(ConnectionError):
        for _ in range(50):
            await client.send(b"\x00garbage\xff" * 1000)


async def test_run_panel_sends_the_script() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, _):
        results = await run_panel(f"127.0.0.1:{server.bound_port}", account="4321", timeout=1.0, attempts=2,
                                  log=LOG)
    assert results == [True] * 5
    assert [(r.kind, r.data.get("code")) for r in sink.readings] == [
        (Kind.ARMING, "CL"), (Kind.ALARM, "BA"), (Kind.ALARM, "BR"), (Kind.ALARM, 120), (Kind.ARMING, "OP")]


async def test_dialler_reconnects_when_the_receiver_comes_back() -> None:
    sink = RecordingSink()
    async with receiver(sink) as (server, _):
        port = server.bound_port or 0
    # nobody listens on `port` now; a receiver appears there a little later
    dialler = Dc09Dialler("127.0.0.1", port, "1234", log=LOG)

    async def start_late() -> None:
        await asyncio.sleep(0.3)
        async with receiver(sink, listen=f"127.0.0.1:{port}"):
            await asyncio.sleep(3)

    late = asyncio.create_task(start_late())
    try:
        assert await dialler.send(sia_event("BA", 8, account="1234"), timeout=1.0, attempts=20)
        assert dialler.stats["reconnect"] >= 1
    finally:
        await dialler.close()
        late.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await late
    assert [reading.data["zone"] for reading in sink.readings] == [8]

