"""E-bike owners: their accounts, their login sessions, and which trackers they own.

Design decisions:
- A phone number is the login. It is stored in one canonical form (E.164, `+8613812345678`) so that `138 1234 5678`,
  `+86 138-1234-5678` and `008613812345678` are one account; it is personal data and never leaves central in a URL,
  a topic or a file name.
- Sessions keep only the SHA-256 of the bearer token: a copy of the database does not let anyone log in. Expired
  sessions of an owner are deleted when that owner logs in again, so the table stays bounded without a sweeper.
- A tracker becomes claimable when an operator provisions it with the bind code printed on its box (only the code's
  SHA-256 is kept); an owner claims it with that code. Every query that serves an owner names the owner: a tracker of
  someone else is simply not found, exactly as one that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import owner_sessions, owners, trackers

_CHINESE_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9][0-9]{9})$")
_E164 = re.compile(r"^(?:\+|00)([1-9][0-9]{6,14})$")
_SEPARATORS = re.compile(r"[\s().-]")
_IMEI = re.compile(r"^[0-9]{15}$")
_BIND_CODE = re.compile(r"^[A-Za-z0-9]{4,32}$")


# -- phone numbers ---------------------------------------------------------------------------------------------------


def normalize_phone(raw: str) -> str | None:
    """The E.164 form of a Chinese mobile number (`13812345678`, with or without +86) or of a number of another country
    written in international form (`+44 20 7946 0958`); None when it is neither."""
    compact = _SEPARATORS.sub("", raw)
    if (mobile := _CHINESE_MOBILE.match(compact)) is not None:
        return "+86" + mobile.group(1)
    international = _E164.match(compact)
    # A Chinese number must be a mobile one (the check above): notifications go to it by text message.
    if international is not None and not international.group(1).startswith("86"):
        return "+" + international.group(1)
    return None


def mask_phone(phone: str) -> str:
    """`+8613812345678` -> `+86138****5678`: enough to recognise a number one knows, not enough to call it."""
    keep = max(len(phone) - 8, 2)
    return phone[:keep] + "*" * (len(phone) - keep - 4) + phone[-4:]


# -- IMEIs and bind codes --------------------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """The Luhn check an IMEI's 15th digit carries (3GPP TS 23.003): catches every single mistyped digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def imei_problem(imei: str) -> str | None:
    """Why `imei` is not a valid IMEI, or None."""
    if not _IMEI.match(imei):
        return "an IMEI is 15 digits"
    if not luhn_ok(imei):
        return "the IMEI's check digit does not match: check it against the label"
    return None


def bind_code_problem(code: str) -> str | None:
    if not _BIND_CODE.match(code):
        return "a bind code is 4 to 32 letters and digits"
    return None


def bind_code_hash(code: str) -> str:
    """Codes are printed on a box and typed by people: case does not matter."""
    return hashlib.sha256(code.strip().upper().encode("ascii")).hexdigest()


# -- accounts --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owner:
    id: int
    phone: str
    name: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None


def _owner(row: Any) -> Owner:
    return Owner(**{column.name: getattr(row, column.name) for column in owners.columns})


async def create_owner(
    connection: AsyncConnection, *, phone: str, name: str, password_hash: str, now: datetime
) -> Owner:
    """Raises sqlalchemy's IntegrityError when the phone is taken (two sign-ups racing included)."""
    owner_id = (
        await connection.execute(
            insert(owners)
            .values(phone=phone, name=name, password_hash=password_hash, created_at=now)
            .returning(owners.c.id)
        )
    ).scalar_one()
    found = await owner_by_id(connection, int(owner_id))
    assert found is not None
    return found


async def owner_by_phone(connection: AsyncConnection, phone: str) -> Owner | None:
    row = (await connection.execute(select(owners).where(owners.c.phone == phone))).first()
    return None if row is None else _owner(row)


async def owner_by_id(connection: AsyncConnection, owner_id: int) -> Owner | None:
    row = (await connection.execute(select(owners).where(owners.c.id == owner_id))).first()
    return None if row is None else _owner(row)


# -- sessions --------------------------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def create_session(
    connection: AsyncConnection, *, owner_id: int, token_digest: str, now: datetime, expires_at: datetime
) -> None:
    await connection.execute(
        delete(owner_sessions).where(owner_sessions.c.owner_id == owner_id, owner_sessions.c.expires_at <= now)
    )
    await connection.execute(
        insert(owner_sessions).values(
            token_hash=token_digest, owner_id=owner_id, created_at=now, expires_at=expires_at
        )
    )


