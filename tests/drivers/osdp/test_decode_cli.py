"""`shaobing decode wiegand` and `shaobing decode osdp`: one JSON line a frame, refused frames as errors, exit 2."""

from __future__ import annotations

import io
import json

from shaobing.decode import run_decode


def decode(protocol: str, lines: str) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    status = run_decode(protocol, [], io.StringIO(lines), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def test_decode_wiegand_lines_in_order() -> None:
    status, results = decode("wiegand", "00101101000000001010001000\n26:2D00A240\n32:04A1B2C3\n")
    assert status == 2
    assert results[0]["card"] == "W26:90:324"
    assert "parity" in str(results[1]["error"])
    assert results[2]["card"] == "04A1B2C3"


def test_decode_osdp_packets() -> None:
    status, results = decode("osdp", "5365080004606090\r\n53650900046100D97A\n")
    assert status == 0
    assert [(r["type"], r["check"]) for r in results] == [("POLL", "crc"), ("ID", "crc")]
