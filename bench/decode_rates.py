"""Figure 6: decode rates, frames per second on one core, of the device codecs.

- NMEA: `drivers.nmea.codec.parse_sentence` against pynmea2 (`pynmea2.parse(line, check=True)`, then reading
  `.latitude` and `.longitude`, which pynmea2 computes on access) on the SAME sentences: the RMC and GGA sentences
  of the public vectors (tests/drivers/nmea/vectors.json: fixes and no-fix sentences, eight talkers), as text for
  both; and ours on bytes too, as the driver calls it;
- GT06: `drivers.gt06.codec.parse_frame` on the frames of tests/conformance/gt06.json that it accepts (CRC checked).

Each codec runs in rounds of `seconds`, interleaved (ours, pynmea2, ours, ...) so that a busy moment of the machine
does not favour one of them; the best round of each is reported.

Run: .venv/bin/python -m bench.decode_rates [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pynmea2

from bench.common import Figure, say, table
from drivers.gt06.codec import parse_frame
from drivers.nmea.codec import parse_sentence
from shaobing.errors import FrameError

ROOT = Path(__file__).resolve().parent.parent
NMEA_VECTORS = ROOT / "tests" / "drivers" / "nmea" / "vectors.json"
GT06_VECTORS = ROOT / "tests" / "conformance" / "gt06.json"

Frame = TypeVar("Frame", str, bytes)


def nmea_sentences() -> list[str]:
    """The RMC and GGA sentences of the public vectors that decode (the refused ones are not a decode rate)."""
    vectors: list[dict[str, Any]] = json.loads(NMEA_VECTORS.read_text("utf-8"))["vectors"]
    return [case["sentence"].strip() for case in vectors
            if isinstance(case["expect"], dict) and case["expect"].get("type") in ("rmc", "gga")]


def gt06_frames() -> tuple[list[bytes], int]:
    """The conformance frames the GT06 codec accepts, and how many there were in all."""
    vectors: list[dict[str, Any]] = json.loads(GT06_VECTORS.read_text("utf-8"))["vectors"]
    frames = [bytes.fromhex(case["frame"]) for case in vectors]
    accepted = []
    for frame in frames:
        try:
            parse_frame(frame)
        except FrameError:
            continue
        accepted.append(frame)
    return accepted, len(frames)


def ours(line: str | bytes) -> None:
    parse_sentence(line)


def theirs(line: str) -> None:
    message = pynmea2.parse(line, check=True)
    _ = message.latitude, message.longitude


def gt06(frame: bytes) -> None:
    parse_frame(frame)


def one_round(decode: Callable[[Frame], None], frames: Sequence[Frame], seconds: float) -> float:
    """Frames per second: whole passes over `frames` until `seconds` have gone by."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for frame in frames:
            decode(frame)
        done += len(frames)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def check_same_positions(sentences: Sequence[str]) -> None:
    """Both decoders must read the same positions, or the comparison means nothing."""
    for line in sentences:
        mine = parse_sentence(line)
        message = pynmea2.parse(line, check=True)
        if mine.lat is None:  # no fix: pynmea2 reads the empty fields as 0.0
            continue
        if abs(mine.lat - message.latitude) > 1e-6 or abs((mine.lon or 0) - message.longitude) > 1e-6:
            raise RuntimeError(f"the decoders disagree on {line!r}: {mine.lat},{mine.lon} vs "
                               f"{message.latitude},{message.longitude}")


def run(*, seconds: float = 1.0, rounds: int = 3) -> list[Figure]:
    sentences = nmea_sentences()
    as_bytes = [line.encode("ascii") for line in sentences]
    check_same_positions(sentences)
    frames, gt06_total = gt06_frames()
    rmc = sum(1 for line in sentences if line[3:6] == "RMC")
    say(f"decode rates: {len(sentences)} NMEA sentences ({rmc} RMC, {len(sentences) - rmc} GGA) and "
        f"{len(frames)} of {gt06_total} GT06 frames, best of {rounds} rounds of {seconds:g} s each")
    best: dict[str, float] = {"ours": 0.0, "ours_bytes": 0.0, "pynmea2": 0.0, "gt06": 0.0}
    for _ in range(rounds):
        best["ours"] = max(best["ours"], one_round(ours, sentences, seconds))
        best["pynmea2"] = max(best["pynmea2"], one_round(theirs, sentences, seconds))
        best["ours_bytes"] = max(best["ours_bytes"], one_round(ours, as_bytes, seconds))
        if frames:
            best["gt06"] = max(best["gt06"], one_round(gt06, frames, seconds))
    say(f"  NMEA: ours {best['ours']:,.0f}/s (bytes {best['ours_bytes']:,.0f}/s), pynmea2 {best['pynmea2']:,.0f}/s "
        f"({best['ours'] / best['pynmea2']:.2f} times); GT06 {best['gt06']:,.0f}/s")
    return [
        Figure("6 decode NMEA, drivers.nmea (text)", best["ours"], "/s",
               note=f"{best['ours'] / best['pynmea2']:.2f} times pynmea2 on the same {len(sentences)} RMC/GGA "
                    "sentences; checksum, ranges, validity and degrees included"),
        Figure("6 decode NMEA, drivers.nmea (bytes, as the driver)", best["ours_bytes"], "/s"),
        Figure(f"6 decode NMEA, pynmea2 {pynmea2.version} (check=True, lat/lon read)", best["pynmea2"], "/s"),
        Figure("6 decode GT06, drivers.gt06.parse_frame", best["gt06"] if frames else None, "/s",
               note=f"the {len(frames)} of {gt06_total} conformance frames it accepts (CRC checked)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="decode rates of the device codecs (NMEA against pynmea2, GT06)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    say(table(run(seconds=arguments.seconds, rounds=arguments.rounds)))


if __name__ == "__main__":
    main()
