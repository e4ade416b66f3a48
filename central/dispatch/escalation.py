"""The acknowledgement timer: a raised burglary that no operator acknowledges in time goes to 110.

Each dispatch carries its own deadline (`escalate_at`, set when it is raised), so the timer only has to look for
deadlines that have passed. Time comes from an injected clock; the loop's pace from `interval_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from central.dispatch.repository import DispatchConflict, apply_action, overdue_for_escalation
from central.dispatch.states import Action, ActionError, ActionRequest, EscalationReason, State
from shaobing.clock import Clock

SYSTEM_ACTOR = "system"


class EscalationTimer:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        police: Sequence[str],
        clock: Clock,
        logger: logging.Logger,
        interval_s: float = 1.0,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._police = tuple(police)
        self._clock = clock
        self._logger = logger
        self._interval_s = interval_s
        self._on_commit = on_commit

    async def escalate_overdue(self) -> list[int]:
        """Escalate every overdue dispatch now; returns the ids escalated (each in its own transaction)."""
        now = self._clock.now()
        async with self._engine.connect() as connection:
            candidates = await overdue_for_escalation(connection, now)
        escalated: list[int] = []
        request = ActionRequest(Action.ESCALATE, escalation_reason=EscalationReason.ACK_TIMEOUT)
        for dispatch_id in candidates:
            try:
                async with self._engine.begin() as connection:
                    await apply_action(
                        connection,
                        dispatch_id,
                        request,
                        actor=SYSTEM_ACTOR,
                        at=now,
                        police=self._police,
                        expect_state=State.RAISED,
                    )
            except (ActionError, DispatchConflict) as exc:
                # An operator acted in the meantime: that is the point of the timer, not an error.
                self._logger.info("dispatch %d not escalated by the timer: %s", dispatch_id, exc)
                continue
            escalated.append(dispatch_id)
            self._logger.warning("dispatch %d escalated to 110: not acknowledged in time", dispatch_id)
        if escalated and self._on_commit is not None:
            self._on_commit()
        return escalated

    async def run(self) -> None:
        """Run until cancelled; a failing round (database away) is logged and retried on the next tick."""
        while True:
            try:
                await self.escalate_overdue()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._logger.exception("escalation round failed; retrying in %.1f s", self._interval_s)
            await asyncio.sleep(self._interval_s)
