"""Site state: created on first sight, advanced by the readings it sends and by its retained MQTT state topic."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.model import StoredReading
from central.store.dialect import insert_ignoring_conflicts
from central.store.schema import sites
from shaobing.clock import format_ts, parse_ts
from shaobing.envelope import Envelope, Kind

# Contact ID 601 manual test / 602 periodic test; counted as supervision signals whatever kind a driver gave them.
TEST_EVENT_CODES = frozenset({"601", "602"})
# The edge's convention: partition 0 is the whole site, and an arming reading without a partition is about it.
WHOLE_SITE = "0"


class StateError(ValueError):
    """A state-topic payload that is not {"online": bool, "since": ts, "version": str, "last_seq": int}."""


@dataclass(frozen=True, slots=True)
class StateMessage:
    online: bool
    since: datetime | None
    version: str | None
    last_seq: int | None


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    kind: str
    online: bool | None
    online_since: datetime | None
    version: str | None
    arming: dict[str, Any]
    armed: bool | None
    last_seq: int
    state_last_seq: int | None
    last_reading_at: datetime | None
    last_test_at: datetime | None
    device_tests: dict[str, str]
    first_seen_at: datetime | None
    updated_at: datetime | None
    area: str | None = None  # the site's profile, kept by the centre's staff
    address: str | None = None
    lat: float | None = None
    lon: float | None = None


def parse_state(payload: bytes) -> StateMessage:
    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise StateError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise StateError("state is not a JSON object")
    online = raw.get("online")
    if not isinstance(online, bool):
        raise StateError("online must be true or false")
    since = raw.get("since")
    version = raw.get("version")
    last_seq = raw.get("last_seq")
    if since is not None:
        if not isinstance(since, str) or len(since) > 40:
            raise StateError("since must be a timestamp")
        try:
            since_at: datetime | None = parse_ts(since)
        except (ValueError, OverflowError) as exc:
            raise StateError(f"since: {exc}") from None
    else:
        since_at = None
    if version is not None and (not isinstance(version, str) or len(version) > 64 or "\x00" in version):
        raise StateError("version must be a string of at most 64 characters")
    if last_seq is not None and (
        not isinstance(last_seq, int) or isinstance(last_seq, bool) or not 0 <= last_seq < 2**63
    ):
        raise StateError("last_seq must be an integer 0..2**63-1")
    return StateMessage(online=online, since=since_at, version=version, last_seq=last_seq)


def is_test_signal(envelope: Envelope) -> bool:
    if envelope.kind is Kind.TEST:
        return True
    return envelope.data.get("source") == "contact_id" and str(envelope.data.get("code")) in TEST_EVENT_CODES


def partition_of(data: Mapping[str, Any]) -> str:
    """Partitions come as 1, "1" or "01" depending on the panel; one spelling keys the arming map. None is "0"."""
    partition = data.get("partition")
    if partition is None or isinstance(partition, bool):
        return WHOLE_SITE
    text = str(partition).strip()
    return str(int(text)) if text.isdigit() else text[:32]


def _arming_seq(entry: Any) -> int:
    return int(entry.get("seq", 0)) if isinstance(entry, dict) else 0


def merge_arming(arming: Mapping[str, Any], envelopes: Iterable[Envelope]) -> dict[str, Any]:
    """Apply `arming` readings in seq order: a late, older reading never overrides a newer state of its partition.

    A whole-site reading (partition "0") replaces every partition's older entry; a partition's reading older than
    the whole site's latest state is ignored, as that state has overridden it.
    """
    merged = dict(arming)
    for envelope in sorted(envelopes, key=lambda e: e.seq):
        state = envelope.data.get("state")
        if envelope.kind is not Kind.ARMING or not isinstance(state, str):
            continue
        partition = partition_of(envelope.data)
        if _arming_seq(merged.get(partition)) >= envelope.seq or _arming_seq(merged.get(WHOLE_SITE)) >= envelope.seq:
            continue
        if partition == WHOLE_SITE:
            merged = {key: entry for key, entry in merged.items() if _arming_seq(entry) > envelope.seq}
        entry: dict[str, Any] = {"state": state, "seq": envelope.seq, "at": format_ts(envelope.ts)}
        user = envelope.data.get("user")
        if isinstance(user, str | int) and not isinstance(user, bool):
            entry["user"] = user
        merged[partition] = entry
    return merged


def _is_armed(entry: Any) -> bool:
    state = entry.get("state") if isinstance(entry, dict) else entry
    return isinstance(state, str) and state.startswith("armed")


def site_armed(arming: Mapping[str, Any]) -> bool | None:
    """The whole site's state when it was set last (no partition changed since), else whether any partition is
    armed; None while nothing is known."""
    if not arming:
        return None
    whole = arming.get(WHOLE_SITE)
    if whole is not None and all(_arming_seq(whole) >= _arming_seq(entry) for entry in arming.values()):
        return _is_armed(whole)
    return any(_is_armed(entry) for entry in arming.values())


def _later(first: str | None, second: datetime) -> str:
    if first is not None:
        try:
            if parse_ts(first) >= second:
                return first
        except (ValueError, OverflowError):
            pass
    return format_ts(second)


async def ensure_sites(connection: AsyncConnection, site_ids: Iterable[str], *, now: datetime) -> None:
    rows = [
        {"id": site, "arming": {}, "device_tests": {}, "last_seq": 0, "first_seen_at": now, "updated_at": now}
        for site in site_ids
    ]
    if rows:
        await connection.execute(insert_ignoring_conflicts(connection.dialect.name, sites, ["id"]), rows)


async def apply_readings(
    connection: AsyncConnection, stored: Sequence[StoredReading], *, now: datetime
) -> dict[str, int]:
    """Advance the state of every site in `stored`; return each site's highest seq before these readings.

    The site rows are locked (PostgreSQL) for the rest of the transaction, so two consumers cannot interleave one
    site's sequence bookkeeping.
    """
    by_site: dict[str, list[Envelope]] = {}
    for reading in stored:
        by_site.setdefault(reading.envelope.site, []).append(reading.envelope)
    if not by_site:
        return {}
    await ensure_sites(connection, sorted(by_site), now=now)
    current = await connection.execute(
        select(sites.c.id, sites.c.last_seq, sites.c.last_test_at, sites.c.device_tests, sites.c.arming)
        .where(sites.c.id.in_(sorted(by_site)))
        .order_by(sites.c.id)
        .with_for_update()
    )
    previous: dict[str, int] = {}
    changes: list[dict[str, Any]] = []
    for row in current:
        envelopes = by_site[row.id]
        previous[row.id] = int(row.last_seq)
        last_test_at = row.last_test_at
        device_tests = dict(row.device_tests or {})
        for envelope in envelopes:
            if is_test_signal(envelope):
                # The edge's receipt time, but never in the future: a wrong clock must not silence supervision.
                signal_at = min(envelope.rx, now)
                last_test_at = signal_at if last_test_at is None else max(last_test_at, signal_at)
                device_tests[envelope.device] = _later(device_tests.get(envelope.device), signal_at)
        arming = dict(row.arming or {})
        if any(envelope.kind is Kind.ARMING for envelope in envelopes):
            arming = merge_arming(arming, envelopes)
        changes.append(
            {
                "b_id": row.id,
                "b_last_seq": max(int(row.last_seq), *(envelope.seq for envelope in envelopes)),
                "b_last_test_at": last_test_at,
                "b_device_tests": device_tests,
                "b_arming": arming,
                "b_armed": site_armed(arming),
            }
        )
    await connection.execute(
        update(sites)
        .where(sites.c.id == bindparam("b_id"))
        .values(
            last_seq=bindparam("b_last_seq"),
            last_test_at=bindparam("b_last_test_at"),
            device_tests=bindparam("b_device_tests", type_=sites.c.device_tests.type),
            arming=bindparam("b_arming", type_=sites.c.arming.type),
            armed=bindparam("b_armed"),
            last_reading_at=now,
            updated_at=now,
        ),
        changes,
    )
    return previous


@dataclass(frozen=True, slots=True)
class StateApplied:
    was_online: bool | None  # None if the site never said
    last_seq: int  # the highest seq central had stored when the state came


async def apply_state(connection: AsyncConnection, site: str, message: StateMessage, *, now: datetime) -> StateApplied:
    """Record a state-topic message.

    Online, the site is online since the time it says (its connect). Offline (its will, or a goodbye), since the time
    central heard it: the will carries the time the agent started, not the time it went away.
    """
    await ensure_sites(connection, [site], now=now)
    before = (
        await connection.execute(select(sites.c.online, sites.c.last_seq).where(sites.c.id == site).with_for_update())
    ).one()
    await connection.execute(
        update(sites)
        .where(sites.c.id == site)
        .values(
            online=message.online,
            online_since=(message.since or now) if message.online else now,
            version=message.version,
            state_last_seq=message.last_seq,
            updated_at=now,
        )
    )
    return StateApplied(was_online=before.online, last_seq=int(before.last_seq))


def _site(row: Any) -> Site:
    return Site(**{column.name: getattr(row, column.name) for column in sites.columns})


async def get_site(connection: AsyncConnection, site: str) -> Site | None:
    row = (await connection.execute(select(sites).where(sites.c.id == site))).first()
    return None if row is None else _site(row)


async def list_sites(connection: AsyncConnection) -> list[Site]:
    return [_site(row) for row in await connection.execute(select(sites).order_by(sites.c.id))]
