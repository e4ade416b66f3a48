"""The card's 256-byte text block (UCS-2 little-endian, space padded), read into `CardText`, and written back. No I/O.

Four layouts, told apart by the character at offset 248 (offset/size in bytes):

| field | resident (space) | HK/Macao/Taiwan permit ("J") | foreigner 2017 ("I") | foreigner 2023 ("Y") |
| --- | --- | --- | --- | --- |
| name | 0/30 | 0/30 | Chinese 158/30, English 0/120 | 0/30, English 52/70 + 220/22 |
| gender (GB/T 2261.1) | 30/2 | 30/2 | 120/2 | 30/2 |
| nation (GB 3304) | 32/4 | - | - | - |
| birth date YYYYMMDD | 36/16 | 36/16 | 220/16 | 36/16 |
| address | 52/70 | 52/70 | - | - |
| ID number | 122/36 | 122/36 | 122/30 | 122/36 |
| issuing authority | 158/30 | 158/30 | code 240/8 | - |
| valid from / to | 188/16, 204/16 | 188/16, 204/16 | 188/16, 204/16 | 188/16, 204/16 |
| other | - | pass no. 220/18, issues 238/4 | nationality 152/6, version 236/4 | nationality 242/6, renewals 32/4 |

A valid-to of "长期" (long-term) is read as `valid_to = None` with `long_term = True`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Final

from drivers.idcard.nations import NATIONS
from shaobing.errors import FrameError

TEXT_SIZE: Final = 256
TYPE_OFFSET: Final = 248
LONG_TERM: Final = "长期"
GENDERS: Final = {"0": "unknown", "1": "male", "2": "female", "9": "unspecified"}
CODES_BY_GENDER: Final = {name: code for code, name in GENDERS.items()}
CARD_TYPES: Final = {" ": "resident", "J": "hk_macao_taiwan", "I": "foreigner", "Y": "foreigner_2023"}
FLAGS_BY_CARD_TYPE: Final = {name: flag for flag, name in CARD_TYPES.items()}

Layout = dict[str, tuple[int, int]]
_COMMON: Final[Layout] = {"valid_from": (188, 16), "valid_to": (204, 16)}
LAYOUTS: Final[dict[str, Layout]] = {
    "resident": {"name": (0, 30), "gender": (30, 2), "nation": (32, 4), "birth": (36, 16), "address": (52, 70),
                 "id_number": (122, 36), "authority": (158, 30), **_COMMON},
    "hk_macao_taiwan": {"name": (0, 30), "gender": (30, 2), "birth": (36, 16), "address": (52, 70),
                        "id_number": (122, 36), "authority": (158, 30), **_COMMON, "pass_number": (220, 18),
                        "issue_count": (238, 4)},
    "foreigner": {"name_en": (0, 120), "gender": (120, 2), "id_number": (122, 30), "nationality": (152, 6),
                  "name": (158, 30), **_COMMON, "birth": (220, 16), "card_version": (236, 4),
                  "authority_code": (240, 8)},
    "foreigner_2023": {"name": (0, 30), "gender": (30, 2), "renewal_count": (32, 4), "birth": (36, 16),
                       "name_en": (52, 70), "id_number": (122, 36), **_COMMON, "name_en_more": (220, 22),
                       "nationality": (242, 6)},
}

_ID_CHARACTERS = re.compile(r"[0-9A-Z]+")
_NATIONALITY = re.compile(r"[A-Z]{3}")
_DATE = re.compile(r"\d{8}")


@dataclass(frozen=True, slots=True)
class CardText:
    card_type: str  # resident, hk_macao_taiwan, foreigner, foreigner_2023
    name: str
    gender: str  # male, female, unknown, unspecified
    birth_date: date
    id_number: str
    valid_from: date
    valid_to: date | None  # None: long-term (长期)
    nation_code: str | None = None
    address: str | None = None
    authority: str | None = None
    name_en: str | None = None
    nationality: str | None = None  # ISO 3166-1 alpha-3, foreigners' cards
    pass_number: str | None = None  # HK/Macao/Taiwan permit: the travel permit's number
    issue_count: str | None = None
    card_version: str | None = None
    authority_code: str | None = None
    renewal_count: str | None = None

    @property
    def nation(self) -> str | None:
        return NATIONS.get(self.nation_code) if self.nation_code else None

    @property
    def long_term(self) -> bool:
        return self.valid_to is None


def _field(block: bytes, where: tuple[int, int], what: str, frame: bytes) -> str:
    offset, size = where
    try:
        text = block[offset:offset + size].decode("utf-16-le")
    except UnicodeDecodeError:
        raise FrameError(f"bad UCS-2 in {what} at text offset {offset}", frame) from None
    text = text.rstrip(" \0")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise FrameError(f"control character in {what} at text offset {offset}", frame)
    return text


def _date(value: str, what: str, frame: bytes) -> date:
    if not _DATE.fullmatch(value):
        raise FrameError(f"bad date: {what} {value!r}, expected YYYYMMDD", frame)
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        raise FrameError(f"bad date: {what} {value} impossible", frame) from None


def card_type_of(block: bytes, frame: bytes = b"") -> str:
    flag = _field(block, (TYPE_OFFSET, 2), "card type flag", frame) or " "
    card_type = CARD_TYPES.get(flag)
    if card_type is None:
        raise FrameError(f"unknown card type flag {flag!r}", frame)
    return card_type


def parse_text(block: bytes, frame: bytes = b"") -> CardText:
    """Read a text block; FrameError (with `frame`, the whole response, as its bytes) for anything refused."""
    if len(block) != TEXT_SIZE:
        raise FrameError(f"text block of {len(block)} bytes, expected {TEXT_SIZE}", frame)
    card_type = card_type_of(block, frame)
    raw = {key: _field(block, where, key, frame) for key, where in LAYOUTS[card_type].items()}
    if "name_en_more" in raw:
        raw["name_en"] = (raw["name_en"] + raw.pop("name_en_more")).rstrip()
    for required in ("name", "id_number"):
        if not raw.get(required) and not (required == "name" and raw.get("name_en")):
            raise FrameError(f"missing field: {required}", frame)
    if raw["gender"] not in GENDERS:
        raise FrameError(f"unknown gender code {raw['gender']!r}", frame)
    nation_code = raw.get("nation") or None
    if card_type == "resident" and nation_code not in NATIONS:
        raise FrameError(f"unknown nation code {nation_code!r}", frame)
    nationality = raw.get("nationality") or None
    if nationality is not None and not _NATIONALITY.fullmatch(nationality):
        raise FrameError(f"bad nationality code {nationality!r}", frame)
    valid_from = _date(raw["valid_from"], "valid from", frame)
    valid_to = None if raw["valid_to"] == LONG_TERM else _date(raw["valid_to"], "valid to", frame)
    if valid_to is not None and valid_to < valid_from:
        raise FrameError(f"bad date: valid to {valid_to} before valid from {valid_from}", frame)
    birth = _date(raw["birth"], "birth date", frame)
    if birth > valid_from:
        raise FrameError(f"bad date: born {birth} after the card was issued {valid_from}", frame)
    # last, so a logged copy with the number starred (codec.redact) is refused for the same reason as the original
    if not _ID_CHARACTERS.fullmatch(raw["id_number"]):
        raise FrameError("bad ID number: characters other than digits and letters", frame)
    return CardText(
        card_type=card_type, name=raw["name"] or raw.get("name_en", ""), gender=GENDERS[raw["gender"]],
        birth_date=birth, id_number=raw["id_number"], valid_from=valid_from, valid_to=valid_to,
        nation_code=nation_code if card_type == "resident" else None,
        **{key: raw.get(key) or None for key in ("address", "authority", "name_en", "nationality", "pass_number",
                                                 "issue_count", "card_version", "authority_code",
                                                 "renewal_count")})


def encode_text(card: CardText) -> bytes:
    """The text block a card with these fields holds (what a simulated reader sends); ValueError if one does not fit."""
    layout = dict(LAYOUTS[card.card_type])
    values: dict[str, str] = {
        "name": card.name, "gender": CODES_BY_GENDER[card.gender], "nation": card.nation_code or "",
        "birth": card.birth_date.strftime("%Y%m%d"), "id_number": card.id_number,
        "valid_from": card.valid_from.strftime("%Y%m%d"),
        "valid_to": LONG_TERM if card.valid_to is None else card.valid_to.strftime("%Y%m%d"),
    }
    for key in ("address", "authority", "name_en", "nationality", "pass_number", "issue_count", "card_version",
                "authority_code", "renewal_count"):
        values[key] = getattr(card, key) or ""
    if card.card_type == "foreigner" and card.name == card.name_en:
        values["name"] = ""  # an English name alone, as cards without a Chinese name hold it
    if "name_en_more" in layout:
        first = layout["name_en"][1] // 2
        values["name_en"], values["name_en_more"] = values["name_en"][:first], values["name_en"][first:]
    block = bytearray(" ".encode("utf-16-le") * (TEXT_SIZE // 2))
    for key, (offset, size) in {**layout, "flag": (TYPE_OFFSET, 2)}.items():
        value = FLAGS_BY_CARD_TYPE[card.card_type] if key == "flag" else values[key]
        encoded = value.encode("utf-16-le")
        if len(encoded) > size:
            raise ValueError(f"{key} {value!r} does not fit in {size} bytes")
        block[offset:offset + len(encoded)] = encoded
    return bytes(block)
