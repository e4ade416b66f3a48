"""The site's allow-list on disk (SQLite) and in memory: applied whole or not at all, kept across restarts.

The list in force is held as one `AllowList` object; `decide` only reads it, so a door never waits on I/O. A new
version is checked (signature, site, format, size, newer than the one in force), written in one transaction (the old
rows deleted, the new ones inserted, the version recorded; a crash or error before the commit leaves the old list
whole), and only then swapped in by one assignment. The file is written with `synchronous=FULL`, like the outbox: a
list reported applied survives a power cut. Checking, writing and loading run in a worker thread; a long command
payload is parsed, checked and written in a child process (`apply_payload`), then loaded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import sys
from asyncio.subprocess import PIPE
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from drivers.base import AccessDecision
from edge.access.applying import SCHEMA, ApplyResult, Offloaded, check_and_write, read_list, read_meta
from edge.access.listing import AllowList
from shaobing import topics
from shaobing.access_list import public_key_text
from shaobing.clock import Clock, SystemClock, format_ts

DEFAULT_MAX_ENTRIES = 1_000_000
NO_LIST = AccessDecision(False, "no_list")


class AccessStore:
    """One site's allow-list. Use as `async with AccessStore(...) as store:`; `decide` before `open` says no_list."""

    def __init__(
        self,
        path: Path,
        site: str,
        *,
        public_key: Ed25519PublicKey | None,
        log: logging.Logger,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Clock | None = None,
    ) -> None:
        if not topics.is_valid_site_id(site):
            raise ValueError(f"not a valid site id: {site!r}")
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self.path = path
        self.site = site
        self.max_entries = max_entries
        self._public_key = public_key
        self._log = log
        self._clock = clock or SystemClock()
        self._db: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()  # one apply at a time
        self._list: AllowList | None = None
        self._applied_at: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> AccessStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        self._db, self._list, self._applied_at = await asyncio.to_thread(self._open)
        if self._list is None:
            self._log.info("allow-list %s: none yet; every card is refused (no_list)", self.path)
        else:
            self._log.info("allow-list %s: version %d, %d cards, applied %s", self.path, self._list.version,
                           len(self._list.cards), self._applied_at)

    def _open(self) -> tuple[sqlite3.Connection, AllowList | None, str | None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for statement in SCHEMA:
                db.execute(statement)
            stored_site = read_meta(db).get("site")
            if stored_site is None:
                db.execute("INSERT INTO access_meta (key, value) VALUES ('site', ?)", (self.site,))
            elif stored_site != self.site:
                raise ValueError(f"{self.path} is the allow-list of site {stored_site!r}, not {self.site!r}")
            return db, *read_list(db, self.site)
        except BaseException:
            db.close()
            raise

    async def close(self) -> None:
        async with self._lock:
            db, self._db = self._db, None
            if db is not None:
                await asyncio.to_thread(db.close)

    def _require_db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the allow-list store is not open")
        return self._db

    # -- what drivers call --------------------------------------------------------------------------------------

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        allowed = self._list  # one read: a list swapped in meanwhile is used whole or not at all
        return NO_LIST if allowed is None else allowed.decide(card, door, at)

    # -- what the `access_list` command calls -------------------------------------------------------------------

    async def apply(self, args: Mapping[str, Any]) -> ApplyResult:
        """Check the list and put it in force, or refuse it and keep the one in force; never raises for a bad list."""
        async with self._lock:
            db = self._require_db()
            try:
                result = await asyncio.to_thread(self._apply, db, args)
            except (sqlite3.Error, OSError) as exc:
                result = self._failed(exc)
        self._report(result)
        return result

    def _apply(self, db: sqlite3.Connection, args: Mapping[str, Any]) -> ApplyResult:
        current = self._list
        applied_at = format_ts(self._clock.now())
        result, new = check_and_write(db, args, site=self.site, public_key=self._public_key,
                                      max_entries=self.max_entries, applied_at=applied_at,
                                      current=None if current is None else current.version)
        if new is not None:
            self._list, self._applied_at = new, applied_at  # the swap: decisions use the new list from here on
        return result

    async def apply_payload(self, payload: bytes, *, seen: Collection[str]) -> Offloaded:
        """Parse a whole command payload in a child process and, if it is an `access_list` whose cmd_id is not in
        `seen`, check and apply its list there; then load the list written. Raises `RuntimeError` if the child fails.
        """
        async with self._lock:
            db = self._require_db()
            header = {"path": str(self.path), "site": self.site, "max_entries": self.max_entries,
                      "public_key": None if self._public_key is None else public_key_text(self._public_key),
                      "seen": sorted(seen), "applied_at": format_ts(self._clock.now())}
            offloaded = await _run_child(json.dumps(header).encode() + b"\n" + payload)
            self._log.info("allow-list: a command of %d bytes parsed in a child process (cmd_id %r)", len(payload),
                           offloaded.cmd_id)
            if offloaded.result is not None and offloaded.result.ok:
                # Written by the child: load it (Python code, which lets the drivers run) and swap it in.
                self._list, self._applied_at = await asyncio.to_thread(read_list, db, self.site)
        if offloaded.result is not None:
            self._report(offloaded.result)
        return offloaded

    def _failed(self, exc: Exception) -> ApplyResult:
        self._log.exception("allow-list: writing failed; the list in force is unchanged")
        return ApplyResult(False, "failed", f"not applied: writing it failed ({exc}); the list in force is unchanged")

    def _report(self, result: ApplyResult) -> None:
        (self._log.info if result.ok else self._log.warning)("allow-list: %s", result.detail)

    # -- status -------------------------------------------------------------------------------------------------

    @property
    def version(self) -> int | None:
        allowed = self._list
        return None if allowed is None else allowed.version

    def status(self) -> dict[str, Any]:
        allowed = self._list
        if allowed is None:
            return {"version": None, "issued_at": None, "applied_at": None, "entries": 0, "cards": 0}
        return {"version": allowed.version, "issued_at": allowed.issued_at, "applied_at": self._applied_at,
                "entries": allowed.entries, "cards": len(allowed.cards)}


async def _run_child(given: bytes) -> Offloaded:
    child = await asyncio.create_subprocess_exec(sys.executable, "-m", "edge.access.child", stdin=PIPE, stdout=PIPE,
                                                 stderr=PIPE)
    try:
        out, err = await child.communicate(given)
    except BaseException:
        # Stopped meanwhile: a list half written is rolled back by SQLite, and the list in force stays.
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        raise RuntimeError(f"the allow-list's child process failed (exit {child.returncode}): "
                           f"{err.decode(errors='replace').strip()[-500:]}")
    answer = json.loads(out)
    result = answer["result"]
    return Offloaded(answer["cmd_id"], None if result is None else ApplyResult(**result))
