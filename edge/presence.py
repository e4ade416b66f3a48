"""The site's retained state topic: online on every connect, offline by the MQTT will or before a clean shutdown.

Payload `{"online": bool, "since": ts, "version": str, "last_seq": int}`. The will is fixed when the link is made, so
its `since` and `last_seq` are those of the agent's start; central takes the time it received the will as the moment
the site went offline.
"""

from __future__ import annotations

import asyncio
import json
import logging

from edge.outbox import Outbox
from shaobing import topics
from shaobing.clock import Clock, format_ts
from shaobing.mqtt import MqttLink, PublishFailed, WillMessage


class Presence:
    def __init__(self, site: str, *, version: str, outbox: Outbox, clock: Clock, log: logging.Logger) -> None:
        self.site = site
        self.version = version
        self._outbox = outbox
        self._clock = clock
        self._log = log
        self.topic = topics.state(site)

    def payload(self, online: bool) -> bytes:
        return json.dumps(
            {"online": online, "since": format_ts(self._clock.now()), "version": self.version,
             "last_seq": self._outbox.last_seq},
            separators=(",", ":"),
        ).encode()

    def will(self) -> WillMessage:
        return WillMessage(self.topic, self.payload(online=False), qos=1, retain=True)

    async def announce_online(self, link: MqttLink) -> None:
        await link.publish(self.topic, self.payload(online=True), qos=1, retain=True)
        self._log.info("site %s: online state published", self.site)

    async def announce_offline(self, link: MqttLink, within: float = 5.0) -> bool:
        """Publish the offline state before a clean shutdown; False when it could not be delivered in time."""
        if not link.connected:
            return False
        try:
            async with asyncio.timeout(within):
                await link.publish(self.topic, self.payload(online=False), qos=1, retain=True)
        except (PublishFailed, TimeoutError) as exc:
            self._log.warning("site %s: offline state not delivered: %s", self.site, exc or "timed out")
            return False
        return True
