"""`shaobing central`: ingest, rules, escalation timer, supervision, webhook sender and the HTTP API, as named tasks
of one task group, until SIGTERM / SIGINT."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.api.app import create_app
from central.config import CentralConfig
from central.console.live import LiveFeed
from central.dispatch.escalation import EscalationTimer
from central.ingest import AfterCommit, Ingest
from central.ingest_batch import OnStored
from central.model import StoredReading
from central.people.hits import STAFF_HIDDEN_CLASSES
from central.people.hook import PeopleHook
from central.people.key_persons import KeyPersonWatch
from central.rules import AlarmRules
from central.store.db import open_database
from central.supervision import Supervisor
from central.trackers.batch import TrackerHook
from central.trackers.policy import TrackerPolicy, attach_policy
from central.webhooks.sender import WebhookSender
from shaobing import __version__, topics
from shaobing.clock import SystemClock
from shaobing.mqtt import MqttSettings
from shaobing.net import split_host_port


class CommandPublisher(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...


class MqttCommandSender:
    """Publishes central's commands on shaobing/v1/{site}/cmd (QoS 1) through the ingest's connection: the broker
    names each connection after its user (`use_username_as_clientid`), so central has one connection, not two.

    Raises TimeoutError when the broker has not taken the command (PUBACK) within `timeout_s`, and
    `shaobing.mqtt.PublishFailed` when the connection dropped first or the broker refused it.
    """

    def __init__(self, publisher: CommandPublisher, *, timeout_s: float = 5.0) -> None:
        self._publisher = publisher
        self.timeout_s = timeout_s

    async def send(self, site: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        async with asyncio.timeout(self.timeout_s):
            await self._publisher.publish(topics.cmd(site), body)


def _mqtt_settings(config: CentralConfig, client_id: str) -> MqttSettings:
    return MqttSettings(
        url=config.mqtt.url,
        username=config.mqtt.username,
        password=config.mqtt.secret("central config"),
        client_id=client_id,
        keepalive=config.mqtt.keepalive,
        reconnect_min=config.mqtt.reconnect_min,
        reconnect_max=config.mqtt.reconnect_max,
    )


def stored_chain(hooks: Sequence[OnStored]) -> OnStored:
    """The ingest's `on_stored`: each hook in turn, in the batch's one transaction."""

    async def on_stored(connection: AsyncConnection, stored: list[StoredReading]) -> None:
        for hook in hooks:
            await hook(connection, stored)

    return on_stored


def committed_chain(hooks: Sequence[Callable[[], None]]) -> Callable[[], None]:
    def committed() -> None:
        for hook in hooks:
            hook()

    return committed


def after_commit_chain(hooks: Sequence[AfterCommit]) -> AfterCommit:
    async def after_commit(stored: list[StoredReading]) -> None:
        for hook in hooks:
            await hook(stored)

    return after_commit


class Central:
    """Every part of central, wired together; `run()` serves until cancelled."""

    def __init__(self, config: CentralConfig, engine: AsyncEngine, *, log: logging.Logger) -> None:
        self.config = config
        self.engine = engine
        self.log = log
        clock = SystemClock()
        self.sender = WebhookSender(engine, config.webhooks, clock=clock, logger=log.getChild("webhooks"))
        # Open consoles hear of a committed dispatch change at once: every commit that wakes the sender wakes it too.
        self.live = LiveFeed(engine, hidden_classes=STAFF_HIDDEN_CLASSES, logger=log.getChild("live"))
        wake = committed_chain([self.sender.wake, self.live.wake])
        # The trackers' policy travels with the engine: the API's tracker actions find it there.
        policy = TrackerPolicy.of(config.rules, config.trackers, public_url=config.http.base_url)
        attach_policy(engine, policy)
        self.trackers = TrackerHook(policy, logger=log.getChild("trackers"), wake_sender=wake)
        self.rules = AlarmRules(
            config.rules,
            logger=log.getChild("rules"),
            wake_sender=wake,
            device_armed=self.trackers.armed_of,
            on_dispatch=self.trackers.alarm_dispatched,
        )
        self.people = PeopleHook(config.people, police=config.rules.recipients.police,
                                 security=config.rules.recipients.security, logger=log.getChild("people"),
                                 wake_sender=wake)
        self.key_persons = KeyPersonWatch(engine, config.people, clock=clock, logger=log.getChild("people"))
        # Trackers first: a tracker seen for the first time gets its row (and arming) before its alarms are judged.
        self.ingest = Ingest(
            engine,
            _mqtt_settings(config, config.ingest.client_id),
            config.ingest,
            log=log.getChild("ingest"),
            on_stored=stored_chain([self.trackers.on_stored, self.rules.on_stored, self.people.on_stored]),
            after_commit=after_commit_chain([self.trackers.after_commit, self.rules.after_commit,
                                             self.people.after_commit]),
        )
        self.escalation = EscalationTimer(
            engine, police=config.rules.recipients.police, clock=clock, logger=log.getChild("escalation"),
            on_commit=wake,
        )
        self.supervisor = Supervisor(engine, config.supervision, log=log.getChild("supervision"))
        self.app = create_app(
            engine,
            settings=config.rules,
            tokens={t.token: (t.name, t.role) for t in config.api.tokens},
            command_sender=MqttCommandSender(self.ingest, timeout_s=config.api.command_timeout_s),
            clock=clock,
            logger=log.getChild("api"),
            on_commit=wake,
            max_body_bytes=config.api.max_body_bytes,
            public_url=config.http.base_url,
            owners=config.owners,
            people=config.people,
            console=config.console,
            live=self.live,
        )
        host, port = split_host_port(config.http.listen)
        self.http = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                                  lifespan="off", access_log=False))

    async def _serve_http(self) -> None:
        try:
            await self.http.serve()
        finally:
            await self.live.close()
            # Cancelled (rather than told to exit), uvicorn skips its shutdown and leaves its listening socket open.
            for server in getattr(self.http, "servers", []):
                server.close()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.ingest.run(), name="ingest")
            group.create_task(self.sender.run(), name="webhooks")
            group.create_task(self.escalation.run(), name="escalation")
            group.create_task(self.supervisor.run(), name="supervision")
            group.create_task(self.key_persons.run(), name="key-persons")
            group.create_task(self._serve_http(), name="http")
            self.log.info("central %s serving http://%s/api (OpenAPI at /openapi.json), broker %s, database %s",
                          __version__, self.config.http.listen, self.config.mqtt.url,
                          self.config.database.url.split("@")[-1])


async def run_central(config: CentralConfig, *, on_stop: Callable[[], None] | None = None) -> None:
    logging.basicConfig(level=config.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("shaobing.central")
    engine = await open_database(config.database.url)
    central = Central(config, engine, log=log)
    task = asyncio.create_task(central.run(), name="central")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        log.info("central stopping")
    finally:
        await engine.dispose()
        if on_stop is not None:
            on_stop()
