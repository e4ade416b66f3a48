"""GT06 packets as contract readings, and the gateway's closed configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from drivers.base import create_driver
from drivers.gt06.builder import Cell, alarm_frame, heartbeat_frame, lbs_frame, location_frame, login_frame
from drivers.gt06.codec import parse_frame
from drivers.gt06.driver import Gt06Server, create
from drivers.gt06.framing import unwrap
from drivers.gt06.readings import readings_for
from drivers.gt06.replies import encode_frame
from shaobing.envelope import Kind, Reading
from shaobing.errors import ConfigError
from tests.vectors import load_vectors

IMEI = "864717003664467"
RX = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
FIX = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
FRAMES = [bytes.fromhex(case["frame"]) for case in load_vectors("gt06.json")["vectors"]]


def readings(frame: bytes) -> list[Reading]:
    return readings_for(parse_frame(frame), IMEI, rx=RX)


def test_a_location_is_one_gps_position_timed_by_its_fix() -> None:
    [position] = readings(location_frame(1, fix_time=FIX, lat=22.5, lon=114.1, speed_kmh=18, course=90,
                                         satellites=9, acc=True))
    assert position.kind is Kind.POSITION and position.device == IMEI and position.ts == FIX and position.rx == RX
    data = position.data
    assert data["fix_time"] == "2026-03-14T09:26:53.000Z" and data["source"] == "gps" and data["protocol"] == "gt06"
    assert (data["valid"], data["satellites"], data["speed_kmh"], data["course"], data["acc"]) == (True, 9, 18, 90,
                                                                                                  True)
    assert abs(data["lat"] - 22.5) < 1e-6 and abs(data["lon"] - 114.1) < 1e-6
    assert data["cell"] == {"mcc": 460, "mnc": 0, "lac": 0x2866, "cid": 0x0EEE} and data["archived"] is False


def test_an_archived_position_says_so_and_acc_is_left_out_when_unknown() -> None:
    [position] = readings(FRAMES[7])
    assert position.data["archived"] is True
    [plain] = readings(location_frame(1, fix_time=FIX, lat=1.0, lon=1.0))
    assert "acc" not in plain.data


def test_a_cell_only_packet_is_an_approximate_position_stamped_on_receipt_when_it_has_no_time() -> None:
    [position] = readings(lbs_frame(2, fix_time=FIX, cell=Cell(460, 1, 100, 200)))
    assert position.kind is Kind.POSITION and position.ts == FIX
    assert position.data["source"] == "lbs" and position.data["approximate"] is True
    assert position.data["valid"] is False and position.data["lat"] is None and position.data["lon"] is None
    assert position.data["cell"] == {"mcc": 460, "mnc": 1, "lac": 100, "cid": 200}
    alarm, untimed = readings(FRAMES[8])  # 0x19: SOS with only a cell and no time
    assert alarm.kind is Kind.ALARM and alarm.data["class"] == "sos" and alarm.data["lat"] is None
    assert untimed.ts == RX and untimed.data["fix_time"] == "2026-03-14T09:30:00.000Z"


def test_an_alarm_comes_first_then_the_position_of_the_same_packet() -> None:
    alarm, position = readings(alarm_frame(5, alarm="displacement", fix_time=FIX, lat=22.5, lon=114.1))
    assert alarm.kind is Kind.ALARM and position.kind is Kind.POSITION
    assert alarm.data["class"] == "displacement" and alarm.data["code"] == "09" and alarm.data["source"] == "tracker"
    assert alarm.data["zone"] == IMEI and alarm.data["qualifier"] == "new" and alarm.data["valid"] is True
    assert alarm.data["fix_time"] == position.data["fix_time"] and alarm.ts == FIX
    assert alarm.data["lat"] == position.data["lat"] and alarm.data["cell"] == position.data["cell"]
    power_cut, _ = readings(FRAMES[5])
    assert power_cut.data["class"] == "power_cut" and power_cut.data["code"] == "02"
    assert power_cut.data["charging"] is False


def with_alarm_byte(frame: bytes, code: int) -> bytes:
    """The same packet with another alarm byte (the one before the language byte at the end of the content)."""
    envelope = unwrap(frame)
    content = envelope.content[:-2] + bytes([code]) + envelope.content[-1:]
    return encode_frame(envelope.protocol, content, envelope.serial)


@pytest.mark.parametrize(("code", "acc"), [(0xFE, True), (0xFF, False)])
def test_the_ignition_switched_in_the_alarm_byte_is_the_positions_acc_not_an_alarm(code: int, acc: bool) -> None:
    gps = with_alarm_byte(alarm_frame(3, alarm="sos", fix_time=FIX, lat=22.5, lon=114.1), code)
    [position] = readings(gps)
    assert (position.kind, position.data["acc"]) == (Kind.POSITION, acc)
    cell = with_alarm_byte(lbs_frame(4, fix_time=FIX, cell=Cell(460, 0, 10342, 3822), alarm="sos"), code)
    [lbs] = readings(cell)
    assert (lbs.kind, lbs.data["source"], lbs.data["acc"]) == (Kind.POSITION, "lbs", acc)


@pytest.mark.parametrize("alarm", ["low_battery", "power_off"])
def test_low_battery_and_power_off_are_troubles(alarm: str) -> None:
    trouble, _ = readings(alarm_frame(5, alarm=alarm, fix_time=FIX, lat=1.0, lon=1.0))
    assert trouble.kind is Kind.TROUBLE and trouble.data["class"] == alarm


def test_a_heartbeat_is_a_status_reading() -> None:
    [status] = readings(heartbeat_frame(3, voltage_level=5, gsm=3, charging=True, acc=False, armed=True))
    assert status.kind is Kind.STATUS and status.ts == RX
    assert status.data == {"voltage_level": 5, "gsm": 3, "charging": True, "acc": False, "armed": True,
                           "gps_tracking": True, "oil_cut": False, "protocol": "gt06"}


def test_login_and_command_replies_make_no_readings() -> None:
    assert readings(login_frame(IMEI, 1)) == []
    assert readings(FRAMES[9]) == []


def make(**options: Any) -> Gt06Server:
    return create({"listen": "127.0.0.1:0", **options}, source="site.toml: driver 'gt06'")


def test_entry_point_defaults_and_the_commands_it_offers() -> None:
    driver = create_driver({"type": "gt06", "listen": "127.0.0.1:0"}, source="site.toml")
    assert isinstance(driver, Gt06Server) and driver.name == "gt06"
    options = driver.options
    assert (options.idle_timeout, options.login_timeout, options.max_connections, options.max_frame,
            options.crc, options.device_time, options.accept_unknown_devices) == (300.0, 30.0, 20_000, 1024,
                                                                                  "refuse", "utc", True)
    assert driver.device_commands == frozenset({"engine_stop", "engine_resume"})
    armed = make(commands={"arm": "111#", "engine_stop": "DYD,000000#"})
    assert armed.device_commands == frozenset({"engine_stop", "engine_resume", "arm"})
    assert armed.options.command_texts["engine_stop"] == "DYD,000000#"


@pytest.mark.parametrize(("options", "message"), [
    ({"colour": "red"}, "colour"),
    ({"crc": "sometimes"}, "crc"),
    ({"listen": "5023"}, "HOST:PORT"),
    ({"devices": {"12345": {}}}, "15-digit IMEI"),
    ({"devices": {IMEI: {"crc": "lenient", "speed": 1}}}, "speed"),
    ({"commands": {"Engine Stop": "Relay,1#"}}, "command name"),
    ({"commands": {"engine_stop": "断油"}}, "printable ASCII"),
    ({"accept_unknown_devices": False}, "no tracker could log in"),
    ({"idle_timeout": 0}, "idle_timeout"),
])
def test_closed_options_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(**options)


def test_per_device_policies_override_the_gateway() -> None:
    server = make(accept_unknown_devices=False, devices={
        IMEI: {"crc": "lenient", "device_time": "login_timezone"},
        "359710049095095": {"allowed": False},
    })
    options = server.options
    assert options.may_log_in(IMEI) and not options.may_log_in("359710049095095")
    assert not options.may_log_in("123456789012345")
    assert options.lenient_crc(IMEI) and not options.lenient_crc("359710049095095") and not options.lenient_crc(None)
    assert options.uses_login_timezone(IMEI) and not options.uses_login_timezone("123456789012345")
