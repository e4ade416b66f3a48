"""Settings of the alarm rules: who gets which dispatch, and when an unacknowledged burglary goes to 110."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from shaobing.config import Closed
from shaobing.topics import is_valid_site_id

RECIPIENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class RoleRecipients(Closed):
    """Names of webhook recipients per role; every name must be a configured webhook recipient."""

    security: list[str] = Field(default_factory=list)
    police: list[str] = Field(default_factory=list)
    fire: list[str] = Field(default_factory=list)
    medical: list[str] = Field(default_factory=list)
    # The notification (SMS) gateway that texts e-bike owners about their bikes (central.trackers.notify).
    owners: list[str] = Field(default_factory=list)

    @field_validator("security", "police", "fire", "medical", "owners")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not re.match(RECIPIENT_NAME, name):
                raise ValueError(f"recipient name {name!r} must match {RECIPIENT_NAME}")
        if len(set(names)) != len(names):
            raise ValueError("a recipient is listed twice")
        return names

    def of(self, role: str) -> list[str]:
        names: list[str] = getattr(self, role)
        return names

    def all_names(self) -> set[str]:
        return {*self.security, *self.police, *self.fire, *self.medical, *self.owners}


class RulesSettings(Closed):
    # Seconds a raised burglary may wait for an operator's acknowledgement before it is escalated to 110.
    escalate_after: float = Field(default=120.0, gt=0, le=86_400)
    recipients: RoleRecipients = Field(default_factory=RoleRecipients)
    # Per site, zones that dispatch whatever the arming state (24-hour zones: safes, fire exits, panic buttons).
    zones_24h: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("zones_24h")
    @classmethod
    def _sites(cls, zones: dict[str, list[str]]) -> dict[str, list[str]]:
        for site in zones:
            if not is_valid_site_id(site):
                raise ValueError(f"{site!r} is not a valid site id")
        return zones

    def is_24h_zone(self, site: str, zone: str | None) -> bool:
        return zone is not None and zone in self.zones_24h.get(site, ())


def unknown_recipients(settings: RulesSettings, configured: set[str]) -> set[str]:
    """Recipient names the rules use that no webhook recipient is configured for (the service refuses to start)."""
    return settings.recipients.all_names() - configured