async def session_owner(connection: AsyncConnection, token_digest: str, now: datetime) -> int | None:
    """The owner a live session belongs to; None for an unknown or expired token, or a disabled account."""
    row = (
        await connection.execute(
            select(owner_sessions.c.owner_id)
            .join(owners, owners.c.id == owner_sessions.c.owner_id)
            .where(
                owner_sessions.c.token_hash == token_digest,
                owner_sessions.c.expires_at > now,
                owners.c.disabled_at.is_(None),
            )
        )
    ).first()
    return None if row is None else int(row.owner_id)


async def end_session(connection: AsyncConnection, token_digest: str) -> None:
    await connection.execute(delete(owner_sessions).where(owner_sessions.c.token_hash == token_digest))


# -- trackers as owners and staff see them ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackerView:
    """A tracker row with its owner's name and phone (for staff; owners get their own bikes only)."""

    imei: str
    site: str | None
    name: str
    plate: str | None
    owner_id: int | None
    history_from: datetime | None  # the last release: the present owner's view of the track starts there
    bind_code_set: bool
    armed: bool
    armed_at: datetime | None
    armed_by: str | None
    theft_state: str | None
    theft_dispatch_id: int | None
    theft_at: datetime | None
    fix_time: datetime | None
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None
    satellites: int | None
    lbs_time: datetime | None
    lbs_cell: dict[str, Any] | None
    status: dict[str, Any]
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime
    owner_name: str | None
    owner_phone: str | None


_VIEW_COLUMNS = (
    trackers.c.imei,
    trackers.c.site,
    trackers.c.name,
    trackers.c.plate,
    trackers.c.owner_id,
    trackers.c.history_from,
    trackers.c.bind_code_hash,
    trackers.c.armed,
    trackers.c.armed_at,
    trackers.c.armed_by,
    trackers.c.theft_state,
    trackers.c.theft_dispatch_id,
    trackers.c.theft_at,
    trackers.c.fix_time,
    trackers.c.lat,
    trackers.c.lon,
    trackers.c.speed_kmh,
    trackers.c.course,
    trackers.c.satellites,
    trackers.c.lbs_time,
    trackers.c.lbs_cell,
    trackers.c.status,
    trackers.c.last_seen_at,
    trackers.c.created_at,
    trackers.c.updated_at,
    owners.c.name.label("owner_name"),
    owners.c.phone.label("owner_phone"),
)


def _view_query() -> Any:
    return select(*_VIEW_COLUMNS).select_from(trackers.outerjoin(owners, owners.c.id == trackers.c.owner_id))


def _view(row: Any) -> TrackerView:
    values = dict(row._mapping)
    values["bind_code_set"] = values.pop("bind_code_hash") is not None
    values["status"] = dict(values["status"] or {})
    values["lbs_cell"] = dict(values["lbs_cell"]) if isinstance(values["lbs_cell"], dict) else None
    return TrackerView(**values)


async def get_tracker(connection: AsyncConnection, imei: str, *, owner_id: int | None = None) -> TrackerView | None:
    """The tracker; with `owner_id`, only if that owner owns it (anyone else's is not found)."""
    query = _view_query().where(trackers.c.imei == imei)
    if owner_id is not None:
        query = query.where(trackers.c.owner_id == owner_id)
    row = (await connection.execute(query)).first()
    return None if row is None else _view(row)


async def owned_trackers(connection: AsyncConnection, owner_id: int) -> list[TrackerView]:
    query = _view_query().where(trackers.c.owner_id == owner_id).order_by(trackers.c.created_at, trackers.c.imei)
    return [_view(row) for row in await connection.execute(query)]


@dataclass(frozen=True, slots=True)
class TrackerFilter:
    owner_id: int | None = None
    owned: bool | None = None
    theft_state: str | None = None  # "alarmed", "confirmed", or "none" for no theft
    armed: bool | None = None
    site: str | None = None


