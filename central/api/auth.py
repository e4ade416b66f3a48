"""Bearer tokens: each maps to a name (the actor recorded in the audit trail) and a role.

viewer reads; operator and supervisor also act on dispatches and send commands; admin may do everything. Tokens are
compared in constant time: every configured token is compared on every request, whatever matches.
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


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


READERS = frozenset(Role)
ACTORS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
# Who sees personal data (ID numbers, names) in readings unmasked.
PERSONAL_DATA_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


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
    principal = table.lookup(credentials.credentials)
    if principal is None:
        raise _unauthorized("the bearer token is not valid")
    return principal


def require(roles: frozenset[Role]) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"the role {principal.role.value!r} may not do this")
        return principal

    return check


Reader = Annotated[Principal, Depends(require(READERS))]
Actor = Annotated[Principal, Depends(require(ACTORS))]
