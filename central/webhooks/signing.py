"""Signing webhook bodies, and the check a recipient runs on what it receives.

Signature: "sha256=" + hex(HMAC-SHA256(secret, f"{timestamp}.{body}")), where `timestamp` is the X-Shaobing-Timestamp
header (Unix seconds) and `body` the raw request body. Signing the timestamp with the body stops replays of old
deliveries: a recipient refuses a timestamp too far from its own clock.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="
DEFAULT_TOLERANCE_S = 300.0


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(_key(secret), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def signature_headers(secret: str | bytes, *, event: str, delivery: int, timestamp: int, body: bytes) -> dict[str, str]:
    stamp = str(timestamp)
    return {
        "Content-Type": "application/json",
        "X-Shaobing-Event": event,
        "X-Shaobing-Delivery": str(delivery),
        "X-Shaobing-Timestamp": stamp,
        "X-Shaobing-Signature": sign(secret, stamp, body),
    }


def verify(
    secret: str | bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `signature` is the body's signature under `secret` and `timestamp` is within `tolerance_s` of `now`
    (Unix seconds). Compares in constant time; any missing or malformed header is simply False."""
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
