"""Owner accounts: sign up, log in (a session token), log out, who am I.

A failed login answers the same, and takes as long, whether the phone number has an account or not (see
central.api.owner_auth); failures are counted per phone number and a number is refused for a while after too many.
Sign-up does say that a number is taken (409): without a text-message check a sign-up cannot hide it, so sign-ups
share the login brake's counter for the number they try.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import IntegrityError

from central.api.auth import Owner, bearer
from central.api.context import Context
from central.api.owner_auth import Accounts, OwnerAccounts
from central.api.schemas import OwnerLogin, OwnerOut, OwnerSignUp, SessionOut
from central.store.owners import Owner as OwnerRecord
from central.store.owners import (
    count_owned,
    create_owner,
    create_session,
    end_session,
    normalize_phone,
    owner_by_id,
    owner_by_phone,
    token_hash,
)

router = APIRouter(tags=["owners"])

SESSION_TOKEN_BYTES = 32
WRONG_LOGIN = "wrong phone number or password"


def _attempt(accounts: OwnerAccounts, key: str, now: float) -> None:
    """Counted as a failure until it succeeds (owner_auth.FailureCounter.attempt); 429 while the number is locked."""
    left = accounts.logins.attempt(key, now=now)
    if left > 0:
        seconds = int(left) + 1
        raise HTTPException(
            429,
            detail=f"too many failed attempts for this phone number: try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def _owner_out(owner: OwnerRecord, bikes: int) -> OwnerOut:
    return OwnerOut(id=owner.id, phone=owner.phone, name=owner.name, created_at=owner.created_at, bikes=bikes)


@router.post(
    "/owners",
    status_code=201,
    response_model=OwnerOut,
    responses={409: {"description": "the phone number has an account"}, 429: {"description": "too many attempts"}},
)
async def sign_up(body: OwnerSignUp, context: Context, accounts: Accounts) -> OwnerOut:
    _attempt(accounts, body.phone, context.clock.monotonic())
    password_hash = await accounts.hasher.hash(body.password)
    owner: OwnerRecord | None = None
    try:
        async with context.engine.begin() as connection:
            if await owner_by_phone(connection, body.phone) is None:
                owner = await create_owner(
                    connection, phone=body.phone, name=body.name, password_hash=password_hash, now=context.clock.now()
                )
    except IntegrityError:
        pass  # a sign-up for the same number won the race
    if owner is None:
        raise HTTPException(409, detail="this phone number has an account already: log in")
    accounts.logins.succeeded(body.phone)
    context.logger.info("owner %d signed up", owner.id)
    return _owner_out(owner, 0)


@router.post(
    "/owners/login",
    response_model=SessionOut,
    responses={401: {"description": WRONG_LOGIN}, 429: {"description": "too many failed attempts"}},
)
async def login(body: OwnerLogin, context: Context, accounts: Accounts) -> SessionOut:
    phone = normalize_phone(body.phone)
    key = phone or body.phone
    _attempt(accounts, key, context.clock.monotonic())
    owner: OwnerRecord | None = None
    if phone is not None:
        async with context.engine.connect() as connection:
            owner = await owner_by_phone(connection, phone)
    if owner is not None and owner.disabled_at is not None:
        owner = None
    if not await accounts.hasher.verify(body.password, owner.password_hash if owner else None) or owner is None:
        raise HTTPException(401, detail=WRONG_LOGIN)  # counted as failed by _attempt already
    accounts.logins.succeeded(key)
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    now = context.clock.now()
    expires_at = now + timedelta(seconds=accounts.settings.session_ttl_s)
    async with context.engine.begin() as connection:
        await create_session(
            connection, owner_id=owner.id, token_digest=token_hash(token), now=now, expires_at=expires_at
        )
        bikes = (await count_owned(connection, [owner.id])).get(owner.id, 0)
    context.logger.info("owner %d logged in", owner.id)
    return SessionOut(token=token, expires_at=expires_at, owner=_owner_out(owner, bikes))


@router.post("/owners/logout", status_code=204, response_class=Response)
async def logout(
    principal: Owner,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    context: Context,
) -> Response:
    """Ends this session (the token stops working at once); other sessions of the owner stay."""
    assert credentials is not None  # Owner has checked it
    async with context.engine.begin() as connection:
        await end_session(connection, token_hash(credentials.credentials))
    context.logger.info("%s logged out", principal.name)
    return Response(status_code=204)


@router.get("/owners/me", response_model=OwnerOut)
async def me(principal: Owner, context: Context) -> OwnerOut:
    assert principal.owner_id is not None
    async with context.engine.connect() as connection:
        owner = await owner_by_id(connection, principal.owner_id)
        bikes = (await count_owned(connection, [principal.owner_id])).get(principal.owner_id, 0)
    if owner is None:  # deleted between the session check and now
        raise HTTPException(401, detail="the bearer token is not valid", headers={"WWW-Authenticate": "Bearer"})
    return _owner_out(owner, bikes)
