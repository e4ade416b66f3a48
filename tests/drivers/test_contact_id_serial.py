"""The Contact ID driver on a real pseudo-terminal, with the simulated panel on the other end.

The sink below records readings and numbers them like the outbox does; it can hold a submit open or refuse it, so the
tests can see exactly when the kiss-off goes out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from firmware_sim.contact_id_panel import ContactIdPanel, run_panel
from firmware_sim.pty_pair import PtyPair

from drivers.base import DriverContext, create_driver
from drivers.contact_id.codec import checksum_digit, encode
from drivers.contact_id.driver import ContactIdSerialDriver, create
from drivers.contact_id.framing import ACK, NAK, LineFramer
from shaobing.envelope import Kind
from shaobing.errors import ConfigError
from tests.drivers.line_kit import RecordingSink, eventually, running_on_port

VALID = b"123418113101007C"
LOG = "test.contact_id.serial"


@asynccontextmanager
async def running(port: str, sink: RecordingSink, **options: Any) -> AsyncIterator[DriverContext]:
    """The driver serving `port` in a task, with the port open before the block starts."""
    driver = create({"port": port, "reopen_delay": 0.05, **options}, source="test")
    ctx = DriverContext(site="shop-1", sink=sink, log=logging.getLogger(LOG))
    async with running_on_port(driver, ctx, "contact-id driver"):
        yield ctx


async def replies(panel: ContactIdPanel, count: int, within: float = 5.0) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(count):
        reply = await panel.wait_reply(within)
        assert reply is not None, f"only {len(got)} of {count} replies"
        got.append(reply)
    return got


async def test_vector_is_committed_then_acknowledged(pair: PtyPair, caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink()
    caplog.set_level(logging.INFO, logger=LOG)
    async with running(pair.slave_path, sink, name="shop-panel") as ctx:
        panel = ContactIdPanel(pair.master_fd)
        assert await panel.exchange(VALID + b"\r", within=5) == ACK
    [reading] = sink.readings
    assert reading.device == "shop-panel"
    assert reading.kind is Kind.ALARM
    assert reading.ts == reading.rx
    assert reading.data == {"class": "burglary", "source": "contact_id", "partition": 1, "qualifier": "new",
                            "code": 131, "account": "1234", "zone": 7, "user": None, "24h": False,
                            "detail": "perimeter"}
    assert ctx.stats.counts["accepted"] == 1
    assert "frame '123418113101007C' -> seq 1" in caplog.text


async def test_kiss_off_only_after_submit_returned(pair: PtyPair) -> None:
    gate = asyncio.Event()
    sink = RecordingSink(gate=gate)
    async with running(pair.slave_path, sink):
        panel = ContactIdPanel(pair.master_fd)
        await panel.write(VALID + b"\r")
        await asyncio.wait_for(sink.entered.wait(), 5)
        # the reading is not committed yet: the panel must hear nothing
        assert await panel.wait_reply(0.3) is None
        assert sink.readings == []
        gate.set()
        assert await panel.wait_reply(5) == ACK
        assert len(sink.readings) == 1


async def test_bad_checksum_is_nakked_and_the_panel_retry_succeeds(pair: PtyPair) -> None:
    sink = RecordingSink()

    def noisy_first_attempt(frame: bytes, attempt: int) -> bytes:
        return frame[:-1] + b"0" if attempt == 1 else frame

    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd, line_noise=noisy_first_attempt)
        message = ContactIdPanel.event("1234", 131, zone_or_user=7)
        assert await panel.send(message, timeout=5) is True
    assert (panel.stats["nak"], panel.stats["ack"]) == (1, 1)
    assert ctx.stats.counts["refused:checksum"] == 1
    assert [reading.data["code"] for reading in sink.readings] == [131]


async def test_outbox_refused_means_nak_until_it_takes_the_reading(pair: PtyPair) -> None:
    sink = RecordingSink(refuse=2)
    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd)
        assert await panel.send(ContactIdPanel.event("1234", 120), timeout=5) is True
    assert (panel.stats["nak"], panel.stats["ack"]) == (2, 1)
    assert ctx.stats.counts["outbox_refused"] == 2
    assert sink.calls == 3
    assert [reading.data["class"] for reading in sink.readings] == ["panic"]


async def test_panel_gives_up_after_its_attempts(pair: PtyPair) -> None:
    sink = RecordingSink(refuse=10)
    async with running(pair.slave_path, sink):
        panel = ContactIdPanel(pair.master_fd)
        assert await panel.send(ContactIdPanel.event("1234", 130), timeout=5, attempts=4) is False
    assert panel.stats["nak"] == 4
    assert sink.readings == []


async def test_every_corrupted_position_is_nakked(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd)
        for position in range(16):
            corrupted = bytearray(VALID)
            corrupted[position] = ord("9") if corrupted[position] != ord("9") else ord("8")
            assert await panel.exchange(bytes(corrupted) + b"\r", within=5) == NAK, position
        assert await panel.exchange(VALID + b"\r", within=5) == ACK
    assert ctx.stats.counts["refused:checksum"] == 16
    assert len(sink.readings) == 1


def _with_check(body: str) -> bytes:
    return (body + checksum_digit(body)).encode()


@pytest.mark.parametrize(("line", "reason"), [
    (VALID[:15], "length"), (VALID[:1], "length"), (VALID + b"0", "length"), (VALID * 2, "length"),
    (b"\x00\x06\x15\xff\xfe" * 4, "length"), (bytes(range(14, 32)) + b"\x7f\x80\xff", "length"),
    (b"\xff" * 16, "bad digit"), (b"1234G81131010071", "bad digit"), (_with_check("123442113101007"), "message type"),
    (_with_check("123418913101007"), "qualifier"),
], ids=["truncated", "one-digit", "17-digits", "32-digits", "binary", "control-bytes", "binary-16", "letter",
        "message-type", "qualifier"])
async def test_malformed_lines_are_nakked_and_the_line_carries_on(pair: PtyPair, line: bytes, reason: str) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd)
        assert await panel.exchange(line + b"\r", within=5) == NAK
        assert await panel.exchange(VALID + b"\r", within=5) == ACK
    refused = {name: count for name, count in ctx.stats.counts.items() if name.startswith("refused:")}
    assert refused == {f"refused:{reason}": 1}
    assert len(sink.readings) == 1


async def test_random_garbage_with_line_breaks(pair: PtyPair) -> None:
    blob = random.Random(5).randbytes(4000)
    expected_lines = len(LineFramer().feed(blob + b"\r"))
    assert expected_lines > 10
    sink = RecordingSink()
    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd)
        await panel.write(blob + b"\r")
        assert await replies(panel, expected_lines) == [NAK] * expected_lines
        assert await panel.exchange(VALID + b"\r", within=5) == ACK
    assert sum(count for name, count in ctx.stats.counts.items() if name.startswith("refused:")) == expected_lines
    assert len(sink.readings) == 1


async def test_ten_kilobytes_without_terminator_is_one_overflow(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink) as ctx:
        panel = ContactIdPanel(pair.master_fd)
        await panel.write(b"1234" * 2500)
        assert await panel.exchange(b"\r", within=5) == NAK
        assert await panel.wait_reply(0.2) is None  # one refusal for the whole run
        assert await panel.exchange(VALID + b"\r", within=5) == ACK
    assert ctx.stats.counts["refused:overflow"] == 1
    assert len(sink.readings) == 1


async def test_frame_written_one_byte_at_a_time(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink):
        panel = ContactIdPanel(pair.master_fd)
        for byte in b"\0 " + VALID + b" \r\n":
            await panel.write(bytes([byte]))
            await asyncio.sleep(0.002)
        assert await panel.wait_reply(5) == ACK
        assert await panel.wait_reply(0.2) is None  # the LF after CR is not a second line
    assert len(sink.readings) == 1


async def test_many_frames_in_one_write_are_committed_in_order(pair: PtyPair) -> None:
    messages = [ContactIdPanel.event("0639", 130, zone_or_user=zone) for zone in range(1, 31)]
    sink = RecordingSink()
    async with running(pair.slave_path, sink):
        panel = ContactIdPanel(pair.master_fd)
        await panel.write(b"".join(encode(message).encode() + b"\r\n" for message in messages))
        assert await replies(panel, len(messages)) == [ACK] * len(messages)
    assert [reading.data["zone"] for reading in sink.readings] == list(range(1, 31))


async def test_port_closed_and_reopened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "ttyPANEL"
    sink = RecordingSink()
    caplog.set_level(logging.INFO, logger=LOG)
    first = PtyPair()
    try:
        link.symlink_to(first.slave_path)
        async with running(str(link), sink) as ctx:
            assert await ContactIdPanel(first.master_fd).send(ContactIdPanel.event("1234", 130), timeout=5)
            first.close()  # the cable is pulled
            await eventually(lambda: ctx.stats.counts["open_failed"] >= 3, "reopen attempts")
            with PtyPair() as second:
                link.unlink()
                link.symlink_to(second.slave_path)
                await eventually(lambda: ctx.stats.counts["reopen"] == 1, "reopened")
                assert await ContactIdPanel(second.master_fd).send(ContactIdPanel.event("1234", 602), timeout=5)
    finally:
        first.close()
    assert [reading.kind for reading in sink.readings] == [Kind.ALARM, Kind.TEST]
    assert ctx.stats.counts["port_lost"] == 1
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    # the outage is told once (lost, then why it cannot be reopened), not once per retry
    assert "lost" in warnings[0]
    cannot_open = warnings[1:]
    assert cannot_open
    assert all("cannot open" in message for message in cannot_open)
    assert len(cannot_open) < ctx.stats.counts["open_failed"]


async def test_port_missing_at_start_then_appearing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = tmp_path / "ttyLATE"
    sink = RecordingSink()
    driver = create({"port": str(link), "reopen_delay": 0.02}, source="test")
    ctx = DriverContext(site="shop-1", sink=sink, log=logging.getLogger(LOG))
    task = asyncio.create_task(driver.run(ctx))
    try:
        await eventually(lambda: ctx.stats.counts["open_failed"] >= 5, "open attempts")
        with PtyPair() as pair:
            link.symlink_to(pair.slave_path)
            await eventually(lambda: ctx.stats.counts["opened"] == 1, "opened")
            assert await ContactIdPanel(pair.master_fd).send(ContactIdPanel.event("1234", 301), timeout=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [reading.data["class"] for reading in sink.readings] == ["ac_loss"]
    assert ctx.stats.counts["reopen"] == 0
    cannot_open = [record for record in caplog.records if "cannot open" in record.getMessage()]
    assert len(cannot_open) == 1


async def test_run_panel_script_over_a_fresh_pty(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM"
    sink = RecordingSink()
    ready = asyncio.Event()
    script = [ContactIdPanel.event("1234", 401, "restore", 1, 7), ContactIdPanel.event("1234", 130, "new", 1, 3)]
    driver = create({"port": str(link), "reopen_delay": 0.02}, source="test")
    ctx = DriverContext(site="shop-1", sink=sink, log=logging.getLogger(LOG))
    task = asyncio.create_task(driver.run(ctx))
    try:
        results = await run_panel(None, script, timeout=1.0, link=str(link), on_ready=lambda path: ready.set())
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ready.is_set()
    assert results == [True, True]
    assert [(reading.kind, reading.data.get("state")) for reading in sink.readings] == [
        (Kind.ARMING, "armed"), (Kind.ALARM, None)]


async def test_run_panel_on_a_given_master(pair: PtyPair) -> None:
    sink = RecordingSink()
    async with running(pair.slave_path, sink):
        results = await run_panel(pair.master_fd, [ContactIdPanel.event("1234", 110)], timeout=5)
    assert results == [True]
    assert os.get_blocking(pair.master_fd) is False  # still open and usable: the pair owns it
    assert sink.readings[0].data["class"] == "fire"


def test_options_are_closed_and_checked() -> None:
    driver = create({"port": "/dev/ttyUSB0"}, source="site.toml: drivers[0]")
    assert isinstance(driver, ContactIdSerialDriver)
    assert (driver.name, driver.options.baudrate, driver.options.reopen_delay) == ("panel", 9600, 2.0)
    with pytest.raises(ConfigError, match=r"site.toml: drivers\[0\]: speed: unknown key"):
        create({"port": "/dev/ttyUSB0", "speed": 9600}, source="site.toml: drivers[0]")
    with pytest.raises(ConfigError, match="port: Field required"):
        create({}, source="site.toml")
    with pytest.raises(ConfigError, match="reopen_delay"):
        create({"port": "/dev/ttyUSB0", "reopen_delay": 0}, source="site.toml")


def test_found_by_entry_point() -> None:
    driver = create_driver({"type": "contact_id", "port": "loop://", "name": "back-office"})
    assert isinstance(driver, ContactIdSerialDriver)
    assert driver.name == "back-office"


async def test_line_hung_up_while_committing(tmp_path: Path) -> None:
    # the reading is committed but the kiss-off cannot go out: the panel will send it again (at least once)
    link = tmp_path / "ttyHANG"
    gate = asyncio.Event()
    sink = RecordingSink(gate=gate)
    first = PtyPair()
    try:
        link.symlink_to(first.slave_path)
        async with running(str(link), sink) as ctx:
            await ContactIdPanel(first.master_fd).write(VALID + b"\r")
            await asyncio.wait_for(sink.entered.wait(), 5)
            first.close()
            gate.set()
            await eventually(lambda: ctx.stats.counts["port_lost"] == 1, "port lost")
            with PtyPair() as second:
                link.unlink()
                link.symlink_to(second.slave_path)
                await eventually(lambda: ctx.stats.counts["reopen"] == 1, "reopened")
                assert await ContactIdPanel(second.master_fd).send(ContactIdPanel.event("1234", 131, zone_or_user=7),
                                                                   timeout=5)
    finally:
        first.close()
    assert [reading.data["code"] for reading in sink.readings] == [131, 131]


async def test_pyserial_socket_url() -> None:
    # a serial device server on TCP (raw mode), reached through pyserial's socket:// URL
    replies_seen: list[bytes] = []
    answered = asyncio.Event()
    hung_up = asyncio.Event()

    async def device_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"1234181131010070\r" + VALID + b"\r")
            await writer.drain()
            replies_seen.append(await reader.readexactly(2))
            answered.set()
            await reader.read()  # hold the line until the driver goes away
        finally:
            writer.close()
            hung_up.set()

    server = await asyncio.start_server(device_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sink = RecordingSink()
    try:
        async with running(f"socket://127.0.0.1:{port}", sink):
            await asyncio.wait_for(answered.wait(), 5)
        await asyncio.wait_for(hung_up.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()
    assert replies_seen == [NAK + ACK]
    assert len(sink.readings) == 1


async def test_port_kind_without_descriptor_is_refused_clearly(caplog: pytest.LogCaptureFixture) -> None:
    sink = RecordingSink()
    driver = create({"port": "loop://", "reopen_delay": 0.01}, source="test")
    ctx = DriverContext(site="shop-1", sink=sink, log=logging.getLogger(LOG))
    task = asyncio.create_task(driver.run(ctx))
    try:
        await eventually(lambda: ctx.stats.counts["open_failed"] >= 3, "open attempts")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(messages) == 1
    assert "no file descriptor" in messages[0]


async def test_run_panel_opens_a_device_path(pair: PtyPair) -> None:
    # the panel on the slave side this time; the test answers as the receiver on the master side
    message = ContactIdPanel.event("1234", 137, zone_or_user=2)
    panel_task = asyncio.create_task(run_panel(pair.slave_path, [message], timeout=5))
    received = bytearray()
    async with asyncio.timeout(5):
        while not received.endswith(b"\r"):
            try:
                received += os.read(pair.master_fd, 64)
            except BlockingIOError:
                await asyncio.sleep(0.01)
    os.write(pair.master_fd, ACK)
    assert await asyncio.wait_for(panel_task, 5) == [True]
    assert bytes(received) == encode(message).encode() + b"\r"
