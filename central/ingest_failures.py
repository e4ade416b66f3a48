"""Why a batch transaction failed: the database out of reach, or something about the messages themselves.

The first is retried without end with nothing acknowledged (the broker keeps the messages); the second is narrowed
down to one message and set aside, so that one reading cannot stop the ingest of a whole district.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# Lower-level errors that mean the connection, not the statement, failed (asyncpg's and the OS's, when they surface
# unwrapped, e.g. while connecting). A server shutting down answers with an "operator intervention" error.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    sa_exc.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)


def is_connection_failure(error: BaseException) -> bool:
    """True when `error` (or what caused it) says the database could not be reached or the connection broke."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DisconnectionError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, CONNECTION_ERRORS):
            return True
        if isinstance(current, sa_exc.StatementError) and current.orig is not None:
            current = current.orig
            continue
        current = current.__cause__  # not __context__: an error a rule raised while handling another is its own
    return False
