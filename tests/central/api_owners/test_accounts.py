"""Owner accounts: sign-up, login, sessions, logout; what is stored; the brute-force brake."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from central.store.schema import owner_sessions, owners
from tests.central.api_owners.conftest import (
    OPERATOR,
    PASSWORD,
    Clock,
    assert_detail,
    owner_session,
)


async def test_sign_up_log_in_see_myself_and_log_out(client: httpx.AsyncClient) -> None:
    signed = await client.post("/api/owners", json={"phone": "138 1234-5678", "name": " 李雷 ", "password": PASSWORD})
    assert signed.status_code == 201, signed.text
    assert {key: signed.json()[key] for key in ("phone", "name", "bikes")} == {
        "phone": "+8613812345678",
        "name": "李雷",
        "bikes": 0,
    }
    login = await client.post("/api/owners/login", json={"phone": "+86 138 1234 5678", "password": PASSWORD})
    assert login.status_code == 200, login.text
    session = login.json()
    assert session["expires_at"] == "2026-12-24T06:00:00Z"  # 30 days after the app's clock
    headers = {"Authorization": f"Bearer {session['token']}"}
    me = await client.get("/api/owners/me", headers=headers)
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["phone"]) == (signed.json()["id"], "+8613812345678")

    assert (await client.post("/api/owners/logout", headers=headers)).status_code == 204
    gone = await client.get("/api/owners/me", headers=headers)
    assert_detail(gone, 401)
    assert gone.headers["www-authenticate"] == "Bearer"


async def test_only_hashes_are_stored(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    headers = await owner_session(client, "13900000001")
    token = headers["Authorization"].removeprefix("Bearer ")
    async with engine.connect() as connection:
        stored_hash = (await connection.execute(select(owners.c.password_hash))).scalar_one()
        session_hashes = (await connection.execute(select(owner_sessions.c.token_hash))).scalars().all()
    scheme, n, r, p, salt, digest = stored_hash.split("$")
    assert (scheme, n, r, p, len(salt), len(digest)) == ("scrypt", "16384", "8", "1", 32, 64)
    expected = hashlib.scrypt(PASSWORD.encode(), salt=bytes.fromhex(salt), n=16384, r=8, p=1, dklen=32)
    assert digest == expected.hex()
    assert session_hashes == [hashlib.sha256(token.encode()).hexdigest()]
    assert PASSWORD not in stored_hash and token not in session_hashes


async def test_two_owners_with_one_password_get_different_hashes(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await owner_session(client, "13900000001")
    await owner_session(client, "13900000002")
    async with engine.connect() as connection:
        first, second = (await connection.execute(select(owners.c.password_hash))).scalars().all()
    assert first != second  # a salt of its own for each


@pytest.mark.parametrize(
    ("phone", "normalized"),
    [
        ("13812345678", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("008613812345678", "+8613812345678"),
        ("(+86) 138.1234.5678", "+8613812345678"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1-202-555-0143", "+12025550143"),
    ],
)
async def test_phone_numbers_are_kept_in_one_form(client: httpx.AsyncClient, phone: str, normalized: str) -> None:
    response = await client.post("/api/owners", json={"phone": phone, "name": "Han Meimei", "password": PASSWORD})
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == normalized


async def test_one_number_one_account(client: httpx.AsyncClient) -> None:
    await owner_session(client, "13812345678")
    again = await client.post("/api/owners", json={"phone": "+86 13812345678", "name": "X", "password": PASSWORD})
    assert_detail(again, 409)


async def test_two_sign_ups_racing_for_one_number_make_one_account(client: httpx.AsyncClient) -> None:
    body = {"phone": "13812345678", "name": "X", "password": PASSWORD}
    answers = await asyncio.gather(*(client.post("/api/owners", json=body) for _ in range(3)))
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409]


BAD_SIGN_UPS = [
    {"phone": "12345", "name": "X", "password": PASSWORD},  # neither form
    {"phone": "12812345678", "name": "X", "password": PASSWORD},  # no such mobile prefix
    {"phone": "+0123456789", "name": "X", "password": PASSWORD},  # no country code 0
    {"phone": "+1234567890123456", "name": "X", "password": PASSWORD},  # longer than E.164 allows
    {"phone": "1381234567８", "name": "X", "password": PASSWORD},  # a full-width digit
    {"phone": "13812345678", "name": "X", "password": "short"},
    {"phone": "13812345678", "name": "X", "password": "aaaaaaaaaa"},
    {"phone": "13812345678", "name": "X", "password": "12345678"},
    {"phone": "13812345678", "name": "X", "password": "Password"},
    {"phone": "13812345678", "name": "X", "password": "my13812345678"},
    {"phone": "13812345678", "name": "X", "password": "p" * 129},
    {"phone": "13812345678", "name": "", "password": PASSWORD},
    {"phone": "13812345678", "name": "   ", "password": PASSWORD},
    {"phone": "13812345678", "name": "a\x00b", "password": PASSWORD},
    {"phone": "13812345678", "name": "n" * 65, "password": PASSWORD},
    {"phone": 13812345678, "name": "X", "password": PASSWORD},
    {"phone": "13812345678", "name": "X", "password": 12345678901},
    {"phone": "13812345678", "name": "X"},
    {"phone": "13812345678", "name": "X", "password": PASSWORD, "role": "admin"},
    {"phone": "'; DROP TABLE owners; --", "name": "X", "password": PASSWORD},
]


async def test_bad_sign_ups_are_422(client: httpx.AsyncClient) -> None:
    for body in BAD_SIGN_UPS:
        assert_detail(await client.post("/api/owners", json=body), 422)
    assert (await client.get("/api/trackers", headers=OPERATOR)).status_code == 200  # nothing broke


async def test_a_failed_login_answers_the_same_for_unknown_and_wrong(client: httpx.AsyncClient) -> None:
    await owner_session(client, "13812345678")
    wrong = await client.post("/api/owners/login", json={"phone": "13812345678", "password": "not the password"})
    unknown = await client.post("/api/owners/login", json={"phone": "13912345678", "password": "not the password"})
    malformed = await client.post("/api/owners/login", json={"phone": "hello", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json() == unknown.json() == malformed.json() == {"detail": "wrong phone number or password"}


async def test_a_disabled_account_cannot_log_in_and_its_sessions_stop(
    client: httpx.AsyncClient, engine: AsyncEngine, clock: Clock
) -> None:
    headers = await owner_session(client, "13812345678")
    async with engine.begin() as connection:
        await connection.execute(update(owners).values(disabled_at=clock.now()))
    assert_detail(await client.get("/api/owners/me", headers=headers), 401)
    login = await client.post("/api/owners/login", json={"phone": "13812345678", "password": PASSWORD})
    assert login.json() == {"detail": "wrong phone number or password"}


async def test_sessions_expire(client: httpx.AsyncClient, clock: Clock) -> None:
    headers = await owner_session(client, "13812345678")
    clock.advance(days=29, hours=23)
    assert (await client.get("/api/owners/me", headers=headers)).status_code == 200
    clock.advance(hours=1)
    assert_detail(await client.get("/api/owners/me", headers=headers), 401)


async def test_logging_out_ends_only_that_session(client: httpx.AsyncClient) -> None:
    phone = "13812345678"
    first = await owner_session(client, phone)
    login = await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})
    second = {"Authorization": f"Bearer {login.json()['token']}"}
    assert (await client.post("/api/owners/logout", headers=first)).status_code == 204
    assert_detail(await client.get("/api/owners/me", headers=first), 401)
    assert (await client.get("/api/owners/me", headers=second)).status_code == 200


async def test_repeated_failures_lock_the_number_for_a_while(client: httpx.AsyncClient, clock: Clock) -> None:
    phone = "13812345678"
    await owner_session(client, phone)
    bad = {"phone": phone, "password": "guess-0000"}
    for _ in range(5):
        assert (await client.post("/api/owners/login", json=bad)).status_code == 401
    locked = await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})
    assert_detail(locked, 429)  # even the right password waits: the guesser must not learn it was right
    assert 1 <= int(locked.headers["retry-after"]) <= 901
    # Another number is not affected, and an unknown number locks the same way (nothing to tell them apart).
    other = await client.post("/api/owners/login", json={"phone": "13912345678", "password": "guess-0000"})
    assert other.status_code == 401
    clock.advance(seconds=901)
    assert (await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})).status_code == 200


async def test_failures_spread_out_in_time_do_not_lock(client: httpx.AsyncClient, clock: Clock) -> None:
    phone = "13812345678"
    await owner_session(client, phone)
    bad = {"phone": phone, "password": "guess-0000"}
    for _ in range(12):
        assert (await client.post("/api/owners/login", json=bad)).status_code == 401
        clock.advance(seconds=300)  # five failures never fall within 15 minutes
    assert (await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})).status_code == 200


async def test_unknown_numbers_lock_like_known_ones(client: httpx.AsyncClient) -> None:
    bad = {"phone": "13700000000", "password": "guess-0000"}
    codes = [(await client.post("/api/owners/login", json=bad)).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


async def test_guesses_sent_all_at_once_are_braked_like_guesses_in_a_row(client: httpx.AsyncClient) -> None:
    phone = "13812345678"
    await owner_session(client, phone)
    guesses = [client.post("/api/owners/login", json={"phone": phone, "password": f"guess-{n:04d}"})
               for n in range(12)]
    codes = sorted(response.status_code for response in await asyncio.gather(*guesses))
    assert codes == [401] * 5 + [429] * 7  # no more guesses judged than one after another
    locked = await client.post("/api/owners/login", json={"phone": phone, "password": PASSWORD})
    assert_detail(locked, 429)


BAD_LOGINS: list[object] = [
    {"phone": "13812345678"},
    {"password": PASSWORD},
    {"phone": "13812345678", "password": ""},
    {"phone": "13812345678", "password": None},
    {"phone": ["13812345678"], "password": PASSWORD},
    {"phone": "1" * 33, "password": PASSWORD},
    {"phone": "13812345678", "password": "x" * 129},
    {"phone": "13812345678", "password": PASSWORD, "remember": True},
    [],
    "login",
]


async def test_bad_login_bodies_are_422(client: httpx.AsyncClient) -> None:
    for body in BAD_LOGINS:
        assert_detail(await client.post("/api/owners/login", json=body), 422)


async def test_staff_tokens_are_not_owners_and_owners_are_not_staff(client: httpx.AsyncClient) -> None:
    owner = await owner_session(client, "13812345678")
    assert_detail(await client.get("/api/owners/me", headers=OPERATOR), 403)
    assert_detail(await client.post("/api/owners/logout", headers=OPERATOR), 403)
    for path in ("/api/sites", "/api/readings", "/api/dispatches", "/api/trackers", "/api/webhooks"):
        response = await client.get(path, headers=owner)
        assert_detail(response, 403)
        assert "owner" in response.json()["detail"]


async def test_hostile_bearer_tokens_are_401(client: httpx.AsyncClient) -> None:
    for token in ("x", "' OR 1=1 --", "A" * 300, "A" * 5000, "\u00e9\u00e8", "%00"):
        response = await client.get("/api/owners/me", headers={b"Authorization": f"Bearer {token}".encode()})
        assert_detail(response, 401)
