"""A rider's SOS repeated by the tracker across many GT06 alarm packets, through the real gateway, broker and central,
on SQLite and on PostgreSQL: one dispatch (the repeats fold into it), to the guards and to 110 at once (life safety:
no acknowledgement timer, armed or not), naming the bike (its tracker object) and nothing about its owner, and one
text to the owner, not one per packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings

from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    GATEWAY,
    BikeRecipients,
    EdgeProcess,
    bike_recipients,
    bike_site,
    eventually,
    provision_and_claim,
    running_trackers,
    settled,
    sign_up,
    sim_tracker,
)

TRACKER = SimTrackerSettings(interval_s=2.0, heartbeat_s=30.0, reconnect_min_s=0.2, reconnect_max_s=1.0)
FIRST_PRESSES, LATER_PRESSES = 4, 8


@dataclass
class SosScene:
    imei: str
    raised: dict[str, Any]  # 110's delivery of the dispatch being raised
    dispatched: list[dict[str, Any]]  # the SOS dispatches at central once every packet was stored
    alarms: list[dict[str, Any]]  # the alarm readings stored


async def _sos_scene(make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess],
                     to: BikeRecipients) -> SosScene:
    # An unacknowledged alarm would reach 110 only after an hour: the SOS must get there without waiting.
    async with bike_site(make_broker, database_url, tmp_path, edges, to, escalate_after=3600) as (
        central, gateway, port
    ):
        watch = [gateway]
        owner = await sign_up(central, "13800138000", "张伟")
        tracker = sim_tracker(0, port, settings=TRACKER, seed=9)
        imei = tracker.imei
        await provision_and_claim(central, owner, imei, name="小蓝", plate="深圳A12345")
        tracker.ride(min_blocks=10)  # riding, disarmed

        async with running_trackers([tracker]):
            async def positioned() -> bool:
                return (await owner.bike(imei))["position"] is not None

            await eventually("the bike's first position", positioned, watch=watch)
            for _ in range(FIRST_PRESSES):
                tracker.sos()

            async def police_has_it() -> list[dict[str, Any]]:
                return to.dispatches_to(to.police, alarm_class="sos", zone=imei, event="dispatch.raised")

            raised = (await eventually("110's SOS dispatch", police_has_it, watch=watch))[0]
            for _ in range(LATER_PRESSES):  # the device keeps sending it after the dispatch is out
                tracker.sos()

            async def all_folded() -> list[dict[str, Any]] | None:
                sos = [d for d in await central.dispatches(GATEWAY) if d["alarm_class"] == "sos"]
                total = FIRST_PRESSES + LATER_PRESSES
                return sos if settled(tracker) and sum(d["occurrences"] for d in sos) == total else None

            dispatched = await eventually("every SOS packet folded into the dispatch", all_folded, watch=watch)
            alarms = [r for r in await central.readings(GATEWAY) if r["kind"] == "alarm"]
    return SosScene(imei, raised, dispatched, alarms)


async def test_an_sos_repeated_in_many_packets_is_one_dispatch_to_110_at_once(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    async with bike_recipients() as to:
        scene = await _sos_scene(make_broker, database_url, tmp_path, edges, to)
    imei, total = scene.imei, FIRST_PRESSES + LATER_PRESSES
    assert len(scene.alarms) == total
    assert {(a["data"]["class"], a["data"]["zone"], a["data"]["source"]) for a in scene.alarms} == {
        ("sos", imei, "tracker")}
    assert [(d["zone"], d["occurrences"]) for d in scene.dispatched] == [(imei, total)]
    assert scene.raised["dispatch"]["id"] == scene.dispatched[0]["id"]
    assert scene.raised["reading"]["data"]["lat"] is not None  # where the rider is, from the alarm packet's fix
    assert len(to.dispatches_to(to.guards, alarm_class="sos", zone=imei, event="dispatch.raised")) == 1
    assert len(to.dispatches_to(to.police, alarm_class="sos", zone=imei, event="dispatch.raised")) == 1
    texts = to.texts(imei=imei)
    assert [(t["event"], t["alarm_class"]) for t in texts] == [("owner.alarm", "sos")]  # once, not per packet
    assert texts[0]["dispatch_id"] == scene.dispatched[0]["id"]
    # The guards and 110 are told which bike the rider is on, and nothing about its owner.
    for receiver in (to.guards, to.police):
        delivery = to.dispatches_to(receiver, alarm_class="sos", zone=imei, event="dispatch.raised")[0]
        tracker = delivery.get("tracker")
        assert tracker is not None, f"{receiver.name} got the SOS without the bike: {sorted(delivery)}"
        assert (tracker["imei"], tracker["name"], tracker["plate"]) == (imei, "小蓝", "深圳A12345")
        assert tracker["position"] is not None
        assert "13800138000" not in str(delivery) and "张伟" not in str(delivery)
