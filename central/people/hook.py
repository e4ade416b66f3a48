"""The ingest's people hook: every `id_read` compared with the watch-list, every `card_swipe` a sighting and, when
granted, a movement (a mine's headcount follows its pithead doors).

`PeopleHook.on_stored` runs inside the ingest's transaction, so a reading, its watch-list hit and the silent 110
dispatch commit together; `after_commit` wakes the webhook sender when a dispatch may have been written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from central.model import StoredReading
from central.people import mines, watchlist
from central.people.hits import ID_READ, record_hit, sighting_of
from central.people.masking import mask_id
from central.people.settings import PeopleSettings
from central.people.watchlist import WatchKey
from drivers.idcard import gb11643
from shaobing.envelope import Kind

MAX_ID_CHARS = 32


def id_number_of(reading: StoredReading) -> str | None:
    """The normalized ID number an `id_read` carries; None when it carries none worth a look-up."""
    raw = reading.envelope.data.get("id_number")
    if not isinstance(raw, str):
        return None
    number = gb11643.normalize(raw)
    return number if 0 < len(number) <= MAX_ID_CHARS else None


class PeopleHook:
    """The ingest's hooks for people; `hits` counts the watch-list hits of the latest batch (for logs and tests)."""

    def __init__(
        self, settings: PeopleSettings, *, police: list[str], logger: logging.Logger,
        security: list[str] | None = None, wake_sender: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._key = WatchKey(settings.watchlist_key) if settings.watchlist_key else None
        self._police = list(police)
        self._security = list(security or [])
        self._logger = logger
        self._wake_sender = wake_sender
        self._enqueued = False
        self.hits = 0

    async def on_stored(self, connection: AsyncConnection, stored: list[StoredReading]) -> None:
        now = stored[0].stored_at if stored else None
        if now is None:
            return
        self.hits = 0
        await self._watch(connection, [r for r in stored if r.envelope.kind is Kind.ID_READ], now)
        swipes = [r for r in stored if r.envelope.kind is Kind.CARD_SWIPE]
        if swipes:
            raised = await mines.apply_swipes(connection, swipes, settings=self._settings, security=self._security,
                                              logger=self._logger, now=now)
            self._enqueued = self._enqueued or raised

    async def _watch(self, connection: AsyncConnection, reads: list[StoredReading], now: datetime) -> None:
        if not reads or self._key is None:
            return
        numbers = {reading.id: number for reading in reads if (number := id_number_of(reading)) is not None}
        hashes = {reading_id: self._key.hash(number) for reading_id, number in numbers.items()}
        found = await watchlist.find(connection, list(hashes.values()))
        for reading in reads:
            entry = found.get(hashes.get(reading.id, b""))
            if entry is None:
                continue
            envelope = reading.envelope
            sighting = sighting_of(envelope.data, id_number=numbers[reading.id], source=ID_READ, site=envelope.site,
                                   reading_id=reading.id, seen_at=envelope.ts)
            hit_id, dispatch_id = await record_hit(connection, entry, sighting, police=self._police, at=now)
            self.hits += 1
            self._enqueued = True
            self._logger.warning("watch-list hit %d at %s (%s): dispatch %d to the police", hit_id, envelope.site,
                                 mask_id(numbers[reading.id]), dispatch_id)

    async def after_commit(self, stored: list[StoredReading]) -> None:
        if self._enqueued and self._wake_sender is not None:
            self._wake_sender()
        self._enqueued = False
