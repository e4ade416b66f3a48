"""`shaobing sim card`: put a virtual contactless card on pcscd's vpcd reader, hold it there, take it off; repeat.

The exit status is 1 when the reader's port cannot be reached (pcscd not running, or vpcd not installed), else 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

from firmware_sim.vcard.card import DEFAULT_ATR, CardBehaviour, VirtualCard


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.replace(":", "").replace(" ", ""))
    except ValueError:
        raise ValueError(f"{what} must be hex, not {text!r}") from None


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


async def run_card_cli(*, uid: str, host: str, port: int, atr: str | None, status: str | None, silent: bool,
                       hold: float, gap: float, count: int, out: TextIO = sys.stdout) -> int:
    if hold <= 0 or gap < 0 or count < 1:
        raise ValueError("--hold must be positive, --gap not negative, --count at least 1")
    status_word = _hex(status, "--status") if status is not None else bytes.fromhex("9000")
    if len(status_word) != 2:
        raise ValueError("--status is a status word: two bytes, e.g. 6A81")
    behaviour = CardBehaviour(uid=_hex(uid, "--uid"), atr=_hex(atr, "--atr") if atr else DEFAULT_ATR,
                              status_word=status_word, silent=silent)
    card = VirtualCard(behaviour, host=host, port=port)
    for number in range(1, count + 1):
        try:
            await card.insert(within=2.0)
        except OSError as exc:
            print(f"{_stamp()} cannot reach the virtual reader at {host}:{port} ({exc}): is pcscd running with vpcd?",
                  file=out, flush=True)
            return 1
        print(f"{_stamp()} card {behaviour.uid.hex().upper()} on the reader ({number}/{count})", file=out, flush=True)
        await asyncio.sleep(hold)
        dropped = not card.inserted
        await card.remove()
        read = sum(apdu[:2] == b"\xff\xca" for apdu in card.log.apdus)
        print(f"{_stamp()} card off the reader; read {read} time(s) so far"
              f"{' (the reader dropped it: pcscd stopped?)' if dropped else ''}", file=out, flush=True)
        if number < count:
            await asyncio.sleep(gap)
    return 0
