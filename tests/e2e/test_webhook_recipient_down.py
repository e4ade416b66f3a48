"""A panic comes through the edge while the police's webhook recipient is down; once it listens again on the same
port, it receives the dispatch exactly once, with a valid signature."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from firmware_sim.dc09_dialler import Dc09Dialler, sia_event

from shaobing.broker import MosquittoBroker
from shaobing.net import free_port
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    CountingReceiver,
    EdgeProcess,
    eventually,
    new_secret,
    running_central,
    start_edge,
    wait_listening,
    write_edge_config,
)

SITE = "shop-b"
ACCOUNT = "5678"


async def test_a_dispatch_waits_for_a_recipient_that_is_down_and_reaches_it_once(
    make_broker: MakeBroker, sqlite_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    broker: MosquittoBroker = make_broker()
    guards = CountingReceiver("security company", new_secret())
    police = CountingReceiver("110", new_secret())
    police_port = free_port()  # nothing listens here until the recipient comes back
    key = secrets.token_hex(16)
    dc09_port = free_port()
    config = write_edge_config(tmp_path / f"{SITE}.toml", site=SITE, broker=broker, outbox=tmp_path / "outbox.db",
                               drivers=[{"type": "dc09", "name": "dialler", "listen": f"127.0.0.1:{dc09_port}",
                                         "accounts": {ACCOUNT: {"key": key, "name": "gold shop"}}}])
    await guards.start()
    try:
        async with running_central(
            broker, sqlite_url,
            recipients={"guards": guards.url, "police-110": f"http://127.0.0.1:{police_port}/hook"},
            secrets_by_name={"guards": guards.secret, "police-110": police.secret},
            security=["guards"], police=["police-110"],
        ) as central:
            edge = start_edge(edges, config)
            await wait_listening(dc09_port, watch=[edge])
            async with Dc09Dialler("127.0.0.1", dc09_port, ACCOUNT, key=bytes.fromhex(key)) as dialler:
                assert await dialler.send(sia_event("PA", 1), timeout=2.0)  # panic button, encrypted DC-09

            async def raised() -> list[dict[str, Any]]:
                return await central.dispatches(SITE)

            (dispatch,) = await eventually("the panic's dispatch", raised, watch=[edge])
            assert dispatch["alarm_class"] == "panic"

            async def tried_in_vain() -> dict[str, Any] | None:
                rows = await central.webhook_rows("police-110")
                return rows[0] if rows and rows[0]["attempts"] >= 2 else None

            row = await eventually("failed attempts to reach the police recipient", tried_in_vain)
            assert row["delivered_at"] is None and row["failed_at"] is None and row["last_error"]
            assert row["dispatch_id"] == dispatch["id"]

            await police.start(port=police_port)  # back, on the same address

            async def delivered() -> list[dict[str, Any]]:
                rows = await central.webhook_rows("police-110")
                return rows if all(r["delivered_at"] is not None for r in rows) and police.received else []

            rows = await eventually("the dispatch delivered to the police recipient", delivered, watch=[edge])

            async def guards_served() -> list[dict[str, Any]]:
                rows = await central.webhook_rows("guards")
                return rows if rows and all(r["delivered_at"] is not None for r in rows) else []

            guard_rows = await eventually("the dispatch delivered to the guards", guards_served)
    finally:
        await police.stop()
        await guards.stop()

    assert [(r["event"], r["dispatch_id"]) for r in rows] == [("dispatch.raised", dispatch["id"])]
    # Exactly once: one signed POST answered (no resend after the delivery was recorded), one delivery kept.
    assert police.refused == 0
    assert police.posts == 1
    assert [(d.event, d.payload["dispatch"]["id"], d.payload["dispatch"]["alarm_class"]) for d in police.received] \
        == [("dispatch.raised", dispatch["id"], "panic")]
    assert police.delivery_ids_posted == [police.received[0].delivery]
    assert [(r["event"], r["dispatch_id"]) for r in guard_rows] == [("dispatch.raised", dispatch["id"])]
    assert guards.posts == 1 and [d.payload["dispatch"]["id"] for d in guards.received] == [dispatch["id"]]

