"""Webhooks: signatures, backoff, and delivery to a real HTTP receiver on a local port that is down, then up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.schema import webhook_outbox
from central.webhooks.outbox import claim, enqueue, list_deliveries, mark_retry
from central.webhooks.sender import WebhookRecipient, WebhookSender, WebhookSettings, backoff_delay
from central.webhooks.signing import sign, signature_headers, verify
from shaobing.clock import SystemClock
from shaobing.net import free_port

SECRET = "s3cret-for-the-guards-0123456789"
LOG = logging.getLogger("test.webhooks")

# ---- signing ---------------------------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"dispatch.raised"}'
    expected = hmac.new(SECRET.encode(), b"1795000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1795000000", body) == "sha256=" + expected


def test_verify_accepts_the_real_thing_and_nothing_else() -> None:
    body = b'{"dispatch":{"id":7}}'
    headers = signature_headers(SECRET, event="dispatch.raised", delivery=7, timestamp=1795000000, body=body)
    assert headers["X-Shaobing-Delivery"] == "7"
    stamp, signature = headers["X-Shaobing-Timestamp"], headers["X-Shaobing-Signature"]
    good = {"timestamp": stamp, "signature": signature}
    assert verify(SECRET, body=body, now=1795000010, timestamp=stamp, signature=signature)
    assert not verify(SECRET, body=body + b" ", now=1795000010, timestamp=stamp, signature=signature)
    assert not verify("another-secret-0123456789", body=body, now=1795000010, timestamp=stamp, signature=signature)
    assert not verify(SECRET, body=body, now=1795000000 + 301, timestamp=stamp, signature=signature)  # replayed late
    assert not verify(SECRET, body=body, timestamp="1795000001", signature=good["signature"], now=1795000000)
    for bad_stamp, bad_signature in [
        (None, good["signature"]),
        (good["timestamp"], None),
        ("", good["signature"]),
        ("-1795000000", good["signature"]),
        ("1e9", good["signature"]),
        ("9" * 40, good["signature"]),
        (good["timestamp"], "sha256=" + "0" * 64),
        (good["timestamp"], "sha256=zz\u00e9"),
        (good["timestamp"], good["signature"].upper()),
    ]:
        assert not verify(SECRET, body=body, timestamp=bad_stamp, signature=bad_signature, now=1795000010)


def test_backoff_doubles_with_jitter_within_its_bounds() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, initial_s=1.0, max_s=60.0, rng=rng) for n in range(1, 12)]
    assert all(1.0 <= delay <= 60.0 for delay in delays)
    assert delays[0] <= 1.25 and 3.0 <= delays[2] <= 5.0
    assert delays[-1] >= 45.0
    assert backoff_delay(10_000, initial_s=1.0, max_s=60.0, rng=rng) <= 60.0


def test_recipient_settings_are_closed() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        WebhookRecipient.model_validate({"name": "guards", "url": "http://127.0.0.1:1/", "secret": "short"})
    with pytest.raises(ValueError, match="URL"):
        WebhookRecipient.model_validate({"name": "guards", "url": "ftp://x", "secret": SECRET})
    with pytest.raises(ValueError, match="extra"):
        WebhookSettings.model_validate({"recipients": [], "retries": 3})
    one = {"name": "guards", "url": "http://127.0.0.1:1/", "secret": SECRET}
    with pytest.raises(ValueError, match="same name"):
        WebhookSettings.model_validate({"recipients": [one, one]})


# ---- a real receiver -------------------------------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: answers each POST with the status `answer` picks, and records what came."""

    answer: Callable[[Received], int] = lambda _received: 204
    received: list[Received] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(headers, body)
                self.received.append(received)
                status = self.answer(received)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()


@asynccontextmanager
async def serving(receiver: Receiver, port: int) -> AsyncIterator[None]:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def settings_for(port: int, name: str = "guards") -> WebhookSettings:
    return WebhookSettings(
        recipients=[WebhookRecipient(name=name, url=f"http://127.0.0.1:{port}/hook", secret=SECRET, timeout=2)],  # type: ignore[arg-type]
        backoff_initial_s=0.05,
        backoff_max_s=0.3,
    )


