"""Settings of central's people and places (the `[people]` table of the central config)."""

from __future__ import annotations

from pydantic import Field, field_validator

from shaobing.access_list import load_private_key
from shaobing.config import Closed
from shaobing.topics import is_valid_site_id


class PeopleSettings(Closed):
    # The key of the watch-list's ID-number hashes (HMAC-SHA256). Without it the watch-list is off: nothing is
    # compared and imports are refused. Changing it orphans every imported entry (import the list again).
    watchlist_key: str | None = Field(default=None, min_length=16, max_length=256)
    # The largest watch-list CSV one import takes (1,000,000 rows of ID number, name, reason and case are ~100 MB).
    watchlist_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # Central's Ed25519 private key (base64 of the 32-byte seed) that signs the sites' allow-lists; without it card
    # changes are recorded but no list is sent.
    access_list_key: str | None = None
    # Underground headcount limit per mine site; a mine not listed has `underground_limit` (0: no limit).
    underground_limit: int = Field(default=0, ge=0, le=100_000)
    underground_limits: dict[str, int] = Field(default_factory=dict)
    # A key person (explosives handler, ...) not seen by any reader for this long raises an alert.
    key_person_absent_s: float = Field(default=12 * 3600.0, gt=0, le=30 * 86_400)
    check_every_s: float = Field(default=60.0, gt=0, le=3600)

    @field_validator("access_list_key")
    @classmethod
    def _key(cls, text: str | None) -> str | None:
        if text is not None:
            load_private_key(text)  # raises ValueError with the reason
        return text

    @field_validator("underground_limits")
    @classmethod
    def _sites(cls, limits: dict[str, int]) -> dict[str, int]:
        for site, limit in limits.items():
            if not is_valid_site_id(site):
                raise ValueError(f"{site!r} is not a valid site id")
            if limit < 0:
                raise ValueError(f"the limit of {site!r} is negative")
        return limits

    def limit_of(self, site: str) -> int:
        return self.underground_limits.get(site, self.underground_limit)
