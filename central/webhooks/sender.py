"""Sending the webhook outbox: one worker per recipient, in id order, retried with backoff until delivered.

2xx is delivered. Every other outcome — a connection error, a timeout, any 4xx (a 401/403/404 from a misconfigured
gateway too), a 5xx, a redirect — is retried with exponential backoff and jitter (`backoff_initial_s` doubling up to
`backoff_max_s`), its attempts and last error kept on the row and listed by the API: a police notification is never
dropped because a gateway was misconfigured for a while. The one exception is 410 Gone, the recipient saying the
endpoint is no more: the row is kept, marked failed, and the recipient's next row goes out. A recipient that keeps
failing is logged at ERROR once when it starts failing (then at WARNING per attempt) and at INFO when it is back.

Before each POST the row is claimed with a lease (`lease_s`) so that of several central processes only one sends it;
a delivery whose result could not be recorded (a crash between the POST and the commit, a lease that expired) is sent
again with the same X-Shaobing-Delivery id, which is why recipients de-duplicate by it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import uuid
from contextlib import AsyncExitStack, suppress
from datetime import timedelta

import httpx
from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from central.rules_settings import RECIPIENT_NAME
from central.webhooks.outbox import Delivery, claim, mark_delivered, mark_failed, mark_retry, next_for
from central.webhooks.signing import signature_headers
from shaobing.clock import Clock
from shaobing.config import Closed

GONE = 410  # the one answer that is final: the endpoint no longer exists


class WebhookRecipient(Closed):
    name: str = Field(pattern=RECIPIENT_NAME)
    url: AnyHttpUrl
    secret: str = Field(min_length=16, max_length=512)
    timeout: float = Field(default=10.0, gt=0, le=120)


class WebhookSettings(Closed):
    recipients: list[WebhookRecipient] = Field(default_factory=list)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=86_400)
    # How long a process holds a row while it POSTs it; then another process may take the row over.
    lease_s: float = Field(default=150.0, gt=0, le=3600)

    @field_validator("recipients")
    @classmethod
    def _unique(cls, recipients: list[WebhookRecipient]) -> list[WebhookRecipient]:
        names = [recipient.name for recipient in recipients]
        if len(set(names)) != len(names):
            raise ValueError("two webhook recipients have the same name")
        return recipients

    @model_validator(mode="after")
    def _lease_outlasts_a_post(self) -> WebhookSettings:
        for recipient in self.recipients:
            if recipient.timeout >= self.lease_s:
                raise ValueError(
                    f"lease_s ({self.lease_s}) must be longer than the timeout of recipient {recipient.name!r} "
                    f"({recipient.timeout}): another process would send the row again while it is being posted"
                )
        return self

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
        worker: str | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._logger = logger
        self._client = client
        self._rng = rng or random.Random()
        self._wakers = {recipient.name: asyncio.Event() for recipient in settings.recipients}
        # Who holds a lease: unique per process and per sender, readable by an operator.
        self.worker = worker or f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._failing: set[str] = set()  # recipients whose last attempt failed (logged at ERROR once)

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
        lease = timedelta(seconds=self._settings.lease_s)
        while True:
            async with self._engine.connect() as connection:
                head = await next_for(connection, recipient.name)
            if head is None:
                return None
            now = self._clock.now()
            wait_s = (head.next_attempt_at - now).total_seconds()
            if wait_s > 0:
                return wait_s
            held_elsewhere = head.claimed_by not in (None, self.worker)
            if held_elsewhere and head.claimed_until is not None and head.claimed_until > now:
                # Another process is sending it; look again when its lease ends (or sooner).
                return min((head.claimed_until - now).total_seconds(), self._settings.backoff_max_s)
            async with self._engine.begin() as connection:
                delivery = await claim(connection, head.id, worker=self.worker, now=now, lease=lease)
            if delivery is None:
                continue  # another process won it, or it was settled meanwhile: look at the head again
            await self._attempt(client, recipient, delivery)
            # Delivered, rescheduled or failed for good: loop to the next row, or to the wait for this one.

    async def _attempt(self, client: httpx.AsyncClient, recipient: WebhookRecipient, delivery: Delivery) -> None:
        """One POST of a row this process holds the lease of; records the result."""
        body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signature_headers(
            recipient.secret,
            event=delivery.event,
            delivery=delivery.id,
            timestamp=int(self._clock.now().timestamp()),
            body=body,
        )
        try:
            response = await client.post(str(recipient.url), content=body, headers=headers, timeout=recipient.timeout)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await self._retry(delivery, recipient, error=error, status=None)
            return
        status = response.status_code
        now = self._clock.now()
        if 200 <= status < 300:
            async with self._engine.begin() as connection:
                await mark_delivered(connection, delivery.id, status=status, now=now)
            self._logger.info("webhook %d %s delivered to %s (%d)", delivery.id, delivery.event, recipient.name, status)
            if recipient.name in self._failing:
                self._failing.discard(recipient.name)
                self._logger.info("webhook recipient %s accepts deliveries again", recipient.name)
            return
        reason = f"HTTP {status}: {response.text[:200]!r}"
        if status != GONE:
            await self._retry(delivery, recipient, error=reason, status=status)
            return
        async with self._engine.begin() as connection:
            recorded = await mark_failed(
                connection, delivery.id, error=reason, status=status, now=now, worker=self.worker
            )
        if recorded:
            self._logger.error(
                "webhook %d %s refused for good by %s: %s (the endpoint is gone; kept as failed)",
                delivery.id,
                delivery.event,
                recipient.name,
                reason,
            )

    async def _retry(self, delivery: Delivery, recipient: WebhookRecipient, *, error: str, status: int | None) -> None:
        attempts = delivery.attempts + 1
        delay = backoff_delay(
            attempts, initial_s=self._settings.backoff_initial_s, max_s=self._settings.backoff_max_s, rng=self._rng
        )
        next_at = self._clock.now() + timedelta(seconds=delay)
        async with self._engine.begin() as connection:
            recorded = await mark_retry(
                connection, delivery.id, error=error, status=status, next_attempt_at=next_at, worker=self.worker
            )
        if not recorded:
            self._logger.warning("webhook %d to %s: lease lost while posting; another process has it", delivery.id,
                                 recipient.name)
            return
        if recipient.name not in self._failing:
            self._failing.add(recipient.name)
            self._logger.error(
                "webhook recipient %s is failing: delivery %d %s (attempt %d: %s); retrying with backoff up to %.0f s "
                "until it accepts (see GET /api/webhooks)",
                recipient.name,
                delivery.id,
                delivery.event,
                attempts,
                error,
                self._settings.backoff_max_s,
            )
            return
        self._logger.warning(
            "webhook %d %s to %s failed (attempt %d: %s); retry in %.1f s",
            delivery.id,
            delivery.event,
            recipient.name,
            attempts,
            error,
            delay,
        )
