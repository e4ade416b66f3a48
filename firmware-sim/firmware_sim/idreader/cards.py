"""Cards for the simulated reader, built from a person's fields with a valid GB 11643 number.

The number is made from the region, birth date and a sequence whose parity follows the gender (odd male, even female),
with its check character computed, so any person a test or the demo needs is a card the driver accepts.
"""

from __future__ import annotations

from datetime import date

from drivers.idcard.gb11643 import check_character
from drivers.idcard.nations import CODES_BY_NAME
from drivers.idcard.text import CardText


def id_number(region: str, birth: date, sequence: int, gender: str) -> str:
    """A GB 11643 number; the sequence's last digit is bumped to the gender's parity."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region {region!r}: six digits")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence 0..999")
    if (sequence % 2 == 1) != (gender == "male"):
        sequence = sequence + 1 if sequence < 999 else sequence - 1
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def resident(name: str, *, gender: str = "male", nation: str = "汉", birth: date = date(1990, 5, 17),
             region: str = "440305", sequence: int = 123, address: str = "广东省深圳市南山区科技园路1号",
             authority: str = "深圳市公安局南山分局", valid_from: date = date(2015, 3, 1),
             valid_to: date | None = date(2035, 3, 1)) -> CardText:
    """A resident ID card; `nation` by its name on the card ("汉", "蒙古"); valid_to None is long-term."""
    if nation not in CODES_BY_NAME:
        raise ValueError(f"nation {nation!r} is not in GB 3304")
    return CardText(card_type="resident", name=name, gender=gender, birth_date=birth,
                    id_number=id_number(region, birth, sequence, gender), valid_from=valid_from, valid_to=valid_to,
                    nation_code=CODES_BY_NAME[nation], address=address, authority=authority)


def residence_permit(name: str, *, origin: str = "hong_kong", gender: str = "female",
                     birth: date = date(1994, 8, 23), sequence: int = 2, address: str = "广东省深圳市福田区福华路2号",
                     authority: str = "深圳市公安局福田分局", pass_number: str = "H60123456", issue_count: str = "01",
                     valid_from: date = date(2019, 1, 2), valid_to: date = date(2024, 1, 2)) -> CardText:
    """A Hong Kong / Macao / Taiwan residence permit ("J")."""
    region = {"hong_kong": "810000", "macao": "820000", "taiwan": "830000"}[origin]
    return CardText(card_type="hk_macao_taiwan", name=name, gender=gender, birth_date=birth,
                    id_number=id_number(region, birth, sequence, gender), valid_from=valid_from, valid_to=valid_to,
                    address=address, authority=authority, pass_number=pass_number, issue_count=issue_count)


def foreigner(name_en: str, *, name: str = "", gender: str = "male", nationality: str = "CAN",
              birth: date = date(1980, 2, 29), number: str = "CAN310080022901", valid_from: date = date(2018, 6, 1),
              valid_to: date = date(2028, 6, 1), authority_code: str = "3100", card_version: str = "01") -> CardText:
    """A 2017 foreigner's permanent residence card ("I"): English name, 15-character number, nationality."""
    return CardText(card_type="foreigner", name=name or name_en, name_en=name_en, gender=gender, birth_date=birth,
                    id_number=number, valid_from=valid_from, valid_to=valid_to, nationality=nationality,
                    authority_code=authority_code, card_version=card_version)


def demo_cards() -> list[CardText]:
    """Tenants registering at a rental building's service point."""
    return [
        resident("王小明", birth=date(1991, 1, 1), region="360426", sequence=7),
        resident("阿依古丽", gender="female", nation="维吾尔", birth=date(1988, 11, 30), region="650102", sequence=44,
                 address="新疆乌鲁木齐市天山区解放北路8号", authority="乌鲁木齐市公安局天山分局", valid_to=None),
        residence_permit("陈美玲"),
        foreigner("SMITH, JOHN"),
    ]
