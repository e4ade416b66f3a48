"""The dispatch state machine, without I/O: which action is allowed in which state, and what it changes.

raised -> acknowledged -> guard_assigned -> on_scene -> resolved. Escalation to 110 is not a state but a flag with a
time and a reason: a dispatch can be escalated in any open state, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class State(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    GUARD_ASSIGNED = "guard_assigned"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"


OPEN_STATES: tuple[State, ...] = (State.RAISED, State.ACKNOWLEDGED, State.GUARD_ASSIGNED, State.ON_SCENE)


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ASSIGN_GUARD = "assign_guard"
    ON_SCENE = "on_scene"
    CONFIRM = "confirm"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    CANCEL = "cancel"  # shorthand for resolve with outcome cancelled_by_user


class Outcome(StrEnum):
    REAL = "real"
    FALSE = "false"
    CANCELLED_BY_USER = "cancelled_by_user"
    TEST = "test"
    UNKNOWN = "unknown"


class IncidentClass(StrEnum):
    PUBLIC_ORDER = "public_order"
    CRIMINAL = "criminal"
    TRAFFIC_ACCIDENT = "traffic_accident"
    HELP_REQUEST = "help_request"
    NONE = "none"


class EscalationReason(StrEnum):
    ACK_TIMEOUT = "ack_timeout"
    CONFIRMED = "confirmed"
    PANIC = "panic"
    MANUAL = "manual"


class Event(StrEnum):
    """Webhook events; also what a recipient is told after each action."""

    RAISED = "dispatch.raised"
    ESCALATED = "dispatch.escalated"
    UPDATED = "dispatch.updated"
    RESOLVED = "dispatch.resolved"


# Column stamped with the time of the step when a dispatch enters each state.
class ActionError(ValueError):
    """An action that cannot be applied; `reason` says why in words an operator understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingDetail(ActionError):
    """The request lacks something the action needs (a guard's name, an outcome): the request is at fault."""


class NotAllowed(ActionError):
    """The action is not allowed in the dispatch's current state."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: Action
    guard: str | None = None
    outcome: Outcome | None = None
    incident_class: IncidentClass | None = None
    note: str | None = None
    escalation_reason: EscalationReason = EscalationReason.MANUAL  # only for escalate: the timer passes ack_timeout


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the audit trail."""

    action: str
    from_state: State
    to_state: State
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Plan:
    """What applying an action changes; the repository writes it in one transaction."""

    steps: tuple[Step, ...]
    to_state: State
    stamps: tuple[str, ...] = ()  # timestamp columns to set (only where still empty)
    guard: str | None = None
    outcome: Outcome | None = None
    incident_class: IncidentClass | None = None
    escalation: EscalationReason | None = None
    event: Event = Event.UPDATED


def _note(request: ActionRequest) -> dict[str, Any]:
    return {"note": request.note} if request.note else {}


def _escalation_step(state: State, reason: EscalationReason) -> Step:
    return Step("escalate", state, state, {"reason": reason.value})


def plan(state: State, escalated: bool, request: ActionRequest) -> Plan:
    """Plan `request` on a dispatch in `state` (escalated or not), or raise `ActionError` saying why not."""
    action = request.action
    if state is State.RESOLVED:
        raise NotAllowed(f"cannot {action.value}: the dispatch is already resolved")
    note = _note(request)

    if action is Action.ACKNOWLEDGE:
        if state is not State.RAISED:
            raise NotAllowed(f"cannot acknowledge: the dispatch is already {state.value}")
        return Plan((Step(action.value, state, State.ACKNOWLEDGED, note),), State.ACKNOWLEDGED, ("acknowledged_at",))

    if action is Action.ASSIGN_GUARD:
        if not request.guard:
            raise MissingDetail("assign_guard needs the guard's name")
        if state not in (State.RAISED, State.ACKNOWLEDGED):
            raise NotAllowed(f"cannot assign a guard: the dispatch is already {state.value}")
        steps: list[Step] = []
        if state is State.RAISED:
            steps.append(Step(Action.ACKNOWLEDGE.value, state, State.ACKNOWLEDGED, {"implicit": True}))
        steps.append(Step(action.value, State.ACKNOWLEDGED, State.GUARD_ASSIGNED, {"guard": request.guard, **note}))
        return Plan(tuple(steps), State.GUARD_ASSIGNED, ("acknowledged_at", "guard_assigned_at"), guard=request.guard)

    if action is Action.ON_SCENE:
        if state is not State.GUARD_ASSIGNED:
            raise NotAllowed(f"cannot mark on scene: the dispatch is {state.value}, not guard_assigned")
        return Plan((Step(action.value, state, State.ON_SCENE, note),), State.ON_SCENE, ("on_scene_at",))

    if action is Action.CONFIRM:
        steps = [Step(action.value, state, state, note)]
        if escalated:
            return Plan(tuple(steps), state)
        steps.append(_escalation_step(state, EscalationReason.CONFIRMED))
        return Plan(tuple(steps), state, escalation=EscalationReason.CONFIRMED, event=Event.ESCALATED)

    if action is Action.ESCALATE:
        if escalated:
            raise NotAllowed("cannot escalate: the dispatch has already been escalated to 110")
        reason = request.escalation_reason
        step = Step(action.value, state, state, {"reason": reason.value, **note})
        return Plan((step,), state, escalation=reason, event=Event.ESCALATED)

    if action in (Action.RESOLVE, Action.CANCEL):
        outcome = Outcome.CANCELLED_BY_USER if action is Action.CANCEL else request.outcome
        incident_class = request.incident_class
        if action is Action.CANCEL and incident_class is None:
            incident_class = IncidentClass.NONE
        if outcome is None:
            raise MissingDetail(f"resolve needs an outcome: one of {', '.join(o.value for o in Outcome)}")
        if incident_class is None:
            raise MissingDetail(f"resolve needs an incident_class: one of {', '.join(c.value for c in IncidentClass)}")
        steps = []
        from_state = state
        if state is State.RAISED:
            # Resolving is the operator's first response: it counts as the acknowledgement too.
            steps.append(Step(Action.ACKNOWLEDGE.value, state, State.ACKNOWLEDGED, {"implicit": True}))
            from_state = State.ACKNOWLEDGED
        detail: dict[str, Any] = {"outcome": outcome.value, "incident_class": incident_class.value, **note}
        if action is Action.CANCEL:
            detail["cancel"] = True
        steps.append(Step(Action.RESOLVE.value, from_state, State.RESOLVED, detail))
        return Plan(
            tuple(steps),
            State.RESOLVED,
            ("acknowledged_at", "resolved_at"),
            outcome=outcome,
            incident_class=incident_class,
            event=Event.RESOLVED,
        )

    raise NotAllowed(f"unknown action {action!r}")  # pragma: no cover - Action is closed
