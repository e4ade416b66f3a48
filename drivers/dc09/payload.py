"""The event data inside a DC-09 message: SIA-DCS blocks (`#1234|Nri1/BA01`) and ADM-CID (`#1234|1130 01 015`).

A frame can be well formed while its data is not understood; that is a `FrameError` whose reason starts with `data:`
(the receiver answers DUH to it, as DC-09 prescribes for messages it cannot process).
"""

from __future__ import annotations

import re

from drivers.dc09.message import AdmCidEvent, SiaData, SiaEvent
from shaobing.errors import FrameError

_MODIFIER = re.compile(r"([a-z]{2})([^/A-Z]*)")
_EVENT = re.compile(r"([A-Z]{2})(\d{0,6})([^/]*)")
_ADM_CID = re.compile(r"(?:#([0-9A-Fa-f]{3,16}))?\|(\d)(\d{3}) (\d{2}) (\d{3})")
_QUALIFIERS = {"1": "new", "3": "restore", "6": "repeat"}


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _events_of_block(block: str) -> list[SiaEvent]:
    """Events of one `N` block: `ri1/BA01/BA02`, `ri2BA3`, `id12/ri1/CL`, `RR`; modifiers apply to later events."""
    events: list[SiaEvent] = []
    partition: int | None = None
    user: int | None = None
    pos = 0
    while pos < len(block):
        if block[pos] == "/":
            pos += 1
            continue
        modifier = _MODIFIER.match(block, pos)
        if modifier:
            name, value = modifier.groups()
            if name == "ri":
                partition = _number(value)
            elif name == "id":
                user = _number(value)
            pos = modifier.end()
            continue
        event = _EVENT.match(block, pos)
        if event is None:
            raise FrameError(f"data: cannot read a SIA event at {block[pos:pos + 12]!r}")
        code, address, rest = event.groups()
        text = rest.strip("^* ") or None
        events.append(SiaEvent(code=code, address=_number(address), partition=partition, user=user, text=text))
        pos = event.end()
    return events


def parse_sia_dcs(data: str) -> SiaData:
    """`#1234|Nri1/CL501`, `|Nri2/JC12`, `Nri1/WA000`, `#1234|NRR|Atest` -> account in the data, events, text."""
    account: str | None = None
    events: list[SiaEvent] = []
    texts: list[str] = []
    for segment in data.split("|"):
        if not segment:
            continue
        if segment.startswith("#"):
            if account is not None or events:
                raise FrameError(f"data: account block {segment!r} out of place")
            account = segment[1:]
        elif segment.startswith("N"):
            events.extend(_events_of_block(segment[1:]))
        elif segment.startswith("A"):
            texts.append(segment[1:])
        else:
            raise FrameError(f"data: unknown SIA-DCS block {segment[:12]!r}")
    if not events:
        raise FrameError(f"data: no SIA event in {data[:40]!r}")
    return SiaData(account=account, events=events, text=" ".join(texts) or None)


def parse_adm_cid(data: str) -> AdmCidEvent:
    """`#4F39|3401 01 057`: qualifier digit, event code, partition, zone or user."""
    match = _ADM_CID.fullmatch(data)
    if match is None:
        raise FrameError(f"data: ADM-CID data {data[:40]!r} is not '#acct|QXYZ GG CCC'")
    account, qualifier_digit, event_code, partition, zone_or_user = match.groups()
    qualifier = _QUALIFIERS.get(qualifier_digit)
    if qualifier is None:
        raise FrameError(f"data: ADM-CID qualifier {qualifier_digit} (expected 1, 3 or 6)")
    return AdmCidEvent(account=account, qualifier=qualifier, event_code=int(event_code), partition=int(partition),
                       zone_or_user=int(zone_or_user))
