"""Putting a list in force on disk: check it, then write it in one transaction. No asyncio here, so the same code
runs in the agent's worker thread and, for a long list, in a child process (`apply_payload`): there the command's
JSON is parsed and the list's canonical JSON built, single steps of C code that would otherwise hold the agent's
interpreter, and its drivers with it, for seconds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.access.listing import AllowList, Grant, MalformedList, check_shape, group, parse_list
from shaobing.access_list import ALL_DOORS, COMMAND, AccessListRejected, load_public_key, verify

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS access_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS access_entries (
        card TEXT NOT NULL,
        person TEXT,
        doors TEXT NOT NULL,
        valid_from REAL,
        valid_to REAL
    )""",
)


@dataclass(frozen=True)
class ApplyResult:
    """What became of a list. `reason`: applied, stale, no_key, rejected (signature or site), malformed, failed."""

    ok: bool
    reason: str
    detail: str


@dataclass(frozen=True)
class Offloaded:
    """What the child process made of a command payload. `result` None: not carried out there (not an `access_list`
    command with a usable cmd_id, or a cmd_id already carried out); the agent handles it as any other command."""

    cmd_id: str | None
    result: ApplyResult | None


def check_and_write(
    db: sqlite3.Connection,
    args: Mapping[str, Any],
    *,
    site: str,
    public_key: Ed25519PublicKey | None,
    max_entries: int,
    current: int | None,
    applied_at: str,
) -> tuple[ApplyResult, AllowList | None]:
    """Refuse the list, or write it (replacing version `current`) and return it to be swapped in."""
    if public_key is None:
        return ApplyResult(False, "no_key", "refused: no public key is configured for allow-lists "
                                            "([access] public_key); every list is refused"), None
    try:
        version = check_shape(args, max_entries)  # before the signature: its check reads the whole list
        verify(args, public_key, site=site)
        if current is not None and version <= current:
            return ApplyResult(False, "stale", f"stale: version {version} is not newer than version {current} in "
                                               "force; not applied"), None
        new = parse_list(args, max_entries)
    except AccessListRejected as exc:
        return ApplyResult(False, "rejected", f"refused: {exc}"), None
    except MalformedList as exc:
        return ApplyResult(False, "malformed", f"refused: malformed list: {exc}"), None
    write_list(db, new, applied_at)
    cards = f"{len(new.cards)} card" + ("" if len(new.cards) == 1 else "s")
    return ApplyResult(True, "applied", f"applied version {new.version} ({cards})"), new


def write_list(db: sqlite3.Connection, new: AllowList, applied_at: str) -> None:
    """Replace the stored list in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM access_entries")
        texts: dict[frozenset[str] | None, str] = {}  # door sets are shared: each is written out once
        for grant in (grant for grants in new.cards.values() for grant in grants):
            if grant.doors not in texts:
                texts[grant.doors] = grant.doors_text()
        db.executemany("INSERT INTO access_entries (card, person, doors, valid_from, valid_to) VALUES (?, ?, ?, ?, ?)",
                       ((card, grant.person, texts[grant.doors], grant.valid_from, grant.valid_to)
                        for card, grants in new.cards.items() for grant in grants))
        db.executemany("INSERT OR REPLACE INTO access_meta (key, value) VALUES (?, ?)", [
            ("version", str(new.version)), ("issued_at", new.issued_at), ("applied_at", applied_at)])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def read_meta(db: sqlite3.Connection) -> dict[str, str]:
    return {str(key): str(value) for key, value in db.execute("SELECT key, value FROM access_meta")}


def read_list(db: sqlite3.Connection, site: str) -> tuple[AllowList | None, str | None]:
    """The stored list and when it was applied (None, None before the first)."""
    meta = read_meta(db)
    if "version" not in meta:
        return None, None
    cards, count = group(_grants(db))
    return AllowList(site, int(meta["version"]), meta["issued_at"], cards, count), meta["applied_at"]


def _grants(db: sqlite3.Connection) -> Iterator[tuple[str, Grant]]:
    door_sets: dict[str, frozenset[str] | None] = {}
    for card, person, doors, valid_from, valid_to in db.execute(
            "SELECT card, person, doors, valid_from, valid_to FROM access_entries ORDER BY rowid"):
        if doors not in door_sets:
            names = json.loads(doors)
            door_sets[doors] = None if ALL_DOORS in names else frozenset(names)
        yield card, Grant(person, door_sets[doors], valid_from, valid_to)


def apply_payload(
    path: str,
    site: str,
    public_key: str | None,
    max_entries: int,
    payload: bytes,
    seen: Collection[str],
    applied_at: str,
) -> Offloaded:
    """In a child process: parse a command payload and, if it is an `access_list` not yet carried out, check and
    write its list into the store's file (the agent then loads it from there)."""
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Offloaded(None, None)
    cmd_id = raw.get("cmd_id") if isinstance(raw, dict) else None
    if not isinstance(cmd_id, str) or not 0 < len(cmd_id) <= 200:
        return Offloaded(None, None)
    if raw.get("name") != COMMAND or cmd_id in seen:
        return Offloaded(cmd_id, None)
    args = raw.get("args")
    if not isinstance(args, dict):
        return Offloaded(cmd_id, ApplyResult(False, "malformed", "malformed command: 'args' must be an object"))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=FULL")
        version = read_meta(db).get("version")
        result, _ = check_and_write(db, args, site=site, max_entries=max_entries, applied_at=applied_at,
                                    public_key=None if public_key is None else load_public_key(public_key),
                                    current=None if version is None else int(version))
    finally:
        db.close()
    return Offloaded(cmd_id, result)
