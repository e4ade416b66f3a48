"""GB 11643 numbers: the public vectors, and each way a number can be wrong."""

from __future__ import annotations

from datetime import date

import pytest

from drivers.idcard.gb11643 import check, check_character, is_valid, mask
from tests.vectors import load_vectors

VECTORS = load_vectors("gb11643.json")
TODAY = date(2026, 11, 24)


@pytest.mark.parametrize("number", VECTORS["valid"])
def test_valid_vectors(number: str) -> None:
    result = check(number, today=TODAY)
    assert result.valid, result.problem
    assert result.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert result.gender == ("male" if int(number[16]) % 2 else "female")
    assert is_valid(number, today=TODAY)


@pytest.mark.parametrize("number", VECTORS["invalid"])
def test_invalid_vectors(number: str) -> None:
    result = check(number, today=TODAY)
    assert not result.valid
    assert result.problem
    assert not is_valid(number, today=TODAY)


def test_kinds_by_region() -> None:
    assert check("11010519491231002X", today=TODAY).kind == "resident"
    assert check("810000199408230021", today=TODAY).kind == "hk_macao_taiwan"
    foreign = "931156198002290" + "01"
    number = foreign + check_character(foreign)
    assert check(number, today=TODAY).kind == "foreigner"


@pytest.mark.parametrize(("first17", "problem"), [
    ("99010519491231002", "province of acceptance"),
    ("00010519491231002", "region 000105 unknown"),
    ("11010519490231002", "birth date 19490231 impossible"),
    ("11010520301231002", "out of range"),
    ("11010518001231002", "out of range"),
])
def test_a_right_check_character_does_not_save_a_wrong_region_or_date(first17: str, problem: str) -> None:
    result = check(first17 + check_character(first17), today=TODAY)
    assert not result.valid
    assert result.problem is not None and problem in result.problem


@pytest.mark.parametrize("number", ["", "11010519491231002Ｘ", "1101051949123100２X", "11010519491231002Y", "x" * 18])
def test_not_digits(number: str) -> None:
    assert not check(number, today=TODAY).valid


def test_lower_case_x_and_spaces_are_taken() -> None:
    assert check(" 11010519491231002x ", today=TODAY).id_number == "11010519491231002X"
    assert is_valid("11010519491231002x", today=TODAY)


def test_mask_hides_the_birth_date() -> None:
    assert mask("11010519491231002X") == "110105********002X"
    assert mask("CAN310080022901") == "CAN310*****2901"
    assert mask("1234") == "****"
