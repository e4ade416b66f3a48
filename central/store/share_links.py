"""Read-only share links to a bike's live position: handed to the police when a theft is confirmed, or by an owner.

Design decisions:
- The token is `secrets.token_urlsafe(24)` (192 random bits) and only its SHA-256 is stored: the table does not
  let anyone rebuild a link. A visitor's token is hashed and looked up by that hash (the primary key), so the lookup
  compares digests, never the secret itself, and its time says nothing about how much of a token was right.
- A link is named in listings and revocations by the first 16 hex digits of its hash (`id`): unique in practice
  (64 bits), derived from nothing secret that is not already stored, and it cannot be turned back into the link.
- A link is never deleted: expired and revoked links stay, so an owner sees who could follow the bike and until when,
  and a visitor of an old link is told it is gone (410) rather than that it never existed (404).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import share_links

LINK_ID_LENGTH = 16
TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class ShareLink:
    id: str
    imei: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _link(row: Any) -> ShareLink:
    return ShareLink(
        id=row.token_hash[:LINK_ID_LENGTH],
        imei=row.imei,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def create_link(
    connection: AsyncConnection, *, imei: str, created_by: str, now: datetime, ttl: timedelta
) -> tuple[str, ShareLink]:
    """A new link; returns its token (shown once, never stored) and the link."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    digest = _hash(token)
    await connection.execute(
        insert(share_links).values(
            token_hash=digest, imei=imei, created_by=created_by, created_at=now, expires_at=now + ttl
        )
    )
    return token, ShareLink(
        id=digest[:LINK_ID_LENGTH], imei=imei, created_by=created_by, created_at=now, expires_at=now + ttl,
        revoked_at=None,
    )


async def find_link(connection: AsyncConnection, token: str) -> ShareLink | None:
    """The link a visitor's token names, active or not; None when no link ever had that token."""
    row = (await connection.execute(select(share_links).where(share_links.c.token_hash == _hash(token)))).first()
    return None if row is None else _link(row)


async def links_of(connection: AsyncConnection, imei: str) -> list[ShareLink]:
    """Every link of a tracker, newest first."""
    rows = await connection.execute(
        select(share_links)
        .where(share_links.c.imei == imei)
        .order_by(share_links.c.created_at.desc(), share_links.c.token_hash)
    )
    return [_link(row) for row in rows]


async def count_active(connection: AsyncConnection, imei: str, now: datetime) -> int:
    return int(
        (
            await connection.execute(
                select(func.count()).where(
                    share_links.c.imei == imei, share_links.c.revoked_at.is_(None), share_links.c.expires_at > now
                )
            )
        ).scalar_one()
    )


async def revoke_link(connection: AsyncConnection, *, imei: str, link_id: str, now: datetime) -> ShareLink | None:
    """Revoke the tracker's link named `link_id` (a hash prefix); a revoked one stays revoked at its first time.
    None when the tracker has no such link."""
    condition = (share_links.c.imei == imei) & share_links.c.token_hash.startswith(link_id, autoescape=True)
    await connection.execute(update(share_links).where(condition, share_links.c.revoked_at.is_(None)).values(
        revoked_at=now
    ))
    row = (await connection.execute(select(share_links).where(condition))).first()
    return None if row is None else _link(row)


async def revoke_links_by(
    connection: AsyncConnection, *, imei: str, created_by: str | None, now: datetime
) -> int:
    """Revoke every active link `created_by` made for the tracker (an owner releasing the bike), or with None every
    active link of the tracker, whoever made it (a new owner claiming it)."""
    conditions = [share_links.c.imei == imei, share_links.c.revoked_at.is_(None), share_links.c.expires_at > now]
    if created_by is not None:
        conditions.append(share_links.c.created_by == created_by)
    done = await connection.execute(update(share_links).where(*conditions).values(revoked_at=now))
    return int(done.rowcount)
