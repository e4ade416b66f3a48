"""`shaobing decode` as a person runs it: the real console script, frames as arguments or one a line on stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.vectors import load_vectors


def decode(protocol: str, *frames: str, stdin: str | None = None) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run([sys.executable, "-m", "shaobing", "decode", protocol, *frames], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def matches(got: Any, want: Any) -> bool:
    """A decoded value against a vector's: text without regard to case, coordinates to 1e-5 degrees (about a metre;
    the vectors round them to 5 or 6 places), objects on the keys the vector names."""
    if isinstance(want, str):
        return isinstance(got, str) and got.lower() == want.lower()
    if isinstance(want, float):
        return isinstance(got, int | float) and abs(got - want) <= 1e-5
    if isinstance(want, dict):
        return isinstance(got, dict) and all(key in got and matches(got[key], value) for key, value in want.items())
    return bool(got == want)


@pytest.mark.parametrize(("protocol", "vectors"),
                         [("contact-id", "contact-id.json"), ("dc09", "dc09.json"), ("gt06", "gt06.json")])
def test_every_public_vector_decodes_in_order_from_stdin(protocol: str, vectors: str) -> None:
    cases = load_vectors(vectors)["vectors"]
    status, lines = decode(protocol, stdin="".join(case["frame"] + "\r\n" for case in cases))
    assert len(lines) == len(cases)
    for case, line in zip(cases, lines, strict=True):
        expect = case["expect"]
        if isinstance(expect, str):
            assert set(line) == {"error", "frame"}
            assert expect.removeprefix("refused: ").split()[0].lower() in line["error"].lower()
        else:
            for key, value in expect.items():
                assert key in line, key
                assert matches(line[key], value), (key, line[key], value)
    refused = any(isinstance(case["expect"], str) for case in cases)
    assert status == (2 if refused else 0)


def test_good_frames_as_arguments_exit_zero() -> None:
    status, lines = decode("contact-id", "123418113101007C", "0639183401010572")
    assert status == 0
    assert [line["event_code"] for line in lines] == [131, 401]


def test_garbage_and_blank_lines_are_refused_line_by_line_and_the_rest_still_decodes() -> None:
    status, lines = decode("contact-id", stdin="\n\x00\x01zz\n123418113101007C\n" + "9" * 5000 + "\n")
    assert status == 2
    assert [("error" in line) for line in lines] == [True, False, True]


def test_an_unknown_protocol_names_the_known_ones() -> None:
    status, lines = decode("nope", "00")
    assert status == 2
    assert "contact-id" in lines[0]["error"]
    assert "dc09" in lines[0]["error"]
