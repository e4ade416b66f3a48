"""Door supervision without I/O (times are plain seconds), and the driver's closed configuration."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.base import create_driver
from drivers.osdp.door import DoorMonitor
from drivers.osdp.driver import OsdpDriver
from drivers.osdp.options import SCBK_D
from shaobing.envelope import Kind
from shaobing.errors import ConfigError

KEY = "00112233445566778899AABBCCDDEEFF"


def states(news: list[Any]) -> list[tuple[str, str]]:
    return [(n.data["state"], "door") if n.kind is Kind.DOOR else (n.data["class"], n.data["qualifier"])
            for n in news]


def monitor() -> DoorMonitor:
    door = DoorMonitor("gate", unlock_seconds=5, held_open_after=30)
    assert states(door.contact(False, 0)) == [("closed", "door")]
    return door


def test_opening_after_a_grant_is_not_forced_and_uses_up_the_grant() -> None:
    door = monitor()
    door.allow_opening(10)
    assert states(door.contact(True, 12)) == [("open", "door")]
    assert states(door.contact(False, 13)) == [("closed", "door")]
    assert states(door.contact(True, 14)) == [("forced", "door"), ("forced_door", "new")]


def test_opening_after_the_window_is_forced_and_restored_on_closing() -> None:
    door = monitor()
    door.allow_opening(10)
    assert states(door.contact(True, 15.5)) == [("forced", "door"), ("forced_door", "new")]
    assert door.contact(True, 16) == []  # no change, no news
    assert states(door.contact(False, 17)) == [("closed", "door"), ("forced_door", "restore")]


def test_held_open_alarms_once_per_opening() -> None:
    door = monitor()
    door.allow_opening(0)
    door.contact(True, 1)
    assert door.next_check() == 31
    assert door.tick(30.9) == []
    news = door.tick(31)
    assert states(news) == [("held", "door"), ("held_door", "new")]
    assert news[1].data == {"class": "held_door", "source": "door", "zone": "gate", "door": "gate",
                            "qualifier": "new"}
    assert door.tick(100) == [] and door.next_check() is None
    assert states(door.contact(False, 101)) == [("closed", "door"), ("held_door", "restore")]


def test_forced_then_held_restores_both() -> None:
    door = monitor()
    door.contact(True, 1)
    door.tick(40)
    assert states(door.contact(False, 41)) == [("closed", "door"), ("forced_door", "restore"),
                                               ("held_door", "restore")]


def test_a_door_found_open_is_reported_not_alarmed() -> None:
    door = DoorMonitor("gate", unlock_seconds=5, held_open_after=30)
    assert states(door.contact(True, 100)) == [("open", "door")]


def options(**extra: Any) -> dict[str, Any]:
    return {"type": "osdp", "port": "/dev/ttyUSB0", **extra}


def test_a_complete_table_builds_the_driver() -> None:
    driver = create_driver(options(scbk=KEY, door="gate", baudrate=115200, address=3), source="site.toml")
    assert isinstance(driver, OsdpDriver)
    assert driver.options.key == bytes.fromhex(KEY) and driver.options.door == "gate"


@pytest.mark.parametrize(("extra", "message"), [
    ({}, "scbk is required"),
    ({"scbk": SCBK_D.hex()}, "install-mode key"),
    ({"scbk": "00" * 15}, "16 bytes"),
    ({"scbk": "zz" * 16}, "hex"),
    ({"scbk": KEY, "secure": False}, "remove one"),
    ({"scbk": KEY, "baudrate": 19200}, "baudrate"),
    ({"scbk": KEY, "address": 127}, "address"),
    ({"scbk": KEY, "unlock_seconds": 30}, "unlock_seconds"),
    ({"scbk": KEY, "exit_request_input": 0}, "different inputs"),
    ({"scbk": KEY, "colour": "red"}, "colour: unknown key"),
])
def test_bad_tables_are_refused_naming_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        create_driver(options(**extra), source="site.toml")
    assert "site.toml" in str(caught.value)


def test_secure_false_must_be_written_out() -> None:
    driver = create_driver(options(secure=False), source="site.toml")
    assert isinstance(driver, OsdpDriver) and driver.options.key is None
