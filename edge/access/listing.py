"""One allow-list, checked field by field and held for decisions: a dict from card to its grants.

`parse_list` turns the `access_list` args (already verified as signed for this site) into an `AllowList`, or raises
`MalformedList` naming the first bad field. `AllowList.decide` is a dict look-up and a few comparisons: no I/O.
A card may have several entries (another door set, another validity window); any one that grants, grants.
Validity is `valid_from <= at < valid_to`, either bound open when null.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from drivers.base import AccessDecision
from shaobing.access_list import ALL_DOORS
from shaobing.card_names import canonical_card
from shaobing.clock import parse_ts

TOP_KEYS = frozenset({"site", "version", "issued_at", "entries", "signature"})
ENTRY_KEYS = frozenset({"card", "person", "doors", "valid_from", "valid_to"})
MAX_TEXT = 200  # a person's or a door's name

UNKNOWN = AccessDecision(False, "unknown_card")


class MalformedList(ValueError):
    """The list breaks the format; nothing of it is applied."""


class Grant(NamedTuple):
    person: str | None
    doors: frozenset[str] | None  # None: every door of the site
    valid_from: float | None  # POSIX seconds
    valid_to: float | None

    def doors_text(self) -> str:
        """The doors as the store's table holds them."""
        return json.dumps([ALL_DOORS] if self.doors is None else sorted(self.doors))


@dataclass(frozen=True)
class AllowList:
    site: str
    version: int
    issued_at: str
    cards: dict[str, tuple[Grant, ...]]
    entries: int

    def decide(self, card: str, door: str, at: datetime) -> AccessDecision:
        grants = self.cards.get(card)
        if grants is None:
            # Drivers name cards canonically; normalise only what does not match as given.
            canonical = canonical_card(card)
            grants = self.cards.get(canonical) if canonical is not None else None
            if grants is None:
                return UNKNOWN
        moment = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()
        person: str | None = None
        current = later = False
        for grant in grants:
            person = person or grant.person
            if grant.valid_from is not None and moment < grant.valid_from:
                later = True
            elif grant.valid_to is not None and moment >= grant.valid_to:
                continue
            elif grant.doors is None or door in grant.doors:
                return AccessDecision(True, "granted", grant.person)
            else:
                current = True
        # The reason that says most: valid now but not here, else valid later, else expired.
        reason = "door_not_allowed" if current else "not_yet_valid" if later else "expired"
        return AccessDecision(False, reason, person)


def group(rows: Iterable[tuple[str, Grant]]) -> tuple[dict[str, tuple[Grant, ...]], int]:
    """Cards to their grants, and how many entries there were."""
    cards: dict[str, tuple[Grant, ...]] = {}
    several: dict[str, list[Grant]] = {}  # cards with more than one entry, gathered in lists (not tuple upon tuple)
    count = 0
    for card, grant in rows:
        known = cards.get(card)
        if known is None:
            cards[card] = (grant,)
        else:
            several.setdefault(card, list(known)).append(grant)
        count += 1
    for card, grants in several.items():
        cards[card] = tuple(grants)
    return cards, count


def check_shape(args: Mapping[str, Any], max_entries: int) -> int:
    """Check what must hold before the signature is worth checking; the list's version."""
    unknown = sorted(set(args) - TOP_KEYS)
    if unknown:
        raise MalformedList(f"unknown keys {', '.join(map(repr, unknown))}")
    version = args.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MalformedList("'version' must be a positive integer")
    entries = args.get("entries")
    if not isinstance(entries, list):
        raise MalformedList("'entries' must be a list")
    if len(entries) > max_entries:
        raise MalformedList(f"too large: {len(entries)} entries, more than the {max_entries} this site takes "
                            "([access] max_entries)")
    return version


def parse_list(args: Mapping[str, Any], max_entries: int) -> AllowList:
    version = check_shape(args, max_entries)
    site = args.get("site")
    if not isinstance(site, str):
        raise MalformedList("'site' must be a string")
    issued_at = args.get("issued_at")
    if not isinstance(issued_at, str) or _timestamp(issued_at) is None:
        raise MalformedList("'issued_at' must be a UTC timestamp (ISO 8601)")
    door_sets: dict[tuple[str, ...], frozenset[str] | None] = {}
    cards, count = group(_entry(index, raw, door_sets) for index, raw in enumerate(args["entries"]))
    return AllowList(site, version, issued_at, cards, count)


def door_set(names: list[str], known: dict[tuple[str, ...], frozenset[str] | None]) -> frozenset[str] | None:
    """The doors as a set shared by every grant with the same doors (a list of a million holds few door sets)."""
    key = tuple(names)
    if key not in known:
        known[key] = None if ALL_DOORS in names else frozenset(names)
    return known[key]


def _entry(index: int, raw: Any, door_sets: dict[tuple[str, ...], frozenset[str] | None]) -> tuple[str, Grant]:
    where = f"entries[{index}]"
    if not isinstance(raw, dict):
        raise MalformedList(f"{where} must be an object")
    if not ENTRY_KEYS.issuperset(raw):
        raise MalformedList(f"{where}: unknown keys {', '.join(map(repr, sorted(set(raw) - ENTRY_KEYS)))}")
    card = raw.get("card")
    if not isinstance(card, str):
        raise MalformedList(f"{where}: 'card' must be a string")
    canonical = canonical_card(card)
    if canonical is None:
        raise MalformedList(f"{where}: 'card' {card[:80]!r} is neither hex of whole bytes nor W26:/W34:facility:number")
    person = raw.get("person")
    if person is not None and (not isinstance(person, str) or len(person) > MAX_TEXT):
        raise MalformedList(f"{where}: 'person' must be a string of at most {MAX_TEXT} characters, or null")
    doors = raw.get("doors")
    if not isinstance(doors, list) or not doors or not all(
            isinstance(door, str) and 0 < len(door) <= MAX_TEXT for door in doors):
        raise MalformedList(f"{where}: 'doors' must be a non-empty list of door names, or [\"*\"]")
    valid_from = raw.get("valid_from")
    valid_to = raw.get("valid_to")
    if valid_from is not None:
        valid_from = _bound(where, "valid_from", valid_from)
    if valid_to is not None:
        valid_to = _bound(where, "valid_to", valid_to)
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise MalformedList(f"{where}: 'valid_to' is before 'valid_from'")
    return canonical, Grant(person, door_set(doors, door_sets), valid_from, valid_to)


def _bound(where: str, name: str, value: Any) -> float:
    moment = _timestamp(value) if isinstance(value, str) else None
    if moment is None:
        raise MalformedList(f"{where}: {name!r} must be a UTC timestamp (ISO 8601) or null")
    return moment


def _timestamp(text: str) -> float | None:
    try:
        return parse_ts(text).timestamp()
    except (ValueError, OverflowError):
        return None
