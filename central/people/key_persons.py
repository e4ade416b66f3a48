"""Key persons (explosives handlers, ...) not seen by any reader for `key_person_absent_s`: a periodic check opens a
`key_person_absent` ticket (one per person, zone = the person's id) at the site they were last seen at; their next
card swipe closes it (central.people.mines). A key person never seen is not judged: their absence has no start.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from central.people.mines import KEY_ABSENT
from central.people.settings import PeopleSettings
from central.store.schema import persons
from central.store.tickets import SOURCE_SUPERVISION, open_ticket
from shaobing.clock import Clock, format_ts


class KeyPersonWatch:
    def __init__(self, engine: AsyncEngine, settings: PeopleSettings, *, clock: Clock, logger: logging.Logger) -> None:
        self._engine = engine
        self._settings = settings
        self._clock = clock
        self._logger = logger

    async def check(self) -> list[int]:
        """Open the tickets due now; the ids of the persons newly found absent."""
        now: datetime = self._clock.now()
        cutoff = now - timedelta(seconds=self._settings.key_person_absent_s)
        opened: list[int] = []
        async with self._engine.begin() as connection:
            rows = (await connection.execute(
                select(persons.c.id, persons.c.last_seen_at, persons.c.last_seen_site)
                .where(persons.c.key_person.is_(True), persons.c.last_seen_at < cutoff,
                       persons.c.last_seen_site.is_not(None))
                .order_by(persons.c.id)
            )).all()
            for row in rows:
                ticket = await open_ticket(
                    connection, site=row.last_seen_site, trouble_class=KEY_ABSENT, zone=str(row.id),
                    source=SOURCE_SUPERVISION, now=now,
                    detail=f"key person {row.id} not seen by any reader since {format_ts(row.last_seen_at)}",
                )
                if ticket is not None:
                    opened.append(int(row.id))
        for person_id in opened:
            self._logger.warning("key person %d not seen for %.0f s: ticket opened", person_id,
                                 self._settings.key_person_absent_s)
        return opened

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a database hiccup must not end the check for good
                self._logger.exception("key person check failed; trying again in %.0f s", self._settings.check_every_s)
            await asyncio.sleep(self._settings.check_every_s)
