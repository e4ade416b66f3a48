"""What the demo checks as it plays, and the summary it prints at the end (dispatches with their timings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from shaobing.demo.receiver import WebhookReceiver


@dataclass
class Expectations:
    results: list[tuple[str, bool]] = field(default_factory=list)
    burglary_sent: float | None = None
    panic_id: int | None = None
    scenes: dict[str, Expectations] = field(default_factory=dict)

    def check(self, what: str, ok: bool) -> None:
        self.results.append((what, ok))

    def scene(self, name: str) -> Expectations:
        """The expectations of a scene that plays at the same time as the others, printed under its own name."""
        return self.scenes.setdefault(name, Expectations())

    @property
    def all_ok(self) -> bool:
        return all(ok for _, ok in self.results) and all(scene.all_ok for scene in self.scenes.values())


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}s"


async def print_summary(api: httpx.AsyncClient, expect: Expectations, guards: WebhookReceiver,
                        police: WebhookReceiver, say: Callable[[str], None], where: list[str] | None = None) -> bool:
    listing = await api.get("/api/dispatches")
    listing.raise_for_status()
    details: list[dict[str, Any]] = []
    for dispatch in listing.json():
        detail = await api.get(f"/api/dispatches/{dispatch['id']}")
        detail.raise_for_status()
        details.append(detail.json())

    table = Table(title="dispatches", title_justify="left")
    for column in ("#", "site", "class", "zone", "state", "to 110", "ack", "guard", "on scene", "resolved",
                   "outcome", "recipients"):
        table.add_column(column)
    for d in details:
        timings = d.get("timings", {})
        escalation = "—" if not d["escalated"] else f"{d['escalation_reason']} +{_seconds(timings.get('escalated'))}"
        table.add_row(str(d["id"]), d["site"], d["alarm_class"], d["zone"] or "—", d["state"], escalation,
                      _seconds(timings.get("acknowledged")), _seconds(timings.get("guard_assigned")),
                      _seconds(timings.get("on_scene")), _seconds(timings.get("resolved")),
                      f"{d['outcome'] or '—'}/{d['incident_class'] or '—'}", ", ".join(d["recipients"]))
    console = Console(width=160)
    console.print(table)

    classes = {d["alarm_class"]: d for d in details}
    burglary, panic = classes.get("burglary"), classes.get("panic")
    expect.check("burglary dispatched, escalated for want of acknowledgement",
                 bool(burglary and burglary["escalation_reason"] == "ack_timeout"))
    expect.check("panic escalated to 110 at once and resolved as real",
                 bool(panic and panic["escalation_reason"] == "panic" and panic["state"] == "resolved"))
    expect.check("restore raised no dispatch", sum(1 for d in details if d["site"] == "shop-001") == 1)
    expect.check("110 received the burglary and the panic",
                 {d.payload.get("dispatch", {}).get("alarm_class") for d in police.received} >= {"burglary", "panic"})
    expect.check("the security company received both", len({d.payload.get("dispatch", {}).get("id")
                                                             for d in guards.received}) >= 2)
    say(f"webhooks: security company {len(guards.received)} deliveries, 110 {len(police.received)}; "
        f"refused signatures {guards.refused + police.refused}")
    sections = [("shops", expect.results), *((name, scene.results) for name, scene in expect.scenes.items())]
    for title, results in sections:
        console.print(title)
        for what, ok in results:
            console.print(f"  {'[green]ok[/green]' if ok else '[red]FAILED[/red]'}  {what}")
    for line in where or []:
        console.print(line, markup=False, highlight=False)
    say("demo " + ("passed: every step happened as expected" if expect.all_ok else "FAILED: see the lines above"))
    return expect.all_ok
