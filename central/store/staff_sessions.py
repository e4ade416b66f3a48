"""Console sessions of the monitoring centre's staff: only the SHA-256 of each token is kept.

The users themselves live in the configuration (`central.console.settings`): a session names a login, and a login
removed from the file stops working at once, whatever sessions it had.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.schema import staff_sessions


async def create_staff_session(
    connection: AsyncConnection, *, login: str, token_digest: str, now: datetime, expires_at: datetime
) -> None:
    # The login's expired sessions go when it logs in again: the table stays bounded without a sweeper.
    await connection.execute(
        delete(staff_sessions).where(staff_sessions.c.login == login, staff_sessions.c.expires_at <= now)
    )
    await connection.execute(
        insert(staff_sessions).values(token_hash=token_digest, login=login, created_at=now, expires_at=expires_at)
    )


async def session_login(connection: AsyncConnection, token_digest: str, now: datetime) -> str | None:
    """The login a live session belongs to; None for an unknown or expired token."""
    row = (
        await connection.execute(
            select(staff_sessions.c.login).where(
                staff_sessions.c.token_hash == token_digest, staff_sessions.c.expires_at > now
            )
        )
    ).first()
    return None if row is None else str(row.login)


async def end_staff_session(connection: AsyncConnection, token_digest: str) -> None:
    await connection.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_digest))
