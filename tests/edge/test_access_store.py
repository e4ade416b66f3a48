"""The allow-list store on a real SQLite file: decisions, refusals that keep the list in force, restarts, a crash
mid-apply."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from drivers.base import AccessDecision
from edge.access import AccessStore, canonical_card
from shaobing.access_list import entry, private_key_text, sign, unsigned

LOG = logging.getLogger("test.access")
KEY = Ed25519PrivateKey.generate()
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ISSUED = "2026-11-24T11:00:00.000Z"

ENTRIES = [
    entry("04A1B2C3", person="Ana", doors=["*"]),
    entry("04a1b2c4d5e6f7", person="Ben", doors=["front", "store"]),
    entry("W26:012:00345", person="Caro", doors=["front"]),
    entry("0A0B0C0D", person="Dan", valid_from="2026-12-01T00:00:00Z"),
    entry("0E0F1011", person="Eve", valid_to="2026-11-24T12:00:00Z"),
    # Two windows for one card: the first is over, the second grants the back door only.
    entry("12345678", person="Fay", valid_to="2026-11-01T00:00:00Z"),
    entry("12345678", person="Fay", doors=["back"], valid_from="2026-11-01T00:00:00Z"),
]


def signed(version: int, entries: list[dict[str, Any]] | None = None, *, site: str = "shop-a",
           key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    return sign(unsigned(site, version, ENTRIES if entries is None else entries, issued_at=ISSUED), key)


def store_at(path: Path, *, key: Ed25519PrivateKey | None = KEY, site: str = "shop-a",
             max_entries: int = 1000) -> AccessStore:
    return AccessStore(path, site, public_key=None if key is None else key.public_key(), log=LOG,
                       max_entries=max_entries)


def decisions(store: AccessStore) -> list[AccessDecision]:
    """A fixed set of questions, to compare the list in force before and after."""
    asked = [("04A1B2C3", "front"), ("04A1B2C4D5E6F7", "store"), ("04A1B2C4D5E6F7", "back"), ("W26:12:345", "front"),
             ("0A0B0C0D", "front"), ("0E0F1011", "front"), ("12345678", "back"), ("12345678", "front"),
             ("DEADBEEF", "front")]
    return [store.decide(card, door, NOW) for card, door in asked]


async def test_before_any_list_every_card_is_refused_as_no_list(tmp_path: Path) -> None:
    store = store_at(tmp_path / "a.db")
    assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "no_list")
    async with store:
        assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "no_list")
        assert store.status()["version"] is None


async def test_decisions_follow_the_applied_list(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        result = await store.apply(signed(1))
        assert (result.ok, result.reason, result.detail) == (True, "applied", "applied version 1 (6 cards)")
        assert store.decide("04A1B2C3", "any-door", NOW) == AccessDecision(True, "granted", "Ana")
        assert store.decide("04A1B2C4D5E6F7", "store", NOW) == AccessDecision(True, "granted", "Ben")
        assert store.decide("04A1B2C4D5E6F7", "back", NOW) == AccessDecision(False, "door_not_allowed", "Ben")
        assert store.decide("W26:12:345", "front", NOW) == AccessDecision(True, "granted", "Caro")
        assert store.decide("0A0B0C0D", "front", NOW) == AccessDecision(False, "not_yet_valid", "Dan")
        assert store.decide("0E0F1011", "front", NOW) == AccessDecision(False, "expired", "Eve")  # valid_to excluded
        assert store.decide("12345678", "back", NOW) == AccessDecision(True, "granted", "Fay")
        assert store.decide("12345678", "front", NOW) == AccessDecision(False, "door_not_allowed", "Fay")
        assert store.decide("DEADBEEF", "front", NOW) == AccessDecision(False, "unknown_card")
        status = store.status()
    assert {k: status[k] for k in ("version", "issued_at", "entries", "cards")} == {
        "version": 1, "issued_at": ISSUED, "entries": 7, "cards": 6}
    assert status["applied_at"] is not None


async def test_a_card_read_in_another_case_or_with_leading_zeros_is_the_same_card(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        assert store.decide("04a1b2c3", "front", NOW).granted
        assert store.decide("w26:0012:345", "front", NOW).granted
        assert store.decide("04A1B2C", "front", NOW) == AccessDecision(False, "unknown_card")  # half a byte
        assert store.decide("", "front", NOW) == AccessDecision(False, "unknown_card")
        assert store.decide("04-A1-B2-C3", "front", NOW) == AccessDecision(False, "unknown_card")


def test_canonical_card_names() -> None:
    assert canonical_card("04a1B2c3") == "04A1B2C3"
    assert canonical_card("W34:00001:000002") == "W34:1:2"
    assert canonical_card("W35:1:2") is None
    assert canonical_card("04A1B2C") is None
    assert canonical_card("04 A1") is None
    assert canonical_card("0" * 66) is None


async def test_a_naive_moment_is_taken_as_utc(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        assert store.decide("0E0F1011", "front", datetime(2026, 11, 24, 11, 59)).granted
        assert not store.decide("0E0F1011", "front", datetime(2026, 11, 24, 12, 0)).granted


async def test_a_list_applied_survives_a_restart(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        before, status = decisions(store), store.status()
    async with store_at(tmp_path / "a.db") as store:
        assert decisions(store) == before
        assert store.status() == status


async def test_a_revoked_card_is_refused_once_the_next_version_is_applied(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        assert store.decide("04A1B2C3", "front", NOW).granted
        result = await store.apply(signed(2, ENTRIES[1:]))
        assert result.detail == "applied version 2 (5 cards)"
        assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "unknown_card")
        assert store.decide("04A1B2C4D5E6F7", "front", NOW).granted
    async with store_at(tmp_path / "a.db") as store:
        assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "unknown_card")


async def test_an_empty_list_refuses_everyone_as_unknown(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        assert (await store.apply(signed(2, []))).detail == "applied version 2 (0 cards)"
        assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "unknown_card")


async def test_an_older_or_equal_version_is_refused_as_stale(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(5))
        before = decisions(store)
        for version in (5, 4):
            result = await store.apply(signed(version, []))
            assert (result.ok, result.reason) == (False, "stale")
            assert result.detail == f"stale: version {version} is not newer than version 5 in force; not applied"
        assert decisions(store) == before
    async with store_at(tmp_path / "a.db") as store:  # the version in force is kept across a restart too
        assert (await store.apply(signed(5, []))).reason == "stale"


def _altered(args: dict[str, Any]) -> dict[str, Any]:
    return {**args, "entries": [*args["entries"], entry("CAFEBABE", person="Mallory")]}


@pytest.mark.parametrize(("args", "reason", "detail"), [
    (signed(2, key=Ed25519PrivateKey.generate()), "rejected", "the signature does not match the list"),
    (_altered(signed(2)), "rejected", "the signature does not match the list"),
    (unsigned("shop-a", 2, ENTRIES, issued_at=ISSUED), "rejected", "the list is not signed"),
    ({**signed(2), "signature": "not base64!"}, "rejected", "the signature is not base64"),
    (signed(2, site="shop-b"), "rejected", "the list is for site 'shop-b', not 'shop-a'"),
    (signed(2, [entry(f"{n:08X}") for n in range(1001)]), "malformed", "too large: 1001 entries, more than the 1000"),
], ids=["forged", "altered", "unsigned", "signature-not-base64", "other-site", "too-many-entries"])
async def test_a_list_not_signed_for_this_site_or_too_long_is_refused_and_the_old_one_stays(
    tmp_path: Path, args: dict[str, Any], reason: str, detail: str
) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        before = decisions(store)
        result = await store.apply(args)
        assert (result.ok, result.reason) == (False, reason)
        assert detail in result.detail
        assert decisions(store) == before
        assert store.version == 1


def _malformed(change: dict[str, Any] | None = None, *, top: dict[str, Any] | None = None) -> dict[str, Any]:
    base = entry("04A1B2C3")
    return sign({**unsigned("shop-a", 2, [{**base, **(change or {})}], issued_at=ISSUED), **(top or {})}, KEY)


@pytest.mark.parametrize(("args", "detail"), [
    (_malformed({"card": 42}), "entries[0]: 'card' must be a string"),
    (_malformed({"card": "zz"}), "entries[0]: 'card' 'zz' is neither hex"),
    (_malformed({"card": None}), "entries[0]: 'card' must be a string"),
    (_malformed({"doors": "front"}), "entries[0]: 'doors' must be a non-empty list"),
    (_malformed({"doors": []}), "entries[0]: 'doors' must be a non-empty list"),
    (_malformed({"doors": ["front", 7]}), "entries[0]: 'doors' must be a non-empty list"),
    (_malformed({"person": ["Ana"]}), "entries[0]: 'person' must be a string"),
    (_malformed({"valid_from": "soon"}), "entries[0]: 'valid_from' must be a UTC timestamp"),
    (_malformed({"valid_to": 1764000000}), "entries[0]: 'valid_to' must be a UTC timestamp"),
    (_malformed({"valid_from": "2026-12-01T00:00:00Z", "valid_to": "2026-11-01T00:00:00Z"}),
     "entries[0]: 'valid_to' is before 'valid_from'"),
    (_malformed({"pin": "1234"}), "entries[0]: unknown keys 'pin'"),
    (_malformed(top={"version": "2"}), "'version' must be a positive integer"),
    (_malformed(top={"version": True}), "'version' must be a positive integer"),
    (_malformed(top={"version": 0}), "'version' must be a positive integer"),
    (_malformed(top={"entries": {"04A1B2C3": {}}}), "'entries' must be a list"),
    (_malformed(top={"entries": ["04A1B2C3"]}), "entries[0] must be an object"),
    (_malformed(top={"issued_at": None}), "'issued_at' must be a UTC timestamp"),
    (_malformed(top={"mode": "delta"}), "unknown keys 'mode'"),
], ids=lambda value: None if isinstance(value, dict) else value[:30])
async def test_a_malformed_list_is_refused_and_the_old_one_stays(
    tmp_path: Path, args: dict[str, Any], detail: str
) -> None:
    async with store_at(tmp_path / "a.db") as store:
        await store.apply(signed(1))
        before = decisions(store)
        result = await store.apply(args)
        assert (result.ok, result.reason) == (False, "malformed")
        assert result.detail.startswith("refused: malformed list: ")
        assert detail in result.detail
        assert decisions(store) == before
    async with store_at(tmp_path / "a.db") as store:
        assert decisions(store) == before


async def test_without_a_public_key_every_list_is_refused(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db", key=None) as store:
        result = await store.apply(signed(1))
        assert (result.ok, result.reason) == (False, "no_key")
        assert "no public key is configured" in result.detail
        assert store.decide("04A1B2C3", "front", NOW) == AccessDecision(False, "no_list")


async def test_the_file_of_another_site_is_not_opened(tmp_path: Path) -> None:
    async with store_at(tmp_path / "a.db"):
        pass
    with pytest.raises(ValueError, match="is the allow-list of site 'shop-a', not 'shop-b'"):
        await store_at(tmp_path / "a.db", site="shop-b").open()


CRASHING_APPLY = """
import asyncio, logging, sys
from pathlib import Path
from edge.access import AccessStore
from shaobing.access_list import entry, load_private_key, sign, unsigned

