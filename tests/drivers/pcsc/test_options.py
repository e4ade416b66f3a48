"""The driver's configuration table: found by type, closed, checked."""

from __future__ import annotations

import pytest

from drivers.base import create_driver
from drivers.pcsc.driver import PcscDriver
from shaobing.errors import ConfigError


def test_the_driver_is_found_by_its_type_with_defaults() -> None:
    driver = create_driver({"type": "pcsc", "reader": "ACS ACR122U", "door": "pithead-in"}, source="site.toml")
    assert isinstance(driver, PcscDriver)
    assert driver.name == "pcsc"
    assert (driver.options.poll_interval, driver.options.read_timeout, driver.options.offline_after) == (0.5, 3.0, 60)


@pytest.mark.parametrize(("table", "message"), [
    ({"door": "pithead-in"}, "reader: Field required"),
    ({"reader": "ACS"}, "door: Field required"),
    ({"reader": "", "door": "pithead-in"}, "reader: String should have at least 1 character"),
    ({"reader": "ACS", "door": "pithead-in", "poll": 1}, "poll: unknown key"),
    ({"reader": "ACS", "door": "pithead-in", "poll_interval": 0}, "poll_interval: Input should be greater than 0"),
    ({"reader": "ACS", "door": "pithead-in", "retry_min": 5, "retry_max": 1}, "retry_max \\(1\\) is less than"),
])
def test_a_bad_table_names_the_file_and_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"site.toml: driver 'pcsc': .*{message}"):
        create_driver({"type": "pcsc", **table}, source="site.toml")
