"""The parsed forms of a DC-09 message and of the event data it carries (no parsing here, only the shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

FORMATS = ("SIA-DCS", "ADM-CID", "NULL")


@dataclass(frozen=True, slots=True)
class Dc09Message:
    """One DC-09 message as received.

    `format` is the ID token without the `*` that marks encryption. While an encrypted message has not been
    decrypted, `ciphertext` holds its hex text and `data`, `x_data` and `timestamp` are empty.
    """

    format: str
    encrypted: bool
    sequence: str
    receiver: str | None
    prefix: str
    account: str
    data: str
    x_data: list[str]
    timestamp: datetime | None
    length_ok: bool
    raw: bytes
    ciphertext: str | None = None

    @property
    def token(self) -> str:
        return ("*" if self.encrypted else "") + self.format

    @property
    def decrypted(self) -> bool:
        return self.ciphertext is None


@dataclass(frozen=True, slots=True)
class SiaEvent:
    """One event of a SIA-DCS data block: `BA` with address 3 in partition 1, say."""

    code: str
    address: int | None = None
    partition: int | None = None
    user: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class SiaData:
    account: str | None
    events: list[SiaEvent] = field(default_factory=list)
    text: str | None = None


@dataclass(frozen=True, slots=True)
class AdmCidEvent:
    """Contact ID carried in DC-09: `QXYZ GG CCC` (no message type, no checksum digit)."""

    account: str | None
    qualifier: str
    event_code: int
    partition: int
    zone_or_user: int
