"""The console's log-in for the monitoring centre's staff: a session token for a login and password.

Users and their roles come from `[console]` in central's configuration. A failed log-in answers the same, and takes as
long, whether the login exists or not; failures are counted per login (the owners' brake: central.api.owner_auth), and
every attempt is in the audit log.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from central.api.auth import STAFF, STAFF_SESSION_PREFIX, Principal, bearer, require
from central.api.context import Context
from central.api.owner_auth import OwnersSettings, PasswordHasher, failure_counter
from central.api.schemas import RequestBody
from central.console.settings import ConsoleSettings
from central.store.audit import record
from central.store.owners import token_hash
from central.store.staff_sessions import create_staff_session, end_staff_session

router = APIRouter(tags=["console"])

WRONG_LOGIN = "wrong login or password"
Staff = Annotated[Principal, Depends(require(STAFF))]


class StaffAccounts:
    """What the log-in shares across requests: the hasher and the failure counter."""

    def __init__(self, settings: ConsoleSettings, brake: OwnersSettings) -> None:
        self.settings = settings
        self.hasher = PasswordHasher(brake)
        self.failures = failure_counter(brake)


class StaffLogin(RequestBody):
    login: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")  # recorded when it fails
    password: str = Field(min_length=1, max_length=256)


class StaffOut(BaseModel):
    login: str | None
    name: str
    role: str


class StaffSessionOut(BaseModel):
    token: str
    expires_at: datetime
    user: StaffOut


def _accounts(request: Request) -> StaffAccounts:
    accounts: StaffAccounts = request.app.state.staff_accounts
    return accounts


@router.post(
    "/staff/login",
    response_model=StaffSessionOut,
    responses={401: {"description": WRONG_LOGIN}, 429: {"description": "too many failed attempts"}},
)
async def staff_login(body: StaffLogin, context: Context, request: Request) -> StaffSessionOut:
    accounts = _accounts(request)
    login = body.login.strip().lower()
    left = accounts.failures.attempt(login, now=context.clock.monotonic())
    if left > 0:
        seconds = int(left) + 1
        async with context.engine.begin() as connection:  # guessing on during a lockout shows in the audit log too
            await record(connection, at=context.clock.now(), actor=login[:64], role="unknown", action="login_failed",
                         detail={"reason": "locked"})
        raise HTTPException(429, detail=f"too many failed attempts for this login: try again in {seconds} s",
                            headers={"Retry-After": str(seconds)})
    user = accounts.settings.user(login)
    matched = await accounts.hasher.verify(body.password, user.password_hash if user else None)
    now = context.clock.now()
    if not matched or user is None:
        async with context.engine.begin() as connection:
            await record(connection, at=now, actor=login[:64], role="unknown" if user is None else user.role,
                         action="login_failed")
        raise HTTPException(401, detail=WRONG_LOGIN)
    accounts.failures.succeeded(login)
    token = STAFF_SESSION_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + timedelta(seconds=accounts.settings.session_ttl_s)
    async with context.engine.begin() as connection:
        await create_staff_session(connection, login=user.login, token_digest=token_hash(token), now=now,
                                   expires_at=expires_at)
        await record(connection, at=now, actor=user.name, role=user.role, action="login")
    context.logger.info("staff %s (%s) logged in", user.login, user.role)
    return StaffSessionOut(token=token, expires_at=expires_at,
                           user=StaffOut(login=user.login, name=user.name, role=user.role))


@router.post("/staff/logout", status_code=204, response_class=Response)
async def staff_logout(
    principal: Staff, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)], context: Context
) -> Response:
    """Ends this session; a configured bearer token has none to end and stays valid."""
    assert credentials is not None
    async with context.engine.begin() as connection:
        if credentials.credentials.startswith(STAFF_SESSION_PREFIX):
            await end_staff_session(connection, token_hash(credentials.credentials))
        await record(connection, at=context.clock.now(), actor=principal.name, role=principal.role.value,
                     action="logout")
    return Response(status_code=204)


@router.get("/staff/me", response_model=StaffOut)
async def staff_me(principal: Staff) -> StaffOut:
    return StaffOut(login=principal.login, name=principal.name, role=principal.role.value)