async def put(engine: AsyncEngine, dispatch_id: int, event: str = "dispatch.raised", recipient: str = "guards") -> int:
    async with engine.begin() as connection:
        [delivery_id] = await enqueue(
            connection,
            recipients=[recipient],
            event=event,
            dispatch_id=dispatch_id,
            payload={"event": event, "dispatch": {"id": dispatch_id}, "note": "收到"},
            now=datetime.now(UTC),
        )
    return delivery_id


@asynccontextmanager
async def running(sender: WebhookSender) -> AsyncIterator[None]:
    task = asyncio.create_task(sender.run(), name="webhooks")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(check: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def verified(received: Received) -> bool:
    return verify(
        SECRET,
        timestamp=received.headers.get("x-shaobing-timestamp"),
        signature=received.headers.get("x-shaobing-signature"),
        body=received.body,
        now=time.time(),
    )


async def test_a_recipient_that_is_down_gets_every_dispatch_once_it_is_back(engine: AsyncEngine) -> None:
    port = free_port()
    ids = [await put(engine, dispatch_id) for dispatch_id in (11, 12, 13)]
    receiver = Receiver()
    sender = WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG)
    async with running(sender):

        async def retried() -> bool:
            async with engine.connect() as connection:
                [head, *_] = await list_deliveries(connection)
            return head.attempts >= 2

        await eventually(retried)  # connection refused, again and again
        async with engine.connect() as connection:
            pending = await list_deliveries(connection)
        assert [d.id for d in pending] == ids
        assert pending[0].last_error is not None and "Connect" in pending[0].last_error
        assert pending[1].attempts == 0  # strictly in order: the rest wait behind the first

        async with serving(receiver, port):

            async def all_delivered() -> bool:
                async with engine.connect() as connection:
                    return not await list_deliveries(connection)

            await eventually(all_delivered)
            await asyncio.sleep(0.3)  # time enough for a wrong second delivery to show

    assert [r.headers["x-shaobing-delivery"] for r in receiver.received] == [str(i) for i in ids]
    assert [json.loads(r.body)["dispatch"]["id"] for r in receiver.received] == [11, 12, 13]
    assert all(verified(r) for r in receiver.received)
    assert {r.headers["x-shaobing-event"] for r in receiver.received} == {"dispatch.raised"}
    assert json.loads(receiver.received[0].body)["note"] == "收到"
    async with engine.connect() as connection:
        delivered = await list_deliveries(connection, statuses=["delivered"])
    assert [(d.status, d.last_status, d.last_error) for d in delivered] == [("delivered", 204, None)] * 3


async def test_every_failure_is_retried_and_only_gone_is_kept_as_failed(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    # A misconfigured gateway answers 401, 403, 404 for a while: the police notification must still get through.
    answers = iter([503, 429, 401, 403, 404, 400, 302, 200, 410, 201])
    receiver = Receiver(answer=lambda _received: next(answers))
    first = await put(engine, 1)
    refused = await put(engine, 2)
    last = await put(engine, 3)
    sender = WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG)
    async with serving(receiver, port), running(sender):

        async def settled() -> bool:
            async with engine.connect() as connection:
                return not await list_deliveries(connection, statuses=["pending"])

        await eventually(settled)
    async with engine.connect() as connection:
        rows = {d.id: d for d in await list_deliveries(connection, statuses=["pending", "failed", "delivered"])}
    assert (rows[first].status, rows[first].attempts, rows[first].last_status) == ("delivered", 8, 200)
    assert (rows[refused].status, rows[refused].attempts, rows[refused].last_status) == ("failed", 1, 410)
    assert (rows[refused].last_error or "").startswith("HTTP 410")
    assert rows[last].status == "delivered"
    assert [r.headers["x-shaobing-delivery"] for r in receiver.received] == [str(i) for i in [1] * 8 + [2, 3]]
    # Logged at ERROR once while the recipient kept failing (the other attempts as warnings), then its recovery.
    errors = [r.getMessage() for r in caplog.records if r.name == LOG.name and r.levelno >= logging.ERROR]
    assert len(errors) == 2, errors
    assert errors[0].startswith("webhook recipient guards is failing") and "HTTP 503" in errors[0]
    assert "gone" in errors[1]


async def test_a_new_row_is_sent_at_once_when_the_sender_is_woken(engine: AsyncEngine) -> None:
    port = free_port()
    receiver = Receiver()
    sender = WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG)
    async with serving(receiver, port), running(sender):
        await asyncio.sleep(0.1)  # idle: nothing pending, so the worker sleeps until woken
        await put(engine, 42, event="dispatch.escalated")
        sender.wake()
        await eventually(lambda: _true_when(bool(receiver.received)), within=5)
    assert receiver.received[0].headers["x-shaobing-event"] == "dispatch.escalated"
    assert verified(receiver.received[0])