async def list_trackers(
    connection: AsyncConnection, where: TrackerFilter, *, after_imei: str | None, limit: int
) -> list[TrackerView]:
    """Trackers in IMEI order, `limit` of them after `after_imei` (keyset: stable while trackers are added)."""
    conditions: list[Any] = []
    if where.owner_id is not None:
        conditions.append(trackers.c.owner_id == where.owner_id)
    if where.owned is not None:
        conditions.append(trackers.c.owner_id.is_not(None) if where.owned else trackers.c.owner_id.is_(None))
    if where.theft_state == "none":
        conditions.append(trackers.c.theft_state.is_(None))
    elif where.theft_state is not None:
        conditions.append(trackers.c.theft_state == where.theft_state)
    if where.armed is not None:
        conditions.append(trackers.c.armed.is_(where.armed))
    if where.site is not None:
        conditions.append(trackers.c.site == where.site)
    if after_imei is not None:
        conditions.append(trackers.c.imei > after_imei)
    query = _view_query().where(*conditions).order_by(trackers.c.imei).limit(limit)
    return [_view(row) for row in await connection.execute(query)]


async def provision_tracker(
    connection: AsyncConnection, *, imei: str, name: str, plate: str | None, bind_code: str, now: datetime
) -> bool | None:
    """Make a tracker claimable with `bind_code`: a new row, or one the gateway created on first sight. True when
    created, False when updated, None when the tracker has an owner already (re-provisioning it would hand it over)."""
    found = (
        await connection.execute(select(trackers.c.owner_id).where(trackers.c.imei == imei).with_for_update())
    ).first()
    values = {"name": name, "plate": plate, "bind_code_hash": bind_code_hash(bind_code), "updated_at": now}
    if found is None:
        await connection.execute(insert(trackers).values(imei=imei, created_at=now, **values))
        return True
    if found.owner_id is not None:
        return None
    await connection.execute(update(trackers).where(trackers.c.imei == imei).values(**values))
    return False


class ClaimRefused(Exception):
    """Why a claim failed: `not_found` (unknown IMEI, no or another bind code) or `taken` (it has an owner)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def claim_tracker(
    connection: AsyncConnection,
    *,
    imei: str,
    bind_code: str,
    owner_id: int,
    name: str | None,
    plate: str | None,
    now: datetime,
) -> None:
    """Give a provisioned tracker to `owner_id`. The owner check is in the UPDATE itself, so two owners claiming the
    same tracker at once cannot both win. Raises ClaimRefused."""
    found = (
        await connection.execute(
            select(trackers.c.bind_code_hash, trackers.c.owner_id, trackers.c.name, trackers.c.plate).where(
                trackers.c.imei == imei
            )
        )
    ).first()
    if found is None or found.bind_code_hash is None:
        raise ClaimRefused("not_found")
    # Both sides are hex digests of the same length: compare_digest keeps the comparison's time flat.
    if not hmac.compare_digest(found.bind_code_hash, bind_code_hash(bind_code)):
        raise ClaimRefused("not_found")
    if found.owner_id is not None:
        raise ClaimRefused("taken")
    claimed = await connection.execute(
        update(trackers)
        .where(trackers.c.imei == imei, trackers.c.owner_id.is_(None))
        .values(
            owner_id=owner_id,
            name=found.name if name is None else name,
            plate=found.plate if plate is None else plate,
            updated_at=now,
        )
    )
    if not claimed.rowcount:
        raise ClaimRefused("taken")


async def rename_tracker(
    connection: AsyncConnection, imei: str, *, owner_id: int, name: str | None, plate: str | None, now: datetime
) -> bool:
    values: dict[str, Any] = {"updated_at": now}
    if name is not None:
        values["name"] = name
    if plate is not None:
        values["plate"] = plate or None
    done = await connection.execute(
        update(trackers).where(trackers.c.imei == imei, trackers.c.owner_id == owner_id).values(**values)
    )
    return bool(done.rowcount)


async def release_tracker(connection: AsyncConnection, imei: str, *, owner_id: int, now: datetime) -> bool:
    """The owner gives the tracker up; it stays provisioned (its bind code still works for the next owner), and the
    next owner sees its positions from now on only."""
    done = await connection.execute(
        update(trackers)
        .where(trackers.c.imei == imei, trackers.c.owner_id == owner_id)
        .values(owner_id=None, history_from=now, updated_at=now)
    )
    return bool(done.rowcount)


async def count_owned(connection: AsyncConnection, owner_ids: Sequence[int]) -> dict[int, int]:
    rows = await connection.execute(
        select(trackers.c.owner_id, func.count())
        .where(trackers.c.owner_id.in_(list(owner_ids)))
        .group_by(trackers.c.owner_id)
    )
    return {int(row[0]): int(row[1]) for row in rows}
