"""A site's profile as the centre's staff keep it (name, patrol area, address, position), changed with an audit entry
in the same transaction: the profile never changes without the log saying who changed what."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.store.audit import record
from central.store.schema import sites

PROFILE_FIELDS = ("name", "area", "address", "lat", "lon")
ACTION = "site.profile"


class UnknownSite(LookupError):
    pass


async def update_profile(
    connection: AsyncConnection, site: str, changes: Mapping[str, Any], *, at: datetime, actor: str, role: str,
) -> dict[str, dict[str, Any]]:
    """Apply `changes` (a subset of PROFILE_FIELDS) to the site; return what changed ({field: {"from", "to"}}),
    recorded in the audit log as action "site.profile", target "site:ID". Nothing changed: nothing recorded."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    columns = [sites.c[name] for name in PROFILE_FIELDS]
    row = (await connection.execute(select(*columns).where(sites.c.id == site).with_for_update())).first()
    if row is None:
        raise UnknownSite(site)
    current = dict(zip(PROFILE_FIELDS, row, strict=True))
    changed = {name: {"from": current[name], "to": value} for name, value in changes.items() if current[name] != value}
    if not changed:
        return {}
    await connection.execute(
        update(sites).where(sites.c.id == site)
        .values({**{name: diff["to"] for name, diff in changed.items()}, "updated_at": at})
    )
    await record(connection, at=at, actor=actor, role=role, action=ACTION, target=f"site:{site}", detail=changed)
    return changed
