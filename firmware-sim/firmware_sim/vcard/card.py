"""A contactless card on pcscd's virtual reader (vpcd): connect to insert, close to remove.

The card answers the PC/SC "get data" pseudo-APDU `FF CA 00 00 00` with its UID and 90 00, as a contactless reader
does for the card on it. It can also misbehave the ways field cards do: answer another status word, answer bytes
that are no response at all, or not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from firmware_sim.vcard.protocol import DEFAULT_PORT, ApduMessage, Control, ControlMessage, MessageReader, encode

# A MIFARE Classic 1K as a PC/SC reader presents it (PC/SC part 3: a storage card's constructed ATR).
DEFAULT_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")
GET_UID = bytes.fromhex("FFCA000000")
SW_OK = bytes.fromhex("9000")
SW_WRONG_LENGTH = bytes.fromhex("6700")
SW_FUNCTION_NOT_SUPPORTED = bytes.fromhex("6A81")
SW_INS_NOT_SUPPORTED = bytes.fromhex("6D00")


@dataclass
class CardBehaviour:
    """What the card says. `status_word` other than 90 00 is answered alone (no UID), as a failing card does;
    `reply` replaces every APDU answer with these bytes; `silent` answers no APDU at all (the ATR still comes)."""

    uid: bytes
    atr: bytes = DEFAULT_ATR
    status_word: bytes = SW_OK
    reply: bytes | None = None
    silent: bool = False


@dataclass
class CardLog:
    """What the reader did to the card, for tests and the simulator's output."""

    apdus: list[bytes] = field(default_factory=list)
    controls: list[int] = field(default_factory=list)


def answer(behaviour: CardBehaviour, apdu: bytes) -> bytes | None:
    """The card's response APDU to `apdu`, or None when it stays silent."""
    if behaviour.silent:
        return None
    if behaviour.reply is not None:
        return behaviour.reply
    if len(apdu) < 4:
        return SW_WRONG_LENGTH
    if apdu[:2] != GET_UID[:2]:
        return SW_INS_NOT_SUPPORTED
    if apdu[2:4] != b"\0\0":
        return SW_FUNCTION_NOT_SUPPORTED  # P1 01 asks for the ATS / historical bytes: this card has none
    if behaviour.status_word != SW_OK:
        return behaviour.status_word
    expected = apdu[4] if len(apdu) > 4 else 0
    uid = behaviour.uid
    if expected not in (0, len(uid)) and uid:
        return bytes([0x6C, len(uid) & 0xFF])  # wrong Le: the card names the right one
    return uid + SW_OK


class VirtualCard:
    """One card; `insert` puts it on the virtual reader at host:port, `remove` takes it off."""

    def __init__(self, behaviour: CardBehaviour, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.behaviour = behaviour
        self.host = host
        self.port = port
        self.log = CardLog()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def inserted(self) -> bool:
        """On the reader: connected, and the reader has not dropped the connection (pcscd stopped)."""
        return self._task is not None and not self._task.done()

    async def insert(self, within: float = 5.0) -> None:
        """Connect to vpcd, retrying while its port is not open yet (pcscd starting), for at most `within` s."""
        if self.inserted:
            raise RuntimeError("the card is already on the reader")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                break
            except OSError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)
        self._writer = writer
        self._task = asyncio.create_task(self._serve(reader, writer), name=f"vcard-{self.behaviour.uid.hex()}")

    async def remove(self) -> None:
        """Take the card off the reader (close the connection); safe when it is not on it."""
        writer, task = self._writer, self._task
        self._writer = self._task = None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        messages = MessageReader()
        while True:
            try:
                data = await reader.read(4096)
            except OSError:
                return
            if not data:
                return  # vpcd closed the connection: pcscd stopped
            for message in messages.feed(data):
                reply = self._reply(message)
                if reply is not None:
                    writer.write(encode(reply))
            try:
                await writer.drain()
            except OSError:
                return

    def _reply(self, message: ControlMessage | ApduMessage) -> bytes | None:
        if isinstance(message, ControlMessage):
            self.log.controls.append(message.code)
            return self.behaviour.atr if message.code == Control.GET_ATR else None
        self.log.apdus.append(message.apdu)
        return answer(self.behaviour, message.apdu)


@contextlib.asynccontextmanager
async def card_on_reader(card: VirtualCard, within: float = 5.0) -> AsyncIterator[VirtualCard]:
    """The card inserted for the body of the block, removed after it."""
    await card.insert(within)
    try:
        yield card
    finally:
        await card.remove()
