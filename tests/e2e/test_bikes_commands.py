"""Engine stop through the whole chain: the owner's API -> MQTT `cmd` -> the tracker gateway (an edge process) -> the
GT06 driver -> the simulated tracker's answer -> `cmd/result` -> central, on SQLite and on PostgreSQL.

A riding bike's engine is stopped (the tracker answers, the bike stands where it was) and resumed; a command for a
tracker that has gone offline answers not ok, saying so; one for a tracker that never reported is refused (409); an
owner cannot command, nor read the commands of, another owner's bike (404, word for word what an unknown IMEI gets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware_sim.tracker.device import Report
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings
from firmware_sim.tracker.imeis import DEFAULT_BASE, imei_at

from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    EdgeProcess,
    Owner,
    RunningCentral,
    bike_recipients,
    bike_site,
    carrying,
    eventually,
    positions_of,
    provision_and_claim,
    running_trackers,
    sign_up,
    sim_tracker,
)

TRACKER = SimTrackerSettings(interval_s=1.0, heartbeat_s=20.0, reconnect_min_s=0.2, reconnect_max_s=1.0)


async def _issue(owner: Owner, imei: str, name: str) -> dict[str, Any]:
    issued = await owner.call("POST", f"/api/my/bikes/{imei}/commands", json={"name": name})
    assert issued.status_code == 202, issued.text
    body: dict[str, Any] = issued.json()
    assert (body["name"], body["args"]["device"], body["ok"]) == (name, imei, None)  # sent, not answered yet
    return body


async def _answer(owner: Owner, imei: str, cmd_id: str, watch: list[EdgeProcess]) -> dict[str, Any]:
    async def answered() -> dict[str, Any] | None:
        found = await owner.call("GET", f"/api/my/bikes/{imei}/commands/{cmd_id}")
        assert found.status_code == 200, found.text
        body: dict[str, Any] = found.json()
        return body if body["ok"] is not None else None

    # The gateway waits up to 25 s for a tracker's answer: an answer arrives well within that or says why not. The
    # edge reports the answer as `{driver}: {the tracker's text}`.
    return await eventually(f"the answer to command {cmd_id}", answered, within=40, watch=watch)


async def test_engine_stop_and_resume_reach_the_tracker_and_its_answer_comes_back_to_the_owner(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    journal: list[Report] = []
    async with bike_recipients() as to, bike_site(make_broker, database_url, tmp_path, edges, to) as (
        central, gateway, port
    ):
        watch = [gateway]
        zhang = await sign_up(central, "13800138000", "张伟")
        li = await sign_up(central, "13900139000", "李娜")
        ridden = sim_tracker(0, port, settings=TRACKER, seed=3, journal=journal)
        other = sim_tracker(1, port, settings=TRACKER, seed=4)
        never_reported = imei_at(DEFAULT_BASE, 2)
        await provision_and_claim(central, zhang, ridden.imei, name="小蓝")
        await provision_and_claim(central, li, other.imei, name="绿驹")
        await provision_and_claim(central, li, never_reported, name="备用")
        ridden.ride(min_blocks=12)

        async with running_trackers([ridden, other]):
            async def both_positioned() -> bool:
                return all([(await zhang.bike(ridden.imei))["position"], (await li.bike(other.imei))["position"]])

            await eventually("both bikes' positions at central", both_positioned, watch=watch)

            stop = await _issue(zhang, ridden.imei, "engine_stop")
            assert stop["args"]["user"].startswith("owner:") and "张伟" not in str(stop)
            stopped = await _answer(zhang, ridden.imei, stop["cmd_id"], watch)
            assert (stopped["ok"], stopped["detail"]) == (True, "gt06: Cut off the fuel supply: Success!")
            assert ridden.bike.engine_cut and not ridden.bike.riding
            cut_at = len(journal)
            await eventually("fixes of the stopped bike at central", lambda: _stored(central, ridden.imei,
                                                                                        journal[cut_at:cut_at + 3]))
            assert all(report.speed_kmh <= 4 for report in journal[cut_at:cut_at + 3])  # it stands (drift only)

            resume = await _issue(zhang, ridden.imei, "engine_resume")
            resumed = await _answer(zhang, ridden.imei, resume["cmd_id"], watch)
            assert (resumed["ok"], resumed["detail"]) == (True, "gt06: Restore fuel supply: Success!")
            assert not ridden.bike.engine_cut

            # Another owner's bike answers exactly as an unknown one, for commands and for reading them.
            unknown = await li.call("POST", f"/api/my/bikes/{imei_at(DEFAULT_BASE, 9)}/commands",
                                    json={"name": "engine_stop"})
            foreign = await li.call("POST", f"/api/my/bikes/{ridden.imei}/commands", json={"name": "engine_stop"})
            assert (foreign.status_code, foreign.json()) == (unknown.status_code, unknown.json()) and \
                unknown.status_code == 404
            peeked = await li.call("GET", f"/api/my/bikes/{ridden.imei}/commands/{stop['cmd_id']}")
            assert (peeked.status_code, peeked.json()) == (unknown.status_code, unknown.json())
            # A bike that never reported through a gateway cannot be reached.
            unreachable = await li.call("POST", f"/api/my/bikes/{never_reported}/commands",
                                        json={"name": "engine_stop"})
            assert unreachable.status_code == 409, unreachable.text

            # A tracker that has lost its network: the gateway says so instead of waiting for an answer.
            other.go_offline(600.0)
            offline = await _issue(li, other.imei, "engine_stop")
            refused = await _answer(li, other.imei, offline["cmd_id"], watch)
            assert refused["ok"] is False
            assert refused["detail"] in (f"gt06: tracker {other.imei} is offline",  # the gateway saw it leave
                                         f"gt06: tracker {other.imei} disconnected before answering (connection "
                                         "closed)")
            assert other.stats.commands == 0

        assert ridden.stats.commands == 2  # the other owner's attempts never reached it


async def _stored(central: RunningCentral, imei: str, reports: list[Report]) -> bool:
    if len(reports) < 3:
        return False
    rows = await positions_of(central, imei)
    return all(carrying(report, rows) for report in reports)
