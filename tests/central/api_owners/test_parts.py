"""The small parts under the routes, without a database: phone numbers, password hashes, the failure counter, XML
text, download names, CSV cells and track cursors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from central.api.owner_auth import FailureCounter, OwnersSettings, PasswordHasher, hash_password, verify_password
from central.exports.csv_table import _plain
from central.exports.download import content_disposition
from central.exports.track import Cursor
from central.exports.xmltext import attr, number, text
from central.store.owners import bind_code_hash, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "", "+", "+86", "1381234567", "138123456789", "12812345678", "+86 10 1234 5678", "phone", "+0012345678",
        "+١٢٣٤٥٦٧٨",  # digits of another script
    ],
)
def test_what_is_not_a_phone_number(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_masking_keeps_the_ends_of_any_number() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    assert mask_phone("+12025550143") == "+120****0143"
    assert mask_phone("+4412345") == "+4**2345"  # short numbers keep the last four only


def test_bind_codes_are_compared_without_case() -> None:
    assert bind_code_hash("ab12cd") == bind_code_hash("AB12CD") == bind_code_hash(" Ab12Cd ")


def test_password_hashes_verify_only_their_password_and_refuse_junk() -> None:
    stored = hash_password("correct horse", n=1024, r=8, p=1)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    for junk in ("", "scrypt$", "bcrypt$1$2$3$00$00", "scrypt$x$8$1$00$00", "scrypt$1024$8$1$zz$00", stored + "$"):
        assert not verify_password("correct horse", junk)


async def test_the_hasher_answers_no_account_as_a_wrong_password() -> None:
    hasher = PasswordHasher(OwnersSettings(scrypt_n=1024))
    stored = await hasher.hash("correct horse")
    assert await hasher.verify("correct horse", stored)
    assert not await hasher.verify("correct horse", None)


def test_scrypt_cost_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        OwnersSettings(scrypt_n=3000)


def test_the_failure_counter_locks_after_too_many_in_the_window_and_forgets_after() -> None:
    counter = FailureCounter(max_failures=3, window_s=60, lockout_s=100, capacity=10)
    for moment in (0.0, 10.0, 20.0):
        assert counter.locked_for("a", moment) == 0
        counter.failed("a", moment)
    assert counter.locked_for("a", 21.0) == pytest.approx(99.0)
    assert counter.locked_for("b", 21.0) == 0
    assert counter.locked_for("a", 120.0) == 0  # served its time
    counter.failed("a", 121.0)
    assert counter.locked_for("a", 122.0) == 0  # a fresh start: one failure


def test_the_failure_counter_forgets_old_failures_and_successes() -> None:
    counter = FailureCounter(max_failures=3, window_s=60, lockout_s=100, capacity=10)
    counter.failed("a", 0.0)
    counter.failed("a", 30.0)
    counter.failed("a", 70.0)  # the first one is out of the window
    assert counter.locked_for("a", 71.0) == 0
    counter.failed("a", 72.0)
    assert counter.locked_for("a", 73.0) > 0
    counter.succeeded("a")
    assert counter.locked_for("a", 73.0) == 0


def test_the_failure_counter_is_bounded() -> None:
    counter = FailureCounter(max_failures=2, window_s=60, lockout_s=100, capacity=100)
    for key in range(10_000):
        counter.failed(str(key), 1.0)
    assert len(counter) == 100
    counter.failed("9999", 2.0)
    assert counter.locked_for("9999", 3.0) > 0  # the newest entries stay


@pytest.mark.parametrize(
    ("hostile", "read_back"),
    [
        ("a<b>&c", "a<b>&c"),
        ("\"quoted\" 'single'", "\"quoted\" 'single'"),
        ("nul\x00bell\x07esc\x1b", "nul\ufffdbell\ufffdesc\ufffd"),
        ("\ud800x", "\ufffdx"),
        ("\ufffe", "\ufffd"),
        ("京A12345 \U0001f6b2", "京A12345 \U0001f6b2"),
    ],
)
def test_xml_text_never_breaks_a_document(hostile: str, read_back: str) -> None:
    document = f"<root a={attr(hostile)}><name>{text(hostile)}</name></root>"
    root = ET.fromstring(document.encode("utf-8"))
    assert root.findtext("name") == read_back
    assert root.attrib["a"] == read_back


def test_numbers_are_fixed_decimals_without_trailing_zeros() -> None:
    assert [number(value, 7) for value in (116.3975, 0.0, -0.00000001, 39.9, 1e-7)] == [
        "116.3975",
        "0",
        "0",
        "39.9",
        "0.0000001",
    ]


def test_download_names_keep_only_safe_characters() -> None:
    start, end = datetime(2026, 11, 24, 4, tzinfo=UTC), datetime(2026, 11, 24, 5, tzinfo=UTC)
    plain = content_disposition(plate="AB-12", name="x", start=start, end=end, extension="gpx")
    assert plain == 'attachment; filename="track-AB-12-20261124T0400Z-20261124T0500Z.gpx"'
    hostile = content_disposition(plate='";\r\nSet-Cookie: a=b', name="", start=start, end=end, extension="csv")
    assert "\r" not in hostile and "\n" not in hostile and hostile.count('"') == 2
    nothing = content_disposition(plate=None, name="///", start=start, end=end, extension="kml")
    assert nothing == 'attachment; filename="track-bike-20261124T0400Z-20261124T0500Z.kml"'


def test_csv_cells_from_the_wire_cannot_start_a_formula() -> None:
    assert [_plain(value) for value in ("gps", "=cmd|' /C calc'!A0", "+1", "-1", "@x", "")] == [
        "gps",
        "'=cmd|' /C calc'!A0",
        "'+1",
        "'-1",
        "'@x",
        "",
    ]


def test_track_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = Cursor(datetime(2026, 11, 24, 4, 0, 0, 123456, tzinfo=UTC), 42)
    assert Cursor.decode(cursor.encode()) == cursor
    junks = ("", ":", "1:", ":1", "a:1", "1:b", "-1:1", "1:-1", "9" * 18 + ":1", "1:" + "9" * 20, "1.5:1",
             "1:" + "9" * 19)  # the last: an id beyond a 64-bit integer
    for junk in junks:
        with pytest.raises(ValueError, match="cursor"):
            Cursor.decode(junk)
