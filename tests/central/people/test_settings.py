"""The `[people]` settings: a closed table, a checked signing key and site ids."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from central.people.settings import PeopleSettings
from shaobing.access_list import private_key_text
from tests.central.people.conftest import SIGNING_KEY


def test_defaults_turn_the_list_off_and_send_nothing() -> None:
    settings = PeopleSettings()
    assert settings.watchlist_key is None and settings.access_list_key is None
    assert settings.limit_of("mine-1") == 0


def test_per_mine_limits() -> None:
    settings = PeopleSettings(underground_limit=50, underground_limits={"mine-2": 7})
    assert (settings.limit_of("mine-1"), settings.limit_of("mine-2")) == (50, 7)


@pytest.mark.parametrize("values", [
    {"access_list_key": "not base64!"},
    {"access_list_key": private_key_text(SIGNING_KEY)[:-8]},
    {"watchlist_key": "short"},
    {"underground_limits": {"Not A Site": 3}},
    {"underground_limits": {"mine-1": -1}},
    {"unknown": 1},
])
def test_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PeopleSettings.model_validate(values)
