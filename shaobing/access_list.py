"""The allow-list central pushes to a site: the `access_list` command's args, signed with Ed25519.

Central holds the private key and signs; a site holds only the public key (in its configuration) and verifies, so a
site that is broken into cannot forge a list for itself or for any other site. Each list is complete (never a delta):
applying it replaces the previous one atomically, and a revocation is simply a card missing from the next version.

args: `{"site", "version", "issued_at", "entries": [{"card", "person", "doors", "valid_from", "valid_to"}],
"signature"}` where `doors` is a list of door names or `["*"]` for every door of the site, the validity bounds are
ISO 8601 UTC timestamps or null, and `signature` is base64 of the Ed25519 signature over `canonical_bytes(args)`:
the args without `signature`, as JSON with sorted keys, no spaces, UTF-8. `version` only ever grows for a site: a
site refuses a list older than or equal to the one it has (a replayed old list must not restore revoked cards).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

COMMAND = "access_list"
ALL_DOORS = "*"


class AccessListRejected(Exception):
    """A list that must not be applied: unsigned, badly signed, malformed or for another site."""


def canonical_bytes(args: Mapping[str, Any]) -> bytes:
    unsigned = {key: value for key, value in args.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(args: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The args with their `signature` added."""
    signature = key.sign(canonical_bytes(args))
    return {**{k: v for k, v in args.items() if k != "signature"}, "signature": base64.b64encode(signature).decode()}


def verify(args: Mapping[str, Any], key: Ed25519PublicKey, *, site: str) -> None:
    """Raise `AccessListRejected` unless the args are signed by `key` and addressed to `site`."""
    signature = args.get("signature")
    if not isinstance(signature, str):
        raise AccessListRejected("the list is not signed")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as error:
        raise AccessListRejected(f"the signature is not base64: {error}") from None
    try:
        key.verify(raw, canonical_bytes(args))
    except InvalidSignature:
        raise AccessListRejected("the signature does not match the list (wrong key, or altered)") from None
    if args.get("site") != site:
        raise AccessListRejected(f"the list is for site {args.get('site')!r}, not {site!r}")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The form a site's configuration holds: base64 of the 32 raw bytes."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not a base64 Ed25519 public key (32 bytes): {error}") from None


def private_key_text(key: Ed25519PrivateKey) -> str:
    """The form central's configuration holds: base64 of the 32 raw bytes of the seed."""
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def load_private_key(text: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not a base64 Ed25519 private key (32 bytes): {error}") from None


def entry(card: str, *, person: str | None = None, doors: Sequence[str] = (ALL_DOORS,),
          valid_from: str | None = None, valid_to: str | None = None) -> dict[str, Any]:
    """One entry of a list, every field present as the format has it."""
    return {"card": card, "person": person, "doors": list(doors), "valid_from": valid_from, "valid_to": valid_to}


def unsigned(site: str, version: int, entries: Sequence[Mapping[str, Any]], *, issued_at: str) -> dict[str, Any]:
    """The args of a list before `sign`."""
    return {"site": site, "version": version, "issued_at": issued_at, "entries": [dict(e) for e in entries]}
