"""`shaobing decode nmea` as a person runs it: the real console script on the public vectors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

VECTORS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "vectors.json").read_text("utf-8"))["vectors"]


def decode(*frames: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-m", "shaobing", "decode", "nmea", *frames], input=stdin,
                          capture_output=True, text=True, encoding="utf-8", timeout=60, check=False)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_every_public_vector_decodes_in_order_from_stdin() -> None:
    status, lines = decode(stdin="".join(case["sentence"] + "\r\n" for case in VECTORS))
    assert len(lines) == len(VECTORS)
    for case, line in zip(VECTORS, lines, strict=True):
        expect = case["expect"]
        if isinstance(expect, str):
            assert set(line) == {"error", "frame"}, case["sentence"]
            assert line["error"].startswith(expect.removeprefix("refused: ")), case["sentence"]
            continue
        for key, value in expect.items():
            assert line[key] == (pytest.approx(value, abs=1e-7) if isinstance(value, float) else value), key
    assert status == 2  # some vectors are refusals


def test_good_sentences_as_arguments_exit_zero_with_every_field() -> None:
    status, lines = decode("$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
                           "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47")
    assert status == 0
    assert [line["type"] for line in lines] == ["rmc", "gga"]
    assert set(lines[0]) == {"type", "talker", "lat", "lon", "fix_time", "time", "valid", "satellites", "speed_kmh",
                             "course", "fix_quality", "hdop", "altitude_m", "mode"}
    assert lines[0]["fix_time"] == "1994-03-23T12:35:19.000Z"


def test_garbage_lines_are_refused_one_by_one_and_the_rest_still_decodes() -> None:
    status, lines = decode(stdin="\x00\x01zz\n$GPRMC,,V,,,,,,,,,,N*53\n" + "$" * 5000 + "\n$GPRMC,,V,,,,,,,,,,N*54\n")
    assert status == 2
    assert [("error" in line) for line in lines] == [True, False, True, True]
    assert lines[1]["valid"] is False and lines[1]["lat"] is None
    assert lines[2]["error"].startswith("length")
    assert lines[3]["error"] == "checksum: computed 53, got 54"
