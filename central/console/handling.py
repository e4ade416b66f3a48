"""Who handles a dispatch: the first staff member to act on it. Another acts on it only by taking it over on purpose,
so two operators never work the same alarm by accident; a take-over is recorded in the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from central.dispatch.repository import Dispatch


class HandledByOther(Exception):
    def __init__(self, handler: str) -> None:
        super().__init__(f"{handler} is handling this dispatch: take it over to act on it")
        self.handler = handler

    def detail(self) -> dict[str, str]:
        return {"message": str(self), "handler": self.handler, "reason": "handled_by_other"}


@dataclass(frozen=True, slots=True)
class Handling:
    handler: str  # who handles it after this action
    taken_over_from: str | None  # whom it was taken from, when it was


def claim(dispatch: Dispatch, actor: str, *, take_over: bool) -> Handling:
    """The handling after `actor` acts on `dispatch`, or HandledByOther."""
    current = dispatch.handler
    if current is None or current == actor:
        return Handling(actor, None)
    if not take_over:
        raise HandledByOther(current)
    return Handling(actor, current)