key = load_private_key(sys.argv[2])
args = sign(unsigned("shop-a", 2, [entry(f"{n:08X}", person=f"p{n}") for n in range(150_000)],
                     issued_at="2026-11-24T11:30:00Z"), key)

async def main() -> None:
    store = AccessStore(Path(sys.argv[1]), "shop-a", public_key=key.public_key(), log=logging.getLogger("child"),
                        max_entries=1_000_000)
    await store.open()
    await store.apply(args)

asyncio.run(main())
"""


def _apply_and_kill(path: Path) -> int:
    """Start applying a long version 2 in a child process and SIGKILL it while its rows are being written."""
    wal = path.with_name(path.name + "-wal")
    child = subprocess.Popen([sys.executable, "-c", CRASHING_APPLY, str(path), private_key_text(KEY)],
                             cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 60
        # Version 1 is a few pages: a log past a megabyte is version 2's rows, not yet committed.
        while child.poll() is None and (not wal.exists() or wal.stat().st_size < 1_000_000):
            assert time.monotonic() < deadline, "the child never got to writing"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        returncode = child.wait()
    return returncode


async def test_a_crash_in_the_middle_of_applying_leaves_the_old_list_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    async with store_at(path) as store:
        await store.apply(signed(1))
        before, status = decisions(store), store.status()
    returncode = await asyncio.to_thread(_apply_and_kill, path)
    assert returncode == -signal.SIGKILL, "the apply finished before it could be interrupted"
    async with store_at(path) as store:
        assert decisions(store) == before
        assert store.status() == status
        assert (await store.apply(signed(2))).ok  # and the file takes the next version


async def test_a_child_process_stopped_in_the_middle_of_applying_leaves_the_old_list_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    wal = path.with_name(path.name + "-wal")
    long = sign(unsigned("shop-a", 2, [entry(f"{n:08X}", person=f"p{n}") for n in range(150_000)],
                         issued_at=ISSUED), KEY)
    payload = json.dumps({"cmd_id": "long", "name": "access_list", "args": long}).encode()
    async with store_at(path, max_entries=1_000_000) as store:
        await store.apply(signed(1))
        before, status = decisions(store), store.status()
        applying = asyncio.create_task(store.apply_payload(payload, seen=()))
        async with asyncio.timeout(60):
            while not wal.exists() or wal.stat().st_size < 1_000_000:
                assert not applying.done(), "the child finished before it could be stopped"
                await asyncio.sleep(0.002)
        applying.cancel()  # the agent stopping: the child is killed mid-write
        with pytest.raises(asyncio.CancelledError):
            await applying
        assert decisions(store) == before
    async with store_at(path) as store:
        assert decisions(store) == before
        assert store.status() == status


async def test_cards_with_many_entries_keep_them_all(tmp_path: Path) -> None:
    windows = [entry("0A0A0A0A", person="Gus", doors=[f"door-{n}"]) for n in range(500)]
    async with store_at(tmp_path / "a.db") as store:
        assert (await store.apply(signed(1, windows))).detail == "applied version 1 (1 card)"
        assert store.decide("0A0A0A0A", "door-499", NOW).granted
        assert store.status()["entries"] == 500
    async with store_at(tmp_path / "a.db") as store:
        assert store.decide("0A0A0A0A", "door-0", NOW).granted
        assert not store.decide("0A0A0A0A", "door-500", NOW).granted
