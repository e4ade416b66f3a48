"""The commands the control panel sends a reader, as libosdp's command dicts: pulse the lock, show green or red, beep.

OSDP timers count 100 ms; LED colours and control codes are the standard's (temporary LED state code 2 starts a
timer after which the reader goes back to its permanent state; output code 5 is a timed pulse).
"""

from __future__ import annotations

from typing import Any

import osdp_sys

Command = dict[str, Any]

_OUTPUT_TEMPORARY_ON = 5
_LED_TEMPORARY_SET = 2
_BUZZER_DEFAULT_TONE = 2


def _ticks(seconds: float) -> int:
    return max(1, min(255, round(seconds * 10)))


def pulse_output(output: int, seconds: float) -> Command:
    return {"command": osdp_sys.CMD_OUTPUT, "output_no": output, "control_code": _OUTPUT_TEMPORARY_ON,
            "timer_count": _ticks(seconds)}


def led(color: int, seconds: float, reader: int = 0) -> Command:
    """A steady colour for `seconds`, then the reader's own permanent state."""
    return {"command": osdp_sys.CMD_LED, "reader": reader, "led_number": 0, "temporary": True,
            "control_code": _LED_TEMPORARY_SET, "on_color": color, "off_color": color, "on_count": 10,
            "off_count": 0, "timer_count": _ticks(seconds)}


def beep(seconds: float, reader: int = 0) -> Command:
    return {"command": osdp_sys.CMD_BUZZER, "reader": reader, "control_code": _BUZZER_DEFAULT_TONE,
            "on_count": _ticks(seconds), "off_count": 0, "rep_count": 1}


def granted(unlock_output: int, unlock_seconds: float) -> list[Command]:
    """Lock first: it is what the person at the door waits for."""
    return [pulse_output(unlock_output, unlock_seconds), led(osdp_sys.LED_COLOR_GREEN, unlock_seconds), beep(0.1)]


def denied() -> list[Command]:
    return [led(osdp_sys.LED_COLOR_RED, 2.0), beep(1.0)]
