"""The MQTT 5 link shared by edge and central: paho-mqtt 2.x under asyncio.

paho runs its network loop in its own thread (`loop_start`); every callback it makes is put on one queue and handed to
the event loop in batches (one `call_soon_threadsafe` per batch, not per message), so a burst of PUBACKs costs one
wake-up. A publish is a future resolved by its PUBACK; many may be awaited at once, up to the in-flight window.

Delivery rules the edge and central rely on:
- `publish` returns only once the broker acknowledged the message (QoS 1) and raises `PublishFailed` when the
  connection drops first or the broker refuses it (reason code >= 0x80). A failed message is also dropped from paho's
  own resend queue, so the caller alone decides whether to send it again (the edge outbox re-sends it).
- with `manual_ack=True` an incoming QoS 1 message is PUBACKed only when the caller calls `ack` (after its commit);
  an `ack` for a message from an earlier connection is ignored (its packet id may already name another message), and
  the broker redelivers that message on the persistent session instead.
- the link reconnects forever, with exponential backoff and full jitter between `reconnect_min` and
  `reconnect_max`; after every (re)connect it subscribes again (all topics in one SUBSCRIBE) and runs `on_connect`.
- `wait_subscribed` returns once the broker granted every subscription of the current connection (its SUBACK), and
  raises `SubscriptionRefused` when it refused one; a refusal is also logged as an error and kept in
  `refused_subscriptions` until the next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import Field

from shaobing.config import Closed

DEFAULT_PORT = 1883
# PUBACK reason code 0x10: accepted, but no subscription matched (so nobody, not even an offline session, gets it).
NO_MATCHING_SUBSCRIBERS = 0x10


class MqttSettings(Closed):
    url: str = Field(pattern=r"^(mqtt|tcp)://[^/:]+(:\d+)?/?$")
    username: str | None = None
    password: str | None = None
    client_id: str = Field(min_length=1, max_length=128)
    keepalive: int = Field(default=30, ge=5, le=3600)
    clean_start: bool = True
    session_expiry: int = Field(default=0, ge=0)
    max_inflight: int = Field(default=100, ge=1, le=65535)
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)

    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT


@dataclass(frozen=True)
class WillMessage:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


class PublishFailed(Exception):
    """The message was not acknowledged: the connection was lost first, the link closed, or the broker refused it."""


class SubscriptionRefused(Exception):
    """The broker refused one or more of the link's subscriptions (e.g. not authorized): those messages never come."""


class PublishRefused(PublishFailed):
    """The broker answered with a failure reason code (>= 0x80), e.g. not authorized: sending it again will not help
    until something changes."""


# -- what the network thread hands the event loop ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Connected:
    session_present: bool
    subscribe_mid: int | None  # the SUBSCRIBE sent for this connection; None when there is nothing to subscribe


@dataclass(frozen=True, slots=True)
class _Subscribed:
    mid: int
    refused: tuple[tuple[str, str], ...]  # (topic filter, reason) for each filter the broker did not grant


@dataclass(frozen=True, slots=True)
class _Disconnected:
    reason: str
    dropped_mids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Acked:
    mid: int
    reason: int
    reason_name: str


_Event = _Connected | _Disconnected | _Acked | _Subscribed | IncomingMessage


