"""A real theft, end to end: a GT06 tracker on a parked, armed e-bike -> the tracker gateway (an edge process) -> the
broker -> central -> the guards, the owner's phone and 110, on SQLite and on PostgreSQL.

The owner signs up, claims the bike with the bind code on the tracker's box and arms it through the API. A thief rides
off: the theft rule raises exactly one theft dispatch and the owner gets exactly one text, however many fixes follow
(the bike is left riding until the end of the test). The owner confirms the theft: 110 receives the dispatch
escalated with the live link, which answers without an account and follows the bike. A link the owner made with the
shortest lifetime (60 s, the API's minimum: this test waits it out) answers 410 once that lifetime is over.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from firmware_sim.tracker.device import Report
from firmware_sim.tracker.device import TrackerSettings as SimTrackerSettings
from sqlalchemy import update

from central.store.schema import share_links
from shaobing.clock import parse_ts
from tests.conftest import MakeBroker
from tests.e2e.conftest import (
    GATEWAY,
    EdgeProcess,
    bike_recipients,
    bike_site,
    eventually,
    open_shared,
    positions_of,
    provision_and_claim,
    running_trackers,
    sign_up,
    sim_tracker,
)

# A report a second, so the thief is 100 m away within seconds; trackers in the field report every 10-30 s.
TRACKER = SimTrackerSettings(interval_s=1.0, heartbeat_s=20.0, steal_delay_s=0.5, reconnect_min_s=0.2,
                             reconnect_max_s=1.0)
SHORTEST_TTL_S = 60
OWNER_PHONE = "+8613800138000"


async def test_a_stolen_bike_raises_one_theft_and_one_text_and_reaches_110_with_a_live_link(
    make_broker: MakeBroker, database_url: str, tmp_path: Path, edges: list[EdgeProcess]
) -> None:
    journal: list[Report] = []
    async with bike_recipients() as to, bike_site(make_broker, database_url, tmp_path, edges, to) as (
        central, gateway, port
    ):
        watch = [gateway]
        owner = await sign_up(central, OWNER_PHONE, "张伟")
        tracker = sim_tracker(0, port, settings=TRACKER, seed=11, journal=journal)
        imei = tracker.imei
        await provision_and_claim(central, owner, imei, name="小蓝", plate="深圳A12345")
        made = await owner.call("POST", f"/api/my/bikes/{imei}/share", json={"ttl_s": SHORTEST_TTL_S})
        assert made.status_code == 201, made.text
        short_link, short_expiry = made.json()["url"], parse_ts(made.json()["expires_at"])

        async with running_trackers([tracker]):
            async def positioned() -> dict[str, Any] | None:
                bike = await owner.bike(imei)
                return bike if bike["position"] is not None else None

            await eventually("the parked bike's first position at central", positioned, watch=watch)
            armed = await owner.call("POST", f"/api/my/bikes/{imei}/arm")
            assert armed.status_code == 200 and armed.json()["armed"] is True, armed.text
            armed_at = parse_ts(armed.json()["armed_at"])

            async def fixes_after(moment: datetime, count: int) -> bool:
                rows = await positions_of(central, imei)
                return sum(1 for row in rows if row["fix_time"] > moment and row["filtered"] is None) >= count

            # Parked and armed for a few fixes: its drift raises nothing.
            await eventually("parked fixes after arming", lambda: fixes_after(armed_at, 4), watch=watch)
            assert to.texts() == [] and await central.dispatches(GATEWAY) == []

            tracker.steal(power_cut=False, vibrations=0)  # the motion alone must trip the rule
            stolen_at = time.monotonic()

            async def owner_texted() -> list[dict[str, Any]]:
                return to.texts("owner.theft", imei)

            text = (await eventually("the owner's theft text", owner_texted, within=60, watch=watch))[0]
            alert_s = time.monotonic() - stolen_at
            assert (text["to"], text["reason"], text["late"], text["plate"]) == (OWNER_PHONE, "moved", False,
                                                                                  "深圳A12345")
            assert "小蓝" in text["text"] and text["link"].endswith("/my/") and imei not in text["link"]
            assert tracker.theft_mark is not None  # the simulator saw its bike beyond 100 m before central said so

            # The owner confirms: 110 gets the dispatch, escalated, with the live link.
            confirmed = await owner.call("POST", f"/api/my/bikes/{imei}/theft")
            assert confirmed.status_code == 200, confirmed.text
            dispatch_id, live_link = confirmed.json()["dispatch_id"], confirmed.json()["link"]["url"]
            assert text["dispatch_id"] == dispatch_id  # the dispatch the rule raised, not a second one

            async def police_has_it() -> list[dict[str, Any]]:
                return to.dispatches_to(to.police, alarm_class="theft", zone=imei, event="dispatch.escalated")

            escalated = (await eventually("110's escalated theft", police_has_it, watch=watch))[0]
            assert escalated["dispatch"]["id"] == dispatch_id and escalated["dispatch"]["escalated"] is True
            assert escalated["dispatch"]["escalation_reason"] == "confirmed"
            assert escalated["tracker"]["imei"] == imei and escalated["tracker"]["live_link"] == live_link
            handed_over = parse_ts(escalated["tracker"]["position"]["fix_time"])

            # The live link answers without an account, with no owner data, and follows the bike as it rides on.
            async def link_shows_newest() -> dict[str, Any] | None:
                shared = await open_shared(central, live_link)
                assert shared.status_code == 200, shared.text
                newest = (await owner.bike(imei))["position"]
                position = shared.json()["position"]
                moved_on = parse_ts(position["fix_time"]) > handed_over
                same = (position["fix_time"], position["lat"], position["lon"]) == (
                    newest["fix_time"], newest["lat"], newest["lon"])
                return shared.json() if moved_on and same else None

            shown = await eventually("the live link showing the bike's newest fix", link_shows_newest, watch=watch)
            assert shown["theft_state"] == "confirmed" and shown["plate"] == "深圳A12345"
            assert shown["track"] and shown["track"][-1]["fix_time"] == shown["position"]["fix_time"]
            for private in (OWNER_PHONE, OWNER_PHONE[3:], "张伟", imei):
                assert private not in str(shown)
            assert any(_is(report, shown["position"]) for report in journal)  # a fix the tracker really made

            # Ride on until the short link's lifetime is over: 200 before it, 410 after it, by central's clock. Its
            # minute is cut to three seconds from now in the database, so the test does not wait it out.
            assert (await open_shared(central, short_link)).status_code == 200
            made_expiry, short_expiry = short_expiry, datetime.now(UTC) + timedelta(seconds=3)
            async with central.engine.begin() as connection:
                cut = await connection.execute(update(share_links).where(share_links.c.imei == imei,
                                                                         share_links.c.expires_at == made_expiry)
                                               .values(expires_at=short_expiry))
                assert cut.rowcount == 1

            async def short_link_gone() -> bool:
                asked = datetime.now(UTC)
                answer = await open_shared(central, short_link)
                answered = datetime.now(UTC)
                if answer.status_code == 200:
                    assert asked < short_expiry, "the link still answered after its lifetime"
                    return False
                assert answer.status_code == 410 and "expired" in answer.json()["detail"], answer.text
                assert answered >= short_expiry, "the link expired before its lifetime was over"
                return True

            left = (short_expiry - datetime.now(UTC)).total_seconds()
            await eventually("the short link to expire", short_link_gone, within=left + 15, watch=watch)
            still = await open_shared(central, live_link)  # 110's link lives a day
            assert still.status_code == 200, still.text

        rows = await positions_of(central, imei)
        thefts = [d for d in await central.dispatches(GATEWAY) if d["alarm_class"] == "theft"]
        sms_rows = await central.webhook_rows(to.sms.name)

    tripped_at = parse_ts(text["position"]["fix_time"])
    followed = [row for row in rows if row["fix_time"] > tripped_at and row["filtered"] is None]
    assert len(followed) >= 3, len(followed)  # it rode on, fix after fix
    assert [(d["id"], d["zone"], d["escalation_reason"]) for d in thefts] == [(dispatch_id, imei, "confirmed")]
    assert len(to.dispatches_to(to.guards, alarm_class="theft", zone=imei, event="dispatch.raised")) == 1
    # One text for the theft, one for its confirmation; nothing else, however many fixes followed.
    assert [d.event for d in to.sms.received] == ["owner.theft", "owner.theft_confirmed"]
    assert len(sms_rows) == 2
    assert to.texts("owner.theft_confirmed", imei)[0]["dispatch_id"] == dispatch_id
    # 110 heard only of this theft, and only once it was confirmed.
    assert {d.payload["dispatch"]["id"] for d in to.police.received} == {dispatch_id}
    assert to.police.received[0].event == "dispatch.escalated"
    print(f"theft alert {alert_s:.1f} s after the thief rode off; {len(followed)} fixes followed")


def _is(report: Report, position: dict[str, Any]) -> bool:
    return (parse_ts(position["fix_time"]) == report.fix_time and abs(position["lat"] - report.lat) < 2e-6
            and abs(position["lon"] - report.lon) < 2e-6)
