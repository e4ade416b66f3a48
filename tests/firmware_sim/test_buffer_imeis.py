"""The device buffer (kept until answered, re-uploaded out of order, bounded) and the IMEIs of a fleet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from firmware_sim.tracker.buffer import DeviceBuffer, ReuploadOrder
from firmware_sim.tracker.imeis import imei_at, luhn_digit, luhn_valid

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Kept:
    second: int
    is_alarm: bool = False

    @property
    def fix_time(self) -> datetime:
        return T0 + timedelta(seconds=self.second)


def drain(buffer: DeviceBuffer[Kept]) -> list[int]:
    order = []
    while (report := buffer.next_to_send()) is not None:
        order.append(report.second)
    return order


@pytest.mark.parametrize(("order", "expected"), [
    ("newest_first", [7, 6, 5, 4, 3, 2, 1, 0]),
    ("oldest_first", [0, 1, 2, 3, 4, 5, 6, 7]),
    ("chunks", [5, 6, 7, 2, 3, 4, 0, 1]),
])
def test_reupload_order(order: ReuploadOrder, expected: list[int]) -> None:
    buffer: DeviceBuffer[Kept] = DeviceBuffer(order=order, chunk=3)
    for second in [3, 0, 7, 1, 5, 2, 6, 4]:  # kept out of order (resends come back late): sorted by fix time
        buffer.keep(Kept(second))
    assert len(buffer) == 8
    assert drain(buffer) == expected
    assert len(buffer) == 0


def test_alarms_go_first_and_are_never_dropped_for_positions() -> None:
    buffer: DeviceBuffer[Kept] = DeviceBuffer(order="oldest_first", limit=3)
    buffer.keep(Kept(10, is_alarm=True))
    for second in range(6):
        buffer.keep(Kept(second))
    buffer.keep(Kept(20, is_alarm=True))
    assert buffer.dropped == 3  # the three oldest positions
    assert drain(buffer) == [10, 20, 3, 4, 5]


def test_a_report_is_kept_until_its_serial_is_answered() -> None:
    buffer: DeviceBuffer[Kept] = DeviceBuffer(order="oldest_first")
    buffer.sent(1, "login", at=0.0)
    buffer.sent(2, "location", at=0.0, report=Kept(0))
    buffer.sent(3, "location", at=5.0, report=Kept(5))
    assert len(buffer) == 2 and buffer.in_flight == 3
    answered = buffer.answered(2)
    assert answered is not None and answered.report == Kept(0)
    assert buffer.answered(2) is None  # a second reply to the same serial is nothing
    # Unanswered for 10 s: back to the backlog, to be sent again.
    assert [sent.kind for sent in buffer.expired(now=12.0, timeout=10.0)] == ["login"]
    assert buffer.waiting == 0
    expired = buffer.expired(now=15.0, timeout=10.0)
    assert [sent.report for sent in expired] == [Kept(5)]
    assert drain(buffer) == [5]


def test_a_lost_connection_keeps_everything_in_flight() -> None:
    buffer: DeviceBuffer[Kept] = DeviceBuffer(order="oldest_first")
    for serial in range(1, 5):
        buffer.sent(serial, "location", at=float(serial), report=Kept(serial))
    buffer.sent(9, "heartbeat", at=1.0)
    assert buffer.oldest_in_flight() == 1.0
    assert len(buffer.connection_lost()) == 5
    assert buffer.in_flight == 0 and buffer.oldest_in_flight() is None
    assert sorted(r.second for r in buffer.reports()) == [1, 2, 3, 4]
    assert drain(buffer) == [1, 2, 3, 4]


def test_a_wrapped_serial_does_not_lose_the_report_it_replaces() -> None:
    buffer: DeviceBuffer[Kept] = DeviceBuffer()
    buffer.sent(7, "location", at=0.0, report=Kept(1))
    buffer.sent(7, "location", at=1.0, report=Kept(2))
    assert sorted(r.second for r in buffer.reports()) == [1, 2]


def test_luhn_check_digits() -> None:
    assert luhn_digit("49015420323751") == "8"  # the classic example IMEI 490154203237518
    assert luhn_valid("490154203237518")
    assert not luhn_valid("490154203237517")
    assert not luhn_valid("49015420323751")


def test_fleet_imeis_are_consecutive_and_valid() -> None:
    imeis = [imei_at("86471700366440", index) for index in range(100)]
    assert len(set(imeis)) == 100
    assert all(luhn_valid(imei) for imei in imeis)
    assert imeis[0].startswith("86471700366440") and imeis[99].startswith("86471700366539")
    assert imei_at("864717003664409", 0) == imei_at("86471700366440", 0)  # a given check digit is recomputed
    for bad in ["8647", "86471700366440x", "8647170036644012"]:
        with pytest.raises(ValueError, match="14 or 15 digits"):
            imei_at(bad, 0)
    with pytest.raises(ValueError, match="past 14 digits"):
        imei_at("99999999999999", 1)
