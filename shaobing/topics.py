"""MQTT topic names of the v1 contract. Personal data never goes into a topic name."""

from __future__ import annotations

import re

from shaobing.envelope import Kind

ROOT = "shaobing/v1"
SHARED_GROUP = "central"

# Site ids become MQTT user names and topic levels: lower-case, no wildcards, no leading underscore (reserved for
# central's own broker users).
SITE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def is_valid_site_id(site: str) -> bool:
    return bool(SITE_ID_PATTERN.match(site))


def event(site: str, kind: Kind | str) -> str:
    return f"{ROOT}/{site}/event/{Kind(kind).value}"


def state(site: str) -> str:
    return f"{ROOT}/{site}/state"


def cmd(site: str) -> str:
    return f"{ROOT}/{site}/cmd"


def cmd_result(site: str) -> str:
    return f"{ROOT}/{site}/cmd/result"


def stored(site: str) -> str:
    """Central -> edge: the site's seqs central has committed (see shaobing.stored)."""
    return f"{ROOT}/{site}/stored"


ALL_EVENTS = f"{ROOT}/+/event/#"
ALL_STATES = f"{ROOT}/+/state"
ALL_CMD_RESULTS = f"{ROOT}/+/cmd/result"
SHARED_EVENTS = f"$share/{SHARED_GROUP}/{ALL_EVENTS}"


def site_of(topic: str) -> str | None:
    """The site level of a contract topic, or None for a topic outside the contract."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != ROOT:
        return None
    return parts[2]
