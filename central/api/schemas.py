"""Request and response bodies of the HTTP API. Request bodies are closed: unknown keys are refused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from central.dispatch.states import Action, IncidentClass, Outcome
from central.store.owners import normalize_phone

SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
CMD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_ID = 2**63 - 1
# Free text staff type (notes, a guard's name): no NUL, which PostgreSQL cannot store in text or JSON.
NO_NUL_PATTERN = r"^[^\x00]*$"


class Out(BaseModel):
    """A response body, built straight from the store's record of the same name (`Model.model_validate(record)`)."""

    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ActionBody(RequestBody):
    action: Action
    guard: str | None = Field(default=None, min_length=1, max_length=128, pattern=NO_NUL_PATTERN)
    outcome: Outcome | None = None
    incident_class: IncidentClass | None = None
    note: str | None = Field(default=None, max_length=1000, pattern=NO_NUL_PATTERN)
    take_over: bool = Field(default=False, description="act on a dispatch another staff member is handling, taking "
                            "it over (recorded in the audit log)")


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
    area: str | None = Field(default=None, description="the patrol area the site belongs to")
    address: str | None = None
    lat: float | None = Field(default=None, description="WGS 84")
    lon: float | None = Field(default=None, description="WGS 84")


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
    handler: str | None = Field(default=None, description="the staff member handling it")


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


# -- owners, bikes, trackers, share links ------------------------------------------------------------------------------

IMEI_PATTERN = r"^[0-9]{15}$"
LINK_ID_PATTERN = r"^[0-9a-f]{16}$"
# Names and plates are shown on pages and written into exports: no control characters.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


COMMON_PASSWORDS = frozenset(
    {
        "12345678", "123456789", "1234567890", "87654321", "password", "password1", "passw0rd", "qwertyui",
        "qwerty123", "iloveyou", "woaini1314", "woaini520", "a1234567", "aa123456", "abc12345", "abcd1234",
        "1qaz2wsx", "qazwsxedc", "zxcvbnm1", "asdfghjk", "asdf1234", "admin123", "root1234", "11223344",
        "123123123", "147258369", "123qweasd", "qweasdzxc", "5201314520", "1314520520",
    }
)


class OwnerSignUp(RequestBody):
    # Passwords are taken exactly as typed: stripping would silently change them.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    phone: str = Field(min_length=1, max_length=32, description="a Chinese mobile number or +E.164")
    name: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    password: str = Field(min_length=8, max_length=128)

    @field_validator("phone")
    @classmethod
    def _phone(cls, phone: str) -> str:
        normalized = normalize_phone(phone)
        if normalized is None:
            raise ValueError("not a Chinese mobile number (13812345678) nor an international one (+4420...)")
        return normalized

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a name is needed")
        return name.strip()

    @model_validator(mode="after")
    def _strong_enough(self) -> OwnerSignUp:
        password = self.password
        digits = "".join(char for char in self.phone if char.isdigit())
        if len(set(password)) < 4:
            raise ValueError("the password is too easy to guess: use more different characters")
        if password.lower() in COMMON_PASSWORDS or password[::-1] in COMMON_PASSWORDS:
            raise ValueError("the password is one of the most common ones")
        if len(digits) >= 8 and (digits[-8:] in password or digits[-8:][::-1] in password):
            raise ValueError("the password must not contain the phone number")
        return self


class OwnerLogin(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    phone: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class OwnerOut(BaseModel):
    id: int
    phone: str
    name: str
    created_at: datetime
    bikes: int


class SessionOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer TOKEN`; shown once, only its hash is kept")
    expires_at: datetime
    owner: OwnerOut


class ClaimBody(RequestBody):
    imei: str = Field(min_length=1, max_length=32)
    bind_code: str = Field(min_length=1, max_length=32)
    name: str | None = Field(default=None, max_length=64, pattern=_PRINTABLE)
    plate: str | None = Field(default=None, max_length=16, pattern=_PRINTABLE)


class BikeUpdate(RequestBody):
    name: str | None = Field(default=None, max_length=64, pattern=_PRINTABLE)
    plate: str | None = Field(default=None, max_length=16, pattern=_PRINTABLE, description="empty clears it")


class PositionOut(BaseModel):
    """The newest accepted GPS fix."""

    lat: float
    lon: float
    fix_time: datetime
    age_s: float = Field(description="seconds from the fix to now")
    speed_kmh: float | None
    course: float | None
    satellites: int | None


class CellOut(BaseModel):
    """The newest cell-tower report: where the tower is, not where the bike is."""

    time: datetime
    age_s: float
    approximate: Literal[True] = True
    cell: dict[str, Any]


class BikeStatusOut(BaseModel):
    voltage_level: int | float | None = None
    gsm: int | float | None = None
    charging: bool | None = None
    acc: bool | None = None


class BikeOut(BaseModel):
    imei: str
    name: str
    plate: str | None
    armed: bool
    armed_at: datetime | None
    theft_state: str | None
    theft_at: datetime | None
    position: PositionOut | None
    cell: CellOut | None
    last_seen_at: datetime | None
    status: BikeStatusOut


class OwnerBrief(BaseModel):
    id: int
    name: str
    phone: str = Field(description="masked (+86138****5678) below supervisor")


class TrackerOut(BikeOut):
    site: str | None
    armed_by: str | None
    theft_dispatch_id: int | None
    claimable: bool = Field(description="provisioned with a bind code")
    owner: OwnerBrief | None
    created_at: datetime
    updated_at: datetime


class TrackerPage(BaseModel):
    items: list[TrackerOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class TrackerProvision(RequestBody):
    imei: str = Field(min_length=1, max_length=32)
    name: str = Field(default="", max_length=64, pattern=_PRINTABLE)
    plate: str | None = Field(default=None, max_length=16, pattern=_PRINTABLE)
    bind_code: str = Field(min_length=1, max_length=32)


class TrackPointOut(BaseModel):
    fix_time: datetime
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    course: float | None
    satellites: int | None
    source: str
    approximate: bool
    archived: bool = Field(description="re-uploaded from the device's buffer: late, in its place by fix time")
    filtered: str | None = Field(default=None, description="why the filters set it aside (staff, on request)")


class TrackOut(BaseModel):
    imei: str
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    source: Literal["gps", "cells"]
    points: list[TrackPointOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class ShareBody(RequestBody):
    ttl_s: int | None = Field(
        default=None, ge=60, le=30 * 86_400, strict=True, description="seconds the link lives; default a day"
    )


class ShareCreated(BaseModel):
    id: str = Field(description="names the link in listings and to revoke it")
    url: str = Field(description="shown once: only the hash of its token is kept")
    expires_at: datetime


class ShareOut(BaseModel):
    id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


class TheftOut(BaseModel):
    dispatch_id: int
    link: ShareCreated


class TrackerCommandBody(RequestBody):
    name: Literal["engine_stop", "engine_resume"]


class SharedBikeOut(BaseModel):
    """What a share link shows: the bike and where it is; nothing about its owner."""

    name: str
    plate: str | None
    theft_state: str | None
    expires_at: datetime
    position: PositionOut | None
    cell: CellOut | None
    last_seen_at: datetime | None
    track: list[TrackPointOut] = Field(description="accepted GPS fixes of the hour up to the newest one")
