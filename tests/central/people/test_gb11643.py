"""GB 11643 ID numbers as central checks them (the ID card driver's rules): check character, birth date, shape."""

from __future__ import annotations

import pytest

from drivers.idcard.gb11643 import check_character as check_char
from drivers.idcard.gb11643 import is_valid, normalize


def test_the_standards_example_is_valid() -> None:
    assert is_valid("11010519491231002X")
    assert check_char("11010519491231002") == "X"


def test_a_hand_written_lower_case_x_is_normalized() -> None:
    assert normalize(" 11010519491231002x ") == "11010519491231002X"
    assert is_valid(normalize("11010519491231002x"))


@pytest.mark.parametrize("number", [
    "110105194912310021",  # wrong check character
    "11010519491331002X",  # month 13 (check character recomputed below would not save it)
    "11010519490230002X",  # 30 February
    "11010518001231002X",  # born before 1880
    "1101051949123100",  # too short
    "11010519491231002XX",  # too long
    "1101051949123100X2",  # X in the body
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    "",
    "' OR 1=1 --",
])
def test_refused(number: str) -> None:
    assert not is_valid(number)


def test_a_real_date_with_a_right_check_character_is_valid_in_every_month() -> None:
    for month in range(1, 13):
        first17 = f"4403041985{month:02d}15123"
        assert is_valid(first17 + check_char(first17))
