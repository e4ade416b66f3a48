"""Bearer tokens: each maps to a name (the actor recorded in the audit trail) and a role.

Staff tokens come from the configuration; owners of e-bikes log in and get a session token (central.api.owner_auth).
viewer reads; operator and supervisor also act on dispatches and send commands; admin may do everything but the
watch-list, which only police tokens reach (and they reach nothing else). Tokens are
compared in constant time: every configured token is compared on every request, whatever matches.

Both kinds come in the same `Authorization: Bearer` header. The staff table is tried first (in memory); a token that is
not staff is hashed and looked up in `owner_sessions` (only hashes are stored), and a live session makes it
Principal(role=OWNER, owner_id=..., name="owner:ID"): owners never pass READERS or ACTORS, staff never pass OWNERS.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central.store.owners import session_owner, token_hash
from central.store.staff_sessions import session_login


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    OWNER = "owner"  # an e-bike owner, logged in with phone + password: sees only their own trackers
    POLICE = "police"  # the police: the watch-list and its hits, and nothing else


STAFF = frozenset({Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
READERS = STAFF
ACTORS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
OWNERS = frozenset({Role.OWNER})
# The watch-list and its hits: the police only (not even admin).
POLICE_ROLES = frozenset({Role.POLICE})
# An owner's session token is secrets.token_urlsafe(32): anything far longer is not worth a database look-up.
MAX_SESSION_TOKEN = 256
# A console session token of a staff member starts with this (the rest as an owner's): one look-up, in one table.
STAFF_SESSION_PREFIX = "st_"
# Who sees personal data (ID numbers, names) in readings unmasked.
PERSONAL_DATA_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    owner_id: int | None = None  # set for Role.OWNER only
    login: str | None = None  # set for a staff member logged in to the console


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenTable:
    def __init__(self, tokens: Mapping[str, tuple[str, str]]) -> None:
        entries: list[tuple[bytes, Principal]] = []
        for token, (name, role) in tokens.items():
            if len(token) < 16:
                raise ValueError(f"the token of {name!r} is too short (16 characters at least)")
            entries.append((_digest(token), Principal(name, Role(role))))
        self._entries = tuple(entries)

    def lookup(self, token: str) -> Principal | None:
        offered = _digest(token)
        found: Principal | None = None
        for digest, principal in self._entries:
            if hmac.compare_digest(digest, offered):
                found = principal
        return found


bearer = HTTPBearer(auto_error=False, description="a token from central's configuration")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise _unauthorized("a bearer token is required")
    table: TokenTable = request.app.state.tokens
    token = credentials.credentials
    principal = table.lookup(token)
    if principal is None:
        if token.startswith(STAFF_SESSION_PREFIX):
            principal = await _staff_session(request, token)
        else:
            principal = await _owner_session(request, token)
    if principal is None:
        raise _unauthorized("the bearer token is not valid")
    request.state.principal = principal  # for the audit of the request (central.api.audit_requests)
    return principal


def owner_name(owner_id: int) -> str:
    """How an owner is named as an actor (armed_by, issued_by, created_by): no personal data."""
    return f"owner:{owner_id}"


async def _owner_session(request: Request, token: str) -> Principal | None:
    if not token or len(token) > MAX_SESSION_TOKEN:
        return None
    context = request.app.state.context
    async with context.engine.connect() as connection:
        owner_id = await session_owner(connection, token_hash(token), context.clock.now())
    if owner_id is None:
        return None
    return Principal(owner_name(owner_id), Role.OWNER, owner_id)


async def _staff_session(request: Request, token: str) -> Principal | None:
    if len(token) > MAX_SESSION_TOKEN:
        return None
    context = request.app.state.context
    async with context.engine.connect() as connection:
        login = await session_login(connection, token_hash(token), context.clock.now())
    user = None if login is None else request.app.state.console.user(login)
    if user is None:  # unknown, expired, or a login since removed from the configuration
        return None
    return Principal(user.name, Role(user.role), login=user.login)


def require(roles: frozenset[Role]) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"the role {principal.role.value!r} may not do this")
        return principal

    return check


Reader = Annotated[Principal, Depends(require(READERS))]
Actor = Annotated[Principal, Depends(require(ACTORS))]
Owner = Annotated[Principal, Depends(require(OWNERS))]
Police = Annotated[Principal, Depends(require(POLICE_ROLES))]
