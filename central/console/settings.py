"""The monitoring centre's console: its staff users, sessions, response-time targets, action plans and map tiles.

`[console]` in central's configuration. Users are listed in the file with scrypt hashes (`shaobing central
hash-password` prints one): a monitoring centre has a handful of staff, changed by the admin who runs the service, and
a file under change control says who may log in better than a table anyone with the database can edit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from shaobing.config import Closed

LOGIN_PATTERN = r"^[a-z0-9][a-z0-9_.-]{1,31}$"
STEP_KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class StaffUser(Closed):
    login: str = Field(pattern=LOGIN_PATTERN)
    name: str = Field(min_length=1, max_length=64)  # shown in the queue and recorded as the actor
    role: Literal["viewer", "operator", "supervisor", "admin"]
    password_hash: str = Field(pattern=r"^scrypt\$", max_length=256)


class PlanStep(Closed):
    key: str = Field(pattern=STEP_KEY_PATTERN)
    text: str = Field(min_length=1, max_length=300)  # in Chinese, as the centre writes its plans
    text_en: str | None = Field(default=None, max_length=300)


class CallEntry(Closed):
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field(min_length=3, max_length=32)
    note: str | None = Field(default=None, max_length=200)


class ActionPlan(Closed):
    """What an operator must do for an alarm of one class before it may be closed."""

    steps: list[PlanStep] = Field(default_factory=list, max_length=30)
    calls: list[CallEntry] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def _unique_keys(self) -> ActionPlan:
        keys = [step.key for step in self.steps]
        if len(keys) != len(set(keys)):
            raise ValueError("the keys of a plan's steps must be unique")
        return self


class MapTiles(Closed):
    """Where the pages' maps take their tiles. An empty url draws no tiles: the position and track still show."""

    url: str = Field(default="", max_length=300)  # e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    attribution: str = Field(default="", max_length=300)
    max_zoom: int = Field(default=19, ge=1, le=22)


class ConsoleSettings(Closed):
    users: list[StaffUser] = Field(default_factory=list)
    session_ttl_s: int = Field(default=12 * 3600, ge=300, le=7 * 86_400)  # a shift, with margin
    # Seconds a raised alarm may wait for an acknowledgement, by priority (1 life safety ... 4 other); past it, the
    # queue shows the breach in red. Priorities not listed use `ack_sla_default_s`.
    ack_sla_s: dict[str, float] = Field(default_factory=lambda: {"1": 30.0, "2": 60.0, "3": 90.0})
    ack_sla_default_s: float = Field(default=180.0, gt=0, le=86_400)
    plans: dict[str, ActionPlan] = Field(default_factory=dict)  # by alarm class; "*" for every class without one
    tiles: MapTiles = Field(default_factory=MapTiles)
    default_language: Literal["zh-CN", "en"] = "zh-CN"

    @model_validator(mode="after")
    def _unique_logins(self) -> ConsoleSettings:
        logins = [user.login for user in self.users]
        if len(logins) != len(set(logins)):
            raise ValueError("console.users: every login must be unique")
        names = [user.name for user in self.users]
        if len(names) != len(set(names)):
            raise ValueError("console.users: every name must be unique (it names the actor in the audit log)")
        return self

    def user(self, login: str) -> StaffUser | None:
        return next((user for user in self.users if user.login == login), None)

    def plan_for(self, alarm_class: str) -> ActionPlan | None:
        return self.plans.get(alarm_class) or self.plans.get("*")

    def ack_sla(self, priority: int) -> float:
        return self.ack_sla_s.get(str(priority), self.ack_sla_default_s)
