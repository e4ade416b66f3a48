"""Owner accounts' secrets: password hashing, the brute-force brake, and the owners' API settings.

Design decisions:
- Passwords are hashed with scrypt (stdlib `hashlib.scrypt`; memory-hard, so a stolen table is slow to attack on
  GPUs) with a random 16-byte salt per account, stored as `scrypt$n$r$p$salt_hex$hash_hex`: the parameters travel
  with the hash, so raising the cost later does not lock anyone out. Hashes are compared with `hmac.compare_digest`.
- Hashing costs ~16 MiB and tens of milliseconds: it runs in a worker thread so the event loop keeps serving, and a
  semaphore bounds how many run at once (memory stays bounded under a flood of logins).
- A login for an unknown phone number hashes the offered password against a dummy hash with the same parameters, so
  it takes as long as a wrong password for a real account and answers the same: phone numbers cannot be probed.
- Failed logins are counted per phone number (whether an account exists or not) in memory, in a bounded table: after
  `max_failures` within `failure_window_s` the number is refused for `lockout_s` (429 with Retry-After). An attempt
  is counted as failed when it starts and taken back when it succeeds, so a burst of concurrent guesses gets no more
  than `max_failures` of them judged. When the table
  is full the entry touched longest ago goes; that lets an attacker who sends `tracked_keys` distinct numbers buy a
  few more guesses, at the price of `tracked_keys` hashings: stated, and bounded. Several central processes each keep
  their own counts (a clustered deployment puts a rate limit at its proxy too).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field, field_validator

from shaobing.config import Closed

SALT_BYTES = 16
HASH_BYTES = 32
MAX_MEMORY = 128 * 1024 * 1024


class OwnersSettings(Closed):
    """The owners' API: sessions, the login brake, share links, track windows."""

    session_ttl_s: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    max_failures: int = Field(default=5, ge=1, le=100)  # failed logins (or claims) before a lockout
    failure_window_s: float = Field(default=900.0, gt=0, le=86_400)
    lockout_s: float = Field(default=900.0, gt=0, le=86_400)
    tracked_keys: int = Field(default=10_000, ge=10, le=1_000_000)  # phone numbers counted at most
    share_max_ttl_s: int = Field(default=7 * 86_400, ge=60, le=30 * 86_400)
    share_default_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    live_link_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400)  # the link handed to 110 with a theft
    max_active_links: int = Field(default=20, ge=1, le=1000)  # per bike
    max_track_days: int = Field(default=31, ge=1, le=366)
    scrypt_n: int = Field(default=2**14, ge=2**10, le=2**20)
    scrypt_r: int = Field(default=8, ge=1, le=32)
    scrypt_p: int = Field(default=1, ge=1, le=16)
    hashing_at_once: int = Field(default=4, ge=1, le=64)

    @field_validator("scrypt_n")
    @classmethod
    def _power_of_two(cls, n: int) -> int:
        if n & (n - 1):
            raise ValueError("scrypt_n must be a power of two")
        return n


# -- passwords ------------------------------------------------------------------------------------------------------


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=MAX_MEMORY, dklen=HASH_BYTES
    )


def hash_password(password: str, *, n: int, r: int, p: int) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${n}${r}${p}${salt.hex()}${_scrypt(password, salt, n, r, p).hex()}"


def verify_password(password: str, stored: str) -> bool:
    """False for a wrong password and for a stored value that is not a hash this module made."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
        offered = _scrypt(password, salt, n, r, p)
    except ValueError:
        return False
    return hmac.compare_digest(offered, expected)


class PasswordHasher:
    """scrypt in worker threads, a bounded number at once."""

    def __init__(self, settings: OwnersSettings) -> None:
        self._params = {"n": settings.scrypt_n, "r": settings.scrypt_r, "p": settings.scrypt_p}
        self._slots = asyncio.Semaphore(settings.hashing_at_once)
        # Verified when the phone number has no account, so that answer costs what a wrong password costs.
        self._dummy = hash_password(secrets.token_urlsafe(16), **self._params)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(hash_password, password, **self._params)

    async def verify(self, password: str, stored: str | None) -> bool:
        """`stored` None (no such account) takes the same time and is always False."""
        async with self._slots:
            matched = await asyncio.to_thread(verify_password, password, stored or self._dummy)
        return matched and stored is not None


# -- brute-force brake ----------------------------------------------------------------------------------------------


class FailureCounter:
    """Failures per key (a phone number, an owner claiming bikes) in a sliding window; locked after too many."""

    def __init__(self, *, max_failures: int, window_s: float, lockout_s: float, capacity: int) -> None:
        self._max = max_failures
        self._window = window_s
        self._lockout = lockout_s
        self._capacity = capacity
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def locked_for(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self._max:
            return 0.0
        left = failures[-1] + self._lockout - now
        if left <= 0:
            del self._failures[key]  # served its time: a fresh start
            return 0.0
        return left

    def attempt(self, *keys: str, now: float) -> float:
        """Before an attempt is judged: seconds until every one of `keys` may try again (the longest wait), or 0 and
        the attempt is counted as a failure of each now (`succeeded` takes it back). Counting it before the slow part
        (hashing, the database) keeps attempts sent all at once from passing the check together before any of them
        has failed."""
        left = max(self.locked_for(key, now) for key in keys)
        if left == 0:
            for key in keys:
                self.failed(key, now)
        return left

    def failed(self, key: str, now: float) -> None:
        failures = [moment for moment in self._failures.pop(key, []) if now - moment < self._window]
        failures.append(now)
        self._failures[key] = failures[-self._max :]
        while len(self._failures) > self._capacity:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)


def failure_counter(settings: OwnersSettings) -> FailureCounter:
    """A brake with the configured limits (the owners' log-ins and claims, the staff's log-ins)."""
    return FailureCounter(
        max_failures=settings.max_failures,
        window_s=settings.failure_window_s,
        lockout_s=settings.lockout_s,
        capacity=settings.tracked_keys,
    )


class OwnerAccounts:
    """What the owners' routes share across requests: settings, the hasher and the failure counters."""

    def __init__(self, settings: OwnersSettings) -> None:
        self.settings = settings
        self.hasher = PasswordHasher(settings)
        self.logins = self._counter()
        self.claims = self._counter()

    def _counter(self) -> FailureCounter:
        return failure_counter(self.settings)


def _accounts(request: Request) -> OwnerAccounts:
    accounts: OwnerAccounts = request.app.state.owner_accounts
    return accounts


Accounts = Annotated[OwnerAccounts, Depends(_accounts)]
