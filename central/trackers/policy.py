"""Who hears of a bike's theft and alarms, and the theft rule's settings, bound to the database engine.

The tracker actions (`central.trackers.actions`) are called by the owners' API with a connection only, yet a
confirmed theft must reach the recipients of the `police` role and the owner's notification gateway. Rather than a
module-level registry, the policy travels with the engine, as one of its execution options (SQLAlchemy passes user
options through untouched to every connection of the engine): the service attaches it once at start, and every
connection taken from that engine, in the ingest or in the API, finds the same policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.dispatch.repository import extend_payloads
from central.rules_settings import RulesSettings
from central.trackers.settings import TrackerSettings
from central.trackers.webhooks import tracker_payload

OPTION = "shaobing_tracker_policy"


class PolicyMissing(RuntimeError):
    """No tracker policy is attached to the engine: the service (or a test) must call `attach_policy`."""


@dataclass(frozen=True, slots=True)
class TrackerPolicy:
    security: tuple[str, ...]  # recipients of theft dispatches
    police: tuple[str, ...]  # added when a theft is confirmed or escalated
    owners: tuple[str, ...]  # the notification gateway that texts owners
    escalate_after_s: float  # an unacknowledged theft goes to 110 after this (when settings.escalate_thefts)
    public_url: str  # where owners open their bikes: {public_url}/my/
    settings: TrackerSettings = field(default_factory=TrackerSettings)

    @classmethod
    def of(cls, rules: RulesSettings, settings: TrackerSettings | None = None, *, public_url: str) -> TrackerPolicy:
        return cls(
            security=tuple(rules.recipients.security),
            police=tuple(rules.recipients.police),
            owners=tuple(rules.recipients.owners),
            escalate_after_s=rules.escalate_after,
            public_url=public_url.rstrip("/"),
            settings=settings or TrackerSettings(),
        )

    def bike_link(self, imei: str) -> str:
        """The owners' pages: the owner logs in and finds the bike there. A text message can be forwarded and a
        link can be logged, so the address names no bike (`imei` is not put in it)."""
        del imei
        return f"{self.public_url}/my/"


def attach_policy(engine: AsyncEngine, policy: TrackerPolicy, *, replace: bool = True) -> None:
    """Bind `policy` to `engine`, and the `tracker` object of bikes' dispatches to their steps (whoever takes them:
    central.trackers.webhooks); with `replace=False` a policy attached already is kept (so an app built over
    the service's engine does not override the service's settings)."""
    extend_payloads(engine, tracker_payload)
    if not replace and OPTION in engine.sync_engine.get_execution_options():
        return
    engine.update_execution_options(**{OPTION: policy})


def settings_of(connection: AsyncConnection) -> TrackerSettings:
    """The attached policy's settings, else the defaults (arming needs no recipients)."""
    policy = connection.engine.sync_engine.get_execution_options().get(OPTION)
    return policy.settings if isinstance(policy, TrackerPolicy) else TrackerSettings()


def policy_of(connection: AsyncConnection) -> TrackerPolicy:
    policy = connection.engine.sync_engine.get_execution_options().get(OPTION)
    if not isinstance(policy, TrackerPolicy):
        raise PolicyMissing("no tracker policy is attached to this database engine (central.trackers.policy)")
    return policy
