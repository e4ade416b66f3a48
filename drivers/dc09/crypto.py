"""DC-09 encryption: AES-CBC with an all-zero IV over the data, x-data and timestamp, sent as hex text.

The encrypted region starts after the `[` that opens the data. It begins with pseudo-random pad characters (never
`|`, `[` or `]`) so that the region is a whole number of 16-byte blocks (16 pad characters when it already is),
then the pad terminator `|`, then the data, its closing `]`, any x-data and the timestamp.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shaobing.errors import FrameError

BLOCK = 16
ZERO_IV = bytes(BLOCK)
KEY_SIZES = (16, 24, 32)
PAD_TERMINATOR = "|"
_PAD_ALPHABET = "".join(ch for ch in string.ascii_letters + string.digits + string.punctuation if ch not in "|[]")


def parse_key(text: str) -> bytes:
    """A key written as 32, 48 or 64 hex digits (AES-128, -192, -256)."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("key must be hex digits") from None
    if len(key) not in KEY_SIZES:
        raise ValueError(f"key must be 32, 48 or 64 hex digits (AES-128/192/256), got {len(text)}")
    return key


def random_pad(count: int) -> str:
    return "".join(secrets.choice(_PAD_ALPHABET) for _ in range(count))


def _cipher(key: bytes) -> Cipher[modes.CBC]:
    if len(key) not in KEY_SIZES:
        raise ValueError(f"AES key must be 16, 24 or 32 bytes, got {len(key)}")
    return Cipher(algorithms.AES(key), modes.CBC(ZERO_IV))


def encrypt_region(clear: str, key: bytes, *, pad: Callable[[int], str] = random_pad) -> str:
    """Encrypt `clear` (what follows the pad terminator: `data]...x-data..._timestamp`) to upper-case hex."""
    pad_count = BLOCK - (len(clear) + 1) % BLOCK
    padding = pad(pad_count)
    if len(padding) != pad_count or any(ch in "|[]" for ch in padding):
        raise ValueError("pad must be pad_count characters without '|', '[' or ']'")
    plain = (padding + PAD_TERMINATOR + clear).encode("latin-1")
    encryptor = _cipher(key).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex().upper()


def decrypt_region(hex_text: str, key: bytes, frame: bytes = b"") -> str:
    """The clear text after the pad terminator; a wrong key or garbage raises FrameError("decryption failed: ...")."""
    try:
        cipher_bytes = bytes.fromhex(hex_text)
    except ValueError:
        raise FrameError("decryption failed: encrypted region is not hex", frame) from None
    if not cipher_bytes or len(cipher_bytes) % BLOCK:
        raise FrameError("decryption failed: encrypted region is not whole 16-byte blocks", frame)
    decryptor = _cipher(key).decryptor()
    plain = decryptor.update(cipher_bytes) + decryptor.finalize()
    terminator = plain.find(b"|")
    if terminator < 0:
        raise FrameError("decryption failed: no pad terminator '|' (wrong key?)", frame)
    clear = plain[terminator + 1:]
    if any(byte < 0x20 or byte > 0x7E for byte in clear):
        raise FrameError("decryption failed: clear text is not printable ASCII (wrong key?)", frame)
    if b"]" not in clear:
        raise FrameError("decryption failed: no ']' closes the data (wrong key?)", frame)
    return clear.decode("ascii")
