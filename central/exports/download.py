"""The file name a track download is offered under: the bike's plate (or name) and the time window, nothing else.

`Content-Disposition` carries an ASCII `filename` for old clients and the UTF-8 `filename*` (RFC 6266 / RFC 5987) for
plates such as 京A12345; both are reduced to letters, digits, `-` and `_`, so no name can smuggle a path, a quote or a
header break. The owner's name and phone are never part of it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^\w-]+")
MAX_LABEL = 40


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def _label(pattern: re.Pattern[str], plate: str | None, name: str) -> str:
    for candidate in (plate or "", name):
        cleaned = pattern.sub("-", candidate).strip("-_")[:MAX_LABEL]
        if cleaned:
            return cleaned
    return "bike"


def content_disposition(*, plate: str | None, name: str, start: datetime, end: datetime, extension: str) -> str:
    window = f"{_stamp(start)}-{_stamp(end)}.{extension}"
    ascii_name = f"track-{_label(_UNSAFE_ASCII, plate, name)}-{window}"
    full_name = f"track-{_label(_UNSAFE, plate, name)}-{window}"
    header = f'attachment; filename="{ascii_name}"'
    if full_name != ascii_name:
        header += f"; filename*=UTF-8''{quote(full_name, safe='')}"
    return header