class _Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(min, min(max, min * 2**n))."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum)
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.minimum * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return random.uniform(self.minimum, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class _Client(paho.Client):
    """paho's client with its reconnect pause replaced by ours (jittered, and cut short when the link closes)."""

    def __init__(self, client_id: str, backoff: _Backoff, stopping: threading.Event) -> None:
        super().__init__(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
        self.backoff = backoff
        self.stopping = stopping

    def _reconnect_wait(self) -> None:
        self.stopping.wait(self.backoff.next_delay())


class MqttLink:
    """One MQTT 5 connection, kept up until the link is closed. Use as `async with MqttLink(...) as link:`."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        log: logging.Logger,
        will: WillMessage | None = None,
        subscriptions: Sequence[tuple[str, int]] = (),
        manual_ack: bool = False,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._log = log
        self._will = will
        self._subscriptions = list(subscriptions)
        self._manual_ack = manual_ack
        self._on_connect = on_connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: _Client | None = None
        self._stopping = threading.Event()
        self._events: deque[_Event] = deque()
        self._drain_scheduled = False
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._unacked: dict[int, IncomingMessage] = {}
        self._incoming: asyncio.Queue[IncomingMessage | None] = asyncio.Queue()
        self._connected = False
        self._connected_event = asyncio.Event()
        self._subscribe_mid: int | None = None
        self._subscriptions_settled = asyncio.Event()  # the current connection's SUBACK arrived (or none was due)
        self._refused_subscriptions: list[tuple[str, str]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._refused_logged = False
        self.connects = 0
        # Publishes the broker takes unacknowledged at once: its Receive Maximum, capped by our own max_inflight.
        # Callers that keep a window (the uplink) stay under it; paho cannot lower its own limit once connected.
        self.send_quota = settings.max_inflight

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def subscribed(self) -> bool:
        """Connected, and the broker granted every subscription of this connection."""
        return self._connected and self._subscriptions_settled.is_set() and not self._refused_subscriptions

    @property
    def refused_subscriptions(self) -> list[tuple[str, str]]:
        """(topic filter, reason) of each subscription the broker refused on the current connection."""
        return list(self._refused_subscriptions)

    async def __aenter__(self) -> MqttLink:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        if self._client is not None:
            return
        self._loop = asyncio.get_running_loop()
        settings = self.settings
        client = _Client(settings.client_id, _Backoff(settings.reconnect_min, settings.reconnect_max), self._stopping)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if self._will is not None:
            client.will_set(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
        client.max_inflight_messages_set(settings.max_inflight)
        client.max_queued_messages_set(0)
        client.manual_ack_set(self._manual_ack)
        client.on_connect = self._paho_connect
        client.on_disconnect = self._paho_disconnect
        client.on_publish = self._paho_publish
        client.on_message = self._paho_message
        client.on_subscribe = self._paho_subscribe
        client.on_connect_fail = self._paho_connect_fail
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if settings.session_expiry > 0:
            properties.SessionExpiryInterval = settings.session_expiry
        properties.ReceiveMaximum = settings.max_inflight
        host, port = settings.host_port()
        client.connect_async(
            host, port, settings.keepalive, clean_start=settings.clean_start, properties=properties
        )
        self._client = client
        client.loop_start()

    async def close(self) -> None:
        """Disconnect cleanly (the broker discards the will), stop the network thread, fail what is unacknowledged."""
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping.set()
        client.disconnect()
        await asyncio.to_thread(client.loop_stop)
        client._reset_sockets()  # paho leaves its wake-up socket pair open after loop_stop
        self._drain_events()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_pending(list(self._pending), "link closed")
        self._set_connected(False)
        self._incoming.put_nowait(None)

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (the agreed API)
        if self._connected:
            return
        async with asyncio.timeout(timeout):
            await self._connected_event.wait()

    async def wait_subscribed(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (like wait_connected)
        """Wait until connected and every subscription is granted (SUBACK); `SubscriptionRefused` if one was not."""
        async with asyncio.timeout(timeout):
            while True:
                await self._connected_event.wait()
                await self._subscriptions_settled.wait()
                if self._connected and self._subscriptions_settled.is_set():
                    break  # else: the connection dropped in between; the next one subscribes again
        if self._refused_subscriptions:
            refused = ", ".join(f"{topic!r} ({reason})" for topic, reason in self._refused_subscriptions)
            raise SubscriptionRefused(f"mqtt {self.settings.url}: the broker refused the subscriptions {refused}")

    # -- publishing ---------------------------------------------------------------------------------------------

    def start_publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> asyncio.Future[int]:
        """Hand a message to the link; the future gives the PUBACK's reason code (0 at once for QoS 0).

        The reason code is a success (< 0x80): 0 or `NO_MATCHING_SUBSCRIBERS`, which says that the broker had no
        subscription (not even an offline session's) to give the message to. A failure raises `PublishRefused`.
        Published while disconnected, a message waits in paho and goes out after the reconnect.
        """
        loop = self._loop
        client = self._client
        if loop is None or client is None:
            raise PublishFailed("the link is not open")
        future: asyncio.Future[int] = loop.create_future()
        info = client.publish(topic, payload, qos, retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            future.set_exception(PublishFailed(f"not queued: {paho.error_string(info.rc)}"))
        elif qos == 0:
            future.set_result(0)
        else:
            self._pending[info.mid] = future
        return future

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        await self.start_publish(topic, payload, qos=qos, retain=retain)

    # -- receiving ----------------------------------------------------------------------------------------------

    async def messages(self) -> AsyncIterator[IncomingMessage]:
        """Incoming messages in the order they arrived; ends when the link is closed."""
        while True:
            message = await self._incoming.get()
            if message is None:
                self._incoming.put_nowait(None)  # let any other reader finish too
                return
            yield message

    def ack(self, message: IncomingMessage) -> None:
        """PUBACK a message received with `manual_ack=True` (no-op for QoS 0 or a message of an old connection)."""
        client = self._client
        if message.qos == 0 or client is None:
            return
        if self._unacked.get(message.mid) is not message:
            return
        del self._unacked[message.mid]
        client.ack(message.mid, message.qos)

    # -- paho callbacks: network thread -------------------------------------------------------------------------

    def _hop(self, event: _Event) -> None:
        self._events.append(event)
        if not self._drain_scheduled:
            self._drain_scheduled = True
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the event loop is already closed
                    loop.call_soon_threadsafe(self._drain_events)

    def _paho_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            # Logged once per outage: a wrong password is retried forever and must not flood the log.
            level = logging.DEBUG if self._refused_logged else logging.ERROR
            self._refused_logged = True
            hint = " (check the user name and password)" if reason.value in (0x86, 0x87) else ""
            self._log.log(level, "mqtt %s: the broker refused the connection as %r: %s%s", self.settings.url,
                          self.settings.username, reason.getName(), hint)
            return
        self._refused_logged = False
        if isinstance(client, _Client):
            client.backoff.reset()
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        quota = self.settings.max_inflight
        if isinstance(receive_maximum, int) and 0 < receive_maximum < quota:
            quota = receive_maximum
        self.send_quota = quota
        subscribe_mid: int | None = None
        if self._subscriptions:
            try:
                result, mid = client.subscribe(list(self._subscriptions))
                problem = None if result == MQTTErrorCode.MQTT_ERR_SUCCESS else paho.error_string(result)
            except ValueError as exc:  # paho checks the filters itself: a malformed one never leaves the box
                mid, problem = None, str(exc)
            if problem is None and mid is not None:
                subscribe_mid = mid
            else:
                # No SUBACK will come: wait_subscribed times out, and the next connection tries again.
                subscribe_mid = -1
                self._log.error("mqtt %s: could not send the subscriptions %r: %s", self.settings.url,
                                self._subscriptions, problem)
        self._hop(_Connected(flags.session_present, subscribe_mid))

    def _paho_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # paho would re-send these after the reconnect on its own; the caller is told they failed and decides.
        dropped = tuple(message.mid for message in client.drop_out_messages())
        self._hop(_Disconnected(reason.getName(), dropped))

    def _paho_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._log.debug("mqtt %s: cannot connect", self.settings.url)

    def _paho_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self._hop(_Acked(mid, reason.value, reason.getName() if reason.is_failure else ""))

    def _paho_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._hop(IncomingMessage(message.topic, bytes(message.payload), message.qos, bool(message.retain),
                                  message.mid))

    def _paho_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Properties
    ) -> None:
        refused = tuple((topic, reason.getName()) for (topic, _), reason in zip(self._subscriptions, reasons,
                                                                                  strict=False)
                        if reason.is_failure)
        self._hop(_Subscribed(mid, refused))

    # -- event loop side ----------------------------------------------------------------------------------------

    def _drain_events(self) -> None:
        self._drain_scheduled = False  # before draining: an event appended from now on schedules a new drain
        events = self._events
        pending = self._pending
        while events:
            event = events.popleft()
            if isinstance(event, _Acked):
                future = pending.pop(event.mid, None)
                if future is None or future.done():
                    continue
                if event.reason >= 0x80:
                    future.set_exception(PublishRefused(f"refused by the broker: {event.reason_name}"))
                else:
                    future.set_result(event.reason)
            elif isinstance(event, IncomingMessage):
                if self._manual_ack and event.qos > 0:
                    self._unacked[event.mid] = event
                self._incoming.put_nowait(event)
            elif isinstance(event, _Connected):
                self._on_connected(event)
            elif isinstance(event, _Subscribed):
                self._on_subscribed(event)
            else:
                self._on_disconnected(event)

    def _set_connected(self, connected: bool) -> None:
        self._connected = connected
        if connected:
            self._connected_event.set()
        else:
            self._connected_event.clear()

    def _on_connected(self, event: _Connected) -> None:
        self.connects += 1
        self._subscribe_mid = event.subscribe_mid
        self._refused_subscriptions = []
        if event.subscribe_mid is None:
            self._subscriptions_settled.set()
        else:
            self._subscriptions_settled.clear()
        self._set_connected(True)
        self._log.info("mqtt %s: connected as %r (session present: %s)", self.settings.url,
                       self.settings.client_id, event.session_present)
        if self._on_connect is not None:
            task = asyncio.get_running_loop().create_task(self._run_on_connect(self._on_connect),
                                                           name=f"mqtt-on-connect-{self.settings.client_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        try:
            await callback()
        except PublishFailed as exc:
            self._log.warning("mqtt %s: on_connect could not publish: %s", self.settings.url, exc)
        except Exception:
            self._log.exception("mqtt %s: on_connect failed", self.settings.url)

    def _on_subscribed(self, event: _Subscribed) -> None:
        if event.mid != self._subscribe_mid:
            return  # a SUBACK of an earlier connection
        self._refused_subscriptions = list(event.refused)
        self._subscriptions_settled.set()
        for topic, reason in event.refused:
            # Loud: without this subscription the link silently never hears what it was meant to.
            self._log.error("mqtt %s: the broker refused the subscription to %r for %r: %s", self.settings.url,
                            topic, self.settings.username, reason)

    def _on_disconnected(self, event: _Disconnected) -> None:
        was_connected = self._connected
        self._subscriptions_settled.clear()
        self._subscribe_mid = None
        self._set_connected(False)
        self._unacked.clear()
        self._fail_pending(event.dropped_mids, f"connection lost ({event.reason})")
        if was_connected and not self._stopping.is_set():
            self._log.warning("mqtt %s: disconnected (%s); %d publishes failed, reconnecting", self.settings.url,
                              event.reason, len(event.dropped_mids))

    def _fail_pending(self, mids: Sequence[int], reason: str) -> None:
        for mid in mids:
            future = self._pending.pop(mid, None)
            if future is not None and not future.done():
                future.set_exception(PublishFailed(reason))
