"""Sending the webhook outbox: one worker per recipient, in id order, retried with backoff until delivered.

2xx is delivered. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and jitter
(`backoff_initial_s` doubling up to `backoff_max_s`); any other status (other 4xx, a redirect) is a permanent
failure: the row is kept, marked failed, logged, listed by the API, and the recipient's next row goes out. A delivery
whose result could not be recorded (a crash between the POST and the commit) is sent again with the same
X-Shaobing-Delivery id, which is why recipients de-duplicate by it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from contextlib import AsyncExitStack, suppress
from datetime import timedelta

import httpx
from pydantic import AnyHttpUrl, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from central.rules_settings import RECIPIENT_NAME
from central.webhooks.outbox import Delivery, mark_delivered, mark_failed, mark_retry, next_for
from central.webhooks.signing import signature_headers
from shaobing.clock import Clock
from shaobing.config import Closed

RETRIED_STATUSES = frozenset({408, 429})


class WebhookRecipient(Closed):
    name: str = Field(pattern=RECIPIENT_NAME)
    url: AnyHttpUrl
    secret: str = Field(min_length=16, max_length=512)
    timeout: float = Field(default=10.0, gt=0, le=120)


class WebhookSettings(Closed):
    recipients: list[WebhookRecipient] = Field(default_factory=list)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=86_400)

    @field_validator("recipients")
    @classmethod
    def _unique(cls, recipients: list[WebhookRecipient]) -> list[WebhookRecipient]:
        names = [recipient.name for recipient in recipients]
        if len(set(names)) != len(names):
            raise ValueError("two webhook recipients have the same name")
        return recipients

    def names(self) -> set[str]:
        return {recipient.name for recipient in self.recipients}


def backoff_delay(attempts: int, *, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds before retry number `attempts` (1 = after the first failure): doubling, ±25 % jitter, in
    [initial_s, max_s]. Jitter keeps many rows failing at once from retrying in lockstep."""
    base = min(max_s, initial_s * 2.0 ** min(max(attempts - 1, 0), 32))
    return min(max_s, max(initial_s, base * rng.uniform(0.75, 1.25)))


class WebhookSender:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: WebhookSettings,
        *,
        clock: Clock,
        logger: logging.Logger,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._logger = logger
        self._client = client
        self._rng = rng or random.Random()
        self._wakers = {recipient.name: asyncio.Event() for recipient in settings.recipients}

    def wake(self) -> None:
        """Look at the outbox now (a row was just committed). Safe to call from any task of the loop."""
        for waker in self._wakers.values():
            waker.set()

    async def run(self) -> None:
        """Send until cancelled."""
        async with AsyncExitStack() as stack:
            client = self._client
            if client is None:
                client = await stack.enter_async_context(httpx.AsyncClient())
            async with asyncio.TaskGroup() as group:
                for recipient in self._settings.recipients:
                    group.create_task(self._worker(client, recipient), name=f"webhook:{recipient.name}")

    async def _worker(self, client: httpx.AsyncClient, recipient: WebhookRecipient) -> None:
        waker = self._wakers[recipient.name]
        while True:
            waker.clear()
            try:
                wait_s = await self.send_due(client, recipient)
            except asyncio.CancelledError:
                raise
            except Exception:
                self._logger.exception("webhook worker for %s failed; retrying", recipient.name)
                wait_s = self._settings.backoff_initial_s
            with suppress(TimeoutError):
                await asyncio.wait_for(waker.wait(), timeout=wait_s)

    async def send_due(self, client: httpx.AsyncClient, recipient: WebhookRecipient) -> float | None:
        """Send the recipient's due rows in order; return seconds until its next row is due (None: nothing left)."""
        while True:
            async with self._engine.connect() as connection:
                delivery = await next_for(connection, recipient.name)
            if delivery is None:
                return None
            wait_s = (delivery.next_attempt_at - self._clock.now()).total_seconds()
            if wait_s > 0:
                return wait_s
            if not await self._attempt(client, recipient, delivery):
                continue  # failed for good: the next row may go
            # Delivered or rescheduled: loop to the next row, or to the wait for this one.

    async def _attempt(self, client: httpx.AsyncClient, recipient: WebhookRecipient, delivery: Delivery) -> bool:
        """One POST; records the result. Returns True unless the row failed for good."""
        body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signature_headers(
            recipient.secret,
            event=delivery.event,
            delivery=delivery.id,
            timestamp=int(self._clock.now().timestamp()),
            body=body,
        )
        status: int | None = None
        try:
            response = await client.post(str(recipient.url), content=body, headers=headers, timeout=recipient.timeout)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await self._retry(delivery, recipient, error=error, status=None)
            return True
        now = self._clock.now()
        if 200 <= status < 300:
            async with self._engine.begin() as connection:
                await mark_delivered(connection, delivery.id, status=status, now=now)
            self._logger.info("webhook %d %s delivered to %s (%d)", delivery.id, delivery.event, recipient.name, status)
            return True
        reason = f"HTTP {status}: {response.text[:200]!r}"
        if status in RETRIED_STATUSES or status >= 500:
            await self._retry(delivery, recipient, error=reason, status=status)
            return True
        async with self._engine.begin() as connection:
            await mark_failed(connection, delivery.id, error=reason, status=status, now=now)
        self._logger.error(
            "webhook %d %s refused for good by %s: %s (kept as failed)",
            delivery.id,
            delivery.event,
            recipient.name,
            reason,
        )
        return False

    async def _retry(self, delivery: Delivery, recipient: WebhookRecipient, *, error: str, status: int | None) -> None:
        attempts = delivery.attempts + 1
        delay = backoff_delay(
            attempts, initial_s=self._settings.backoff_initial_s, max_s=self._settings.backoff_max_s, rng=self._rng
        )
        next_at = self._clock.now() + timedelta(seconds=delay)
        async with self._engine.begin() as connection:
            await mark_retry(connection, delivery.id, error=error, status=status, next_attempt_at=next_at)
        self._logger.warning(
            "webhook %d %s to %s failed (attempt %d: %s); retry in %.1f s",
            delivery.id,
            delivery.event,
            recipient.name,
            attempts,
            error,
            delay,
        )
