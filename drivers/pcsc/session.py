"""Blocking PC/SC calls through pyscard's `smartcard.scard`, with pcsc-lite's result codes turned into exceptions.

Every call here blocks its thread (a status wait at most `timeout` seconds; a card read until the card answers or is
taken away), so the driver makes them from its own worker thread. Only `cancel` may be called from another thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartcard import scard

from drivers.pcsc.apdu import GET_UID

# pcscd is not there, stopped, or the connection to it broke: a new context is needed once it is back.
_SERVICE_GONE = frozenset({scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED, scard.SCARD_F_COMM_ERROR,
                           scard.SCARD_E_INVALID_HANDLE})
# The reader is not (or no longer) known to pcscd: unplugged, or its driver lost it.
_READER_GONE = frozenset({scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE,
                          scard.SCARD_E_NO_READERS_AVAILABLE})
# The card went away or would not power up while being read.
_CARD_GONE = frozenset({scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_UNRESPONSIVE_CARD,
                        scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_RESET_CARD})
_EVENT_COUNTER_SHIFT = 16  # pcsc-lite counts card events in the upper half of the event state


class PcscError(Exception):
    """A PC/SC call failed; `code` is the pcsc-lite result, the message names it."""

    def __init__(self, call: str, code: int) -> None:
        self.call = call
        self.code = code
        super().__init__(f"{call}: {scard.SCardGetErrorMessage(code).rstrip('.')} (0x{code:08X})")


class ServiceGone(PcscError):
    """pcscd is not running or went away."""


class ReaderGone(PcscError):
    """The reader is no longer there."""


class CardGone(PcscError):
    """The card was taken away, or did not answer the reader, before it was read."""


def _check(call: str, code: int) -> None:
    if code == scard.SCARD_S_SUCCESS:
        return
    if code in _SERVICE_GONE:
        raise ServiceGone(call, code)
    if code in _READER_GONE:
        raise ReaderGone(call, code)
    if code in _CARD_GONE:
        raise CardGone(call, code)
    raise PcscError(call, code)


@dataclass(frozen=True, slots=True)
class ReaderState:
    present: bool  # a card is in the field and answered the reader (has an ATR)
    mute: bool  # a card is there but gave no ATR
    events: int  # pcsc-lite's card event counter: changes on every insertion and removal
    atr: bytes
    raw: int  # the whole event state, to wait from


def pick_reader(names: list[str], wanted: str) -> str | None:
    """The reader called `wanted`, else the first whose name starts with it (names end in slot numbers)."""
    if wanted in names:
        return wanted
    return next((name for name in names if name.startswith(wanted)), None)


class PcscSession:
    """One PC/SC context."""

    def __init__(self) -> None:
        code, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check("SCardEstablishContext", code)

    def readers(self) -> list[str]:
        code, names = scard.SCardListReaders(self._context, [])
        if code in (scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_READER_UNAVAILABLE):
            return []
        _check("SCardListReaders", code)
        return list(names)

    def state(self, reader: str, since: int, timeout: float) -> ReaderState | None:
        """The reader's state once it differs from `since` (0: at once), or None when `timeout` passed first or the
        wait was cancelled. Raises ReaderGone when pcscd no longer knows the reader."""
        code, states = scard.SCardGetStatusChange(self._context, max(0, int(timeout * 1000)), [(reader, since)])
        if code in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            return None
        _check("SCardGetStatusChange", code)
        _, event_state, atr = states[0]
        if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE | scard.SCARD_STATE_UNAVAILABLE):
            raise ReaderGone("SCardGetStatusChange", scard.SCARD_E_UNKNOWN_READER)
        present = bool(event_state & scard.SCARD_STATE_PRESENT)
        mute = bool(event_state & scard.SCARD_STATE_MUTE)
        # The CHANGED bit is an answer to this call, not part of the state to wait from next time.
        raw = event_state & ~scard.SCARD_STATE_CHANGED
        return ReaderState(present and not mute, present and mute, event_state >> _EVENT_COUNTER_SHIFT, bytes(atr),
                           raw)

    def read_uid(self, reader: str) -> bytes:
        """The whole response APDU to GET UID (data and status word), unchecked."""
        code, card, protocol = scard.SCardConnect(self._context, reader, scard.SCARD_SHARE_SHARED,
                                                  scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        _check("SCardConnect", code)
        try:
            code, response = scard.SCardTransmit(card, protocol, list(GET_UID))
            _check("SCardTransmit", code)
            return bytes(response)
        finally:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)

    def cancel(self) -> None:
        """End a `state` wait in progress (from any thread)."""
        scard.SCardCancel(self._context)

    def close(self) -> None:
        scard.SCardReleaseContext(self._context)