async def test_rows_of_an_unconfigured_recipient_stay_pending_and_visible(engine: AsyncEngine) -> None:
    port = free_port()
    receiver = Receiver()
    await put(engine, 5, recipient="nobody-configured")
    sender = WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG)
    async with serving(receiver, port), running(sender):
        sender.wake()
        await asyncio.sleep(0.2)
    async with engine.connect() as connection:
        [pending] = await list_deliveries(connection)
    assert (pending.recipient, pending.status, pending.attempts) == ("nobody-configured", "pending", 0)
    assert receiver.received == []


async def test_several_processes_send_each_delivery_once(engine: AsyncEngine) -> None:
    port = free_port()
    receiver = Receiver()
    ids = [await put(engine, dispatch_id) for dispatch_id in range(1, 31)]
    senders = [
        WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG, worker=f"central-{n}")
        for n in (1, 2, 3)
    ]
    async with serving(receiver, port), running(senders[0]), running(senders[1]), running(senders[2]):

        async def all_delivered() -> bool:
            async with engine.connect() as connection:
                return not await list_deliveries(connection)

        await eventually(all_delivered)
        await asyncio.sleep(0.3)  # time enough for a second POST of any of them to show
    assert [r.headers["x-shaobing-delivery"] for r in receiver.received] == [str(i) for i in ids]


async def _claim_for(engine: AsyncEngine, delivery_id: int, worker: str, until: datetime) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(webhook_outbox)
            .where(webhook_outbox.c.id == delivery_id)
            .values(claimed_by=worker, claimed_until=until)
        )


async def test_a_row_leased_by_a_live_process_waits_and_an_expired_lease_is_taken_over(engine: AsyncEngine) -> None:
    port = free_port()
    receiver = Receiver()
    first = await put(engine, 1)
    # Another process claimed the row and is posting it (its lease runs 0.6 s more): not sent twice meanwhile.
    await _claim_for(engine, first, "central-elsewhere", datetime.now(UTC) + timedelta(seconds=0.6))
    sender = WebhookSender(engine, settings_for(port), clock=SystemClock(), logger=LOG, worker="central-here")
    async with serving(receiver, port), running(sender):
        await asyncio.sleep(0.3)
        assert receiver.received == []

        async def delivered() -> bool:  # that process died: once its lease has expired, the row is taken over
            async with engine.connect() as connection:
                return bool(await list_deliveries(connection, statuses=["delivered"]))

        await eventually(delivered, within=5)
    async with engine.connect() as connection:
        [row] = await list_deliveries(connection, statuses=["delivered"])
    assert (row.id, row.claimed_by, row.claimed_until) == (first, None, None)
    assert len(receiver.received) == 1


async def test_a_claim_is_won_by_one_process_only(engine: AsyncEngine) -> None:
    delivery_id = await put(engine, 1)
    now = datetime.now(UTC)
    lease = timedelta(seconds=30)
    async with engine.begin() as connection:
        won = await claim(connection, delivery_id, worker="central-1", now=now, lease=lease)
    async with engine.begin() as connection:
        lost = await claim(connection, delivery_id, worker="central-2", now=now, lease=lease)
    async with engine.begin() as connection:
        taken_over = await claim(connection, delivery_id, worker="central-2", now=now + lease, lease=lease)
    assert won is not None and (won.claimed_by, won.claimed_until) == ("central-1", now + lease)
    assert lost is None
    assert taken_over is not None and taken_over.claimed_by == "central-2"
    async with engine.begin() as connection:  # the first one's result comes too late: it does not overwrite
        recorded = await mark_retry(
            connection, delivery_id, error="late", status=None, next_attempt_at=now, worker="central-1"
        )
    assert recorded is False


def test_the_lease_must_outlast_a_post() -> None:
    one = {"name": "guards", "url": "http://127.0.0.1:1/", "secret": SECRET, "timeout": 30}
    with pytest.raises(ValueError, match="lease_s"):
        WebhookSettings.model_validate({"recipients": [one], "lease_s": 30})


async def _true_when(value: bool) -> bool:
    return value
