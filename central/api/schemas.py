"""Request and response bodies of the HTTP API. Request bodies are closed: unknown keys are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from central.dispatch.states import Action, IncidentClass, Outcome

SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
CMD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ID = 2**63 - 1


class Out(BaseModel):
    """A response body, built straight from the store's record of the same name (`Model.model_validate(record)`)."""

    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ActionBody(RequestBody):
    action: Action
    guard: str | None = Field(default=None, min_length=1, max_length=128)
    outcome: Outcome | None = None
    incident_class: IncidentClass | None = None
    note: str | None = Field(default=None, max_length=1000)


class CommandArgs(RequestBody):
    # 0 is the whole site (the edge's convention); said explicitly, never assumed.
    partition: int = Field(ge=0, le=99, strict=True)


class CommandBody(RequestBody):
    name: Literal["arm", "disarm"]
    args: CommandArgs


class Health(BaseModel):
    status: str
    database: str


class SiteOut(BaseModel):
    id: str
    name: str
    kind: str
    online: bool | None
    online_since: datetime | None
    version: str | None
    armed: bool | None
    arming: dict[str, Any]
    last_seq: int
    state_last_seq: int | None
    last_reading_at: datetime | None
    last_test_at: datetime | None
    open_gaps: int
    missing_readings: int
    open_tickets: int


class GapOut(Out):
    site: str
    first_seq: int
    last_seq: int
    size: int
    detected_at: datetime


class TicketOut(Out):
    id: int
    site: str
    trouble_class: str
    device: str | None
    zone: str | None
    opened_at: datetime
    closed_at: datetime | None
    reading_id: int | None
    detail: str
    source: str  # reading, state, supervision (closed when the cause clears) or ingest (closed by an operator)


class ReadingOut(BaseModel):
    id: int
    site: str
    seq: int
    device: str
    kind: str
    priority: int
    ts: datetime
    rx: datetime
    stored_at: datetime
    data: dict[str, Any]


class ReadingPage(BaseModel):
    items: list[ReadingOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page; null on the last page")


class DispatchOut(BaseModel):
    id: int
    site: str
    reading_id: int
    alarm_class: str
    zone: str | None
    partition: str | None
    priority: int
    state: str
    recipients: list[str]
    escalated: bool
    escalated_at: datetime | None
    escalation_reason: str | None
    escalate_at: datetime | None
    guard: str | None
    outcome: str | None
    incident_class: str | None
    occurrences: int
    raised_at: datetime
    acknowledged_at: datetime | None
    guard_assigned_at: datetime | None
    on_scene_at: datetime | None
    resolved_at: datetime | None
    updated_at: datetime


class TransitionOut(BaseModel):
    id: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class DispatchDetail(DispatchOut):
    transitions: list[TransitionOut]
    timings: dict[str, float | None] = Field(description="seconds from raised to each step; null if not reached")


class StepSummary(BaseModel):
    count: int
    mean_s: float | None
    p90_s: float | None


class ResponseTimes(BaseModel):
    since: datetime
    until: datetime
    dispatches: int
    steps: dict[str, StepSummary]


class DeliveryOut(Out):
    id: int
    recipient: str
    event: str
    dispatch_id: int | None
    status: Literal["pending", "failed", "delivered"]
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None
    last_status: int | None


class CommandOut(Out):
    cmd_id: str
    site: str
    name: str
    args: dict[str, Any]
    issued_by: str
    issued_at: datetime
    ok: bool | None
    detail: str | None
    result_at: datetime | None
