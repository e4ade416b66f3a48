"""The watch-list's CSV: `id_number,name,reason,case_ref`, UTF-8 with or without a BOM, a header line first.

All or nothing: a file with any bad row imports nothing, and the answer lists the bad rows by line (the first
`MAX_REPORTED` of them, and how many in all), so the sender fixes the file and sends it again whole. A partly imported
list would leave the police unsure which persons are sought. An ID number twice in a file is not an error: the later
row wins (a list assembled from several cases), and the answer counts them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from drivers.idcard import gb11643

COLUMNS = ("id_number", "name", "reason", "case_ref")
MAX_REPORTED = 100
LIMITS = {"name": 64, "reason": 500, "case_ref": 64}


@dataclass(frozen=True, slots=True)
class Entry:
    id_number: str
    name: str
    reason: str
    case_ref: str


@dataclass
class Parsed:
    entries: dict[str, Entry] = field(default_factory=dict)  # by ID number: the later row wins
    rows: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong), the first MAX_REPORTED
    error_count: int = 0

    def refuse(self, line: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append((line, reason))


def _decode(data: bytes, parsed: Parsed) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        parsed.refuse(line, f"not UTF-8 at byte {error.start} ({data[error.start:error.start + 4].hex()})")
        return None


def _header(row: list[str]) -> str | None:
    names = [name.strip().lower() for name in row]
    if sorted(names) != sorted(COLUMNS):
        return f"the header must name the columns {','.join(COLUMNS)} (in any order), not {','.join(names)[:200]}"
    return None


def _row(values: dict[str, str]) -> Entry | str:
    number = gb11643.normalize(values["id_number"])
    if not gb11643.is_valid(number):
        return "id_number is not a valid 18-character ID number (GB 11643)"
    for name, limit in LIMITS.items():
        if len(values[name].strip()) > limit:
            return f"{name} is longer than {limit} characters"
    for name, value in values.items():
        if any(ord(char) < 32 and char not in "\t" for char in value):
            return f"{name} holds a control character"
    return Entry(number, values["name"].strip(), values["reason"].strip(), values["case_ref"].strip())


def parse(data: bytes) -> Parsed:
    parsed = Parsed()
    text = _decode(data, parsed)
    if text is None:
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    order: list[str] | None = None
    try:
        for row in reader:
            if not row or all(not value.strip() for value in row):
                continue  # blank lines, a trailing newline
            line = reader.line_num
            if order is None:
                problem = _header(row)
                if problem is not None:
                    parsed.refuse(line, problem)
                    return parsed
                order = [name.strip().lower() for name in row]
                continue
            parsed.rows += 1
            if len(row) != len(COLUMNS):
                parsed.refuse(line, f"{len(row)} fields, not {len(COLUMNS)}")
                continue
            entry = _row(dict(zip(order, row, strict=True)))
            if isinstance(entry, str):
                parsed.refuse(line, entry)
                continue
            if entry.id_number in parsed.entries:
                parsed.duplicates += 1
            parsed.entries[entry.id_number] = entry
    except csv.Error as error:
        parsed.refuse(reader.line_num, f"not CSV: {error}")
    if order is None and parsed.error_count == 0:
        parsed.refuse(1, f"the file is empty: a header line {','.join(COLUMNS)} is required")
    return parsed
