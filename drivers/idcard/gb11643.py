"""GB 11643-1999 citizen identity numbers: check digit, region, birth date. No I/O; central reuses it.

    RRRRRR YYYYMMDD SSS C      region (6), birth date (8), sequence (3, odd = male), check character

The check character is '10X98765432'[sum(digit * weight) % 11] with weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2.
Hong Kong / Macao / Taiwan residence permits use the regions 810000 / 820000 / 830000 with the same check; the 2023
foreigner's permanent residence number starts with 9 (then the province of acceptance and a 3-digit nationality code)
and uses the same check. The region is checked to its province (the first two digits, GB/T 2260); the county list
changes every year and is not kept here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH = date(1880, 1, 1)

# GB/T 2260 province-level codes: the first two digits of every mainland region code.
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
})
PERMIT_REGIONS = {"810000": "hong_kong", "820000": "macao", "830000": "taiwan"}


@dataclass(frozen=True, slots=True)
class Gb11643Result:
    """What a number says about itself. `valid` is the verdict; `problem` says why not, in a few words."""

    id_number: str
    valid: bool
    problem: str | None = None
    kind: str | None = None  # resident, hk_macao_taiwan, foreigner
    region: str | None = None
    birth_date: date | None = None
    gender: str | None = None  # male (odd sequence) or female


def normalize(text: str) -> str:
    """Upper case without surrounding spaces: a lower-case x is written by hand at a counter."""
    return text.strip().upper()


def check_character(first17: str) -> str:
    """The check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def check(id_number: str, *, today: date | None = None) -> Gb11643Result:
    """Check one number; `today` bounds the birth date (default: the system's date)."""
    number = normalize(id_number)

    def bad(problem: str) -> Gb11643Result:
        return Gb11643Result(id_number=number, valid=False, problem=problem)

    if len(number) != 18:
        return bad(f"length {len(number)}, expected 18")
    if not number.isascii() or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return bad("not 17 digits and a digit or X")
    region = number[:6]
    if region in PERMIT_REGIONS:
        kind = "hk_macao_taiwan"
    elif region[0] == "9":
        kind = "foreigner"
        if region[1:3] not in PROVINCES:
            return bad(f"province of acceptance {region[1:3]} unknown")
    elif region[:2] in PROVINCES:
        kind = "resident"
    else:
        return bad(f"region {region} unknown")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return bad(f"birth date {number[6:14]} impossible")
    if not EARLIEST_BIRTH <= birth <= (today or date.today()):
        return bad(f"birth date {birth.isoformat()} out of range")
    expected = check_character(number[:17])
    if number[17] != expected:
        return bad(f"check character {number[17]}, expected {expected}")
    return Gb11643Result(id_number=number, valid=True, kind=kind, region=region, birth_date=birth,
                         gender="male" if int(number[16]) % 2 else "female")


def is_valid(id_number: str, *, today: date | None = None) -> bool:
    return check(id_number, today=today).valid


def mask(id_number: str) -> str:
    """The number as logs and pages may show it: region and the last four kept, birth date hidden."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
