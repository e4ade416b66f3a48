"""The console's alarm queue and alarm page in a real headless Chromium: an alarm appears without a reload, is taken
through to resolved by one operator while a second operator's pages follow, and cannot be taken by two at once."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from central.store.schema import audit_log
from shaobing.envelope import Kind
from tests.e2e.conftest import eventually
from tests.web.conftest import STAFF, OpenPage, WebCentral, log_in_staff, shot

ROW = "#queue-rows tr"


async def logged_in(open_page: OpenPage, web: WebCentral, who: str, *, locale: str = "zh-CN") -> Page:
    page = await open_page(f"{web.base_url}/console/login", locale=locale)
    await log_in_staff(page, web.base_url, STAFF[who])
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    return page


async def open_dispatch_id(web: WebCentral) -> int:
    """The one open dispatch, once the ingest has raised it."""
    async def raised() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await web.api.get("/api/dispatches", params={"open": "true"})).json()
        return found

    (dispatch,) = await eventually("the alarm's dispatch", raised)
    return int(dispatch["id"])


async def test_a_new_alarm_appears_on_an_open_queue_without_a_reload(web_central: WebCentral,
                                                                     open_page: OpenPage) -> None:
    page = await logged_in(open_page, web_central, "operator")
    await expect(page.locator("#queue-empty")).to_be_visible()
    await page.evaluate("window.notReloaded = true")
    await web_central.alarm(zone="3")
    row = page.locator(ROW)
    await expect(row).to_have_count(1)
    await expect(row.first).to_contain_text("入侵")
    await expect(row.first).to_contain_text("shop-a")
    assert await page.evaluate("window.notReloaded") is True
    assert await page.evaluate("document.body.dataset.alerts") == "1"  # the new alarm sounded once
    # A panic overtakes the burglary: priority first, then age.
    await web_central.alarm(alarm_class="panic", zone="9")
    await expect(row).to_have_count(2)
    await expect(row.first).to_contain_text("紧急求助")
    await shot(page, "console-queue-zh")


async def test_an_alarm_past_its_acknowledgement_target_turns_red(web_central: WebCentral,
                                                                  open_page: OpenPage) -> None:
    page = await logged_in(open_page, web_central, "operator")
    await web_central.alarm(alarm_class="panic", zone="1")  # priority 1: 30 s to acknowledge
    row = page.locator(ROW).first
    await expect(row).to_be_visible()
    await expect(row).not_to_have_class("breach")
    # The clock in the page moves on 31 s: the same row turns red, without anything new from the server.
    await page.clock.install()
    await page.clock.run_for(31_000)
    await expect(row).to_have_class("p1 breach")


async def test_an_operator_takes_an_alarm_to_resolved_and_a_second_operator_follows(
    web_central: WebCentral, open_page: OpenPage
) -> None:
    first = await logged_in(open_page, web_central, "operator")
    second = await logged_in(open_page, web_central, "operator2")
    await web_central.alarm(zone="3")
    await expect(first.locator(ROW)).to_have_count(1)
    await expect(second.locator(ROW)).to_have_count(1)
    dispatch_id = await open_dispatch_id(web_central)

    await first.locator(ROW).first.locator("a").click()
    await first.wait_for_url(f"**/console/alarm?id={dispatch_id}")
    await second.goto(f"{web_central.base_url}/console/alarm?id={dispatch_id}")
    summary_first, summary_second = first.locator("#summary"), second.locator("#summary")
    await expect(summary_second).to_have_attribute("data-state", "raised")
    await expect(first.locator("#plan li")).to_have_count(2)
    await shot(first, "console-alarm-raised-zh")

    await first.click("button[data-action=acknowledge]")
    await expect(summary_first).to_have_attribute("data-state", "acknowledged")
    await expect(summary_second).to_have_attribute("data-state", "acknowledged")  # pushed, no reload
    await expect(second.locator("#alarm-facts")).to_contain_text("张伟")

    # The second operator cannot take it by accident: the page says who has it and offers a take-over.
    await second.click("button[data-action=assign_guard]")
    await second.fill("#guard", "保安 老周")
    await second.click("#guard-form button[type=submit]")
    await expect(second.locator("#alarm-notice")).to_contain_text("张伟")
    await expect(second.locator("#take-over")).to_be_visible()
    await expect(summary_second).to_have_attribute("data-state", "acknowledged")

    await first.click("button[data-action=assign_guard]")
    await first.fill("#guard", "保安 老周")
    await first.press("#guard", "Enter")
    await expect(summary_second).to_have_attribute("data-state", "guard_assigned")
    await first.click("button[data-action=on_scene]")
    await expect(summary_second).to_have_attribute("data-state", "on_scene")

    # The plan first: resolving before its steps are marked is refused and says why.
    await first.click("button[data-action=resolve]")
    await first.select_option("#outcome", "false")
    await first.select_option("#incident", "none")
    await first.click("#resolve-form button[type=submit]")
    await expect(first.locator("#action-error")).to_contain_text("预案尚未完成")
    await first.click("#plan li[data-step=call-keyholder] button[data-mark=done]")
    await expect(second.locator("#plan li[data-step=call-keyholder]")).to_have_attribute("data-status", "done")
    await first.click("#plan li[data-step=check-camera] button[data-mark=skipped]")
    await first.keyboard.type("夜间无人值守，无摄像头")  # the reason's field has the focus
    await first.keyboard.press("Enter")
    await expect(first.locator("#plan li[data-step=check-camera]")).to_have_attribute("data-status", "skipped")
    await first.click("button[data-action=resolve]")
    await first.select_option("#outcome", "false")
    await first.select_option("#incident", "none")
    await first.click("#resolve-form button[type=submit]")
    await expect(summary_first).to_have_attribute("data-state", "resolved")
    await expect(summary_second).to_have_attribute("data-state", "resolved")
    await expect(second.locator("#alarm-facts")).to_contain_text("误报")
    await shot(first, "console-alarm-resolved-zh")

    detail = (await web_central.api.get(f"/api/dispatches/{dispatch_id}")).json()
    assert [(t["action"], t["actor"]) for t in detail["transitions"] if t["action"] != "raise"] == [
        ("acknowledge", "张伟"), ("assign_guard", "张伟"), ("on_scene", "张伟"), ("plan_step", "张伟"),
        ("plan_step", "张伟"), ("resolve", "张伟")]
    async with web_central.running.engine.connect() as connection:
        audited = (await connection.execute(
            select(audit_log.c.actor, audit_log.c.action).where(audit_log.c.target == f"dispatch:{dispatch_id}")
            .order_by(audit_log.c.id))).all()
    assert [tuple(row) for row in audited] == [
        ("张伟", "dispatch.acknowledge"), ("张伟", "dispatch.assign_guard"), ("张伟", "dispatch.on_scene"),
        ("张伟", "dispatch.plan_step"), ("张伟", "dispatch.plan_step"), ("张伟", "dispatch.resolve")]

    await second.goto(f"{web_central.base_url}/console/")
    await expect(second.locator("#queue-empty")).to_be_visible()


async def test_a_second_operator_takes_an_alarm_over_on_purpose(web_central: WebCentral,
                                                                open_page: OpenPage) -> None:
    await web_central.alarm(zone="5")
    dispatch_id = await open_dispatch_id(web_central)
    first = await logged_in(open_page, web_central, "operator")
    second = await logged_in(open_page, web_central, "operator2")
    await first.goto(f"{web_central.base_url}/console/alarm?id={dispatch_id}")
    await first.click("button[data-action=acknowledge]")
    await expect(first.locator("#summary")).to_have_attribute("data-state", "acknowledged")
    await second.goto(f"{web_central.base_url}/console/alarm?id={dispatch_id}")
    second.once("dialog", lambda dialog: dialog.accept())
    await second.click("button[data-action=escalate]")
    await second.click("#take-over")
    await expect(second.locator("#alarm-facts")).to_contain_text("李娜")
    await expect(first.locator("#alarm-facts")).to_contain_text("李娜")  # the first operator sees who has it now
    detail = (await web_central.api.get(f"/api/dispatches/{dispatch_id}")).json()
    assert detail["escalated"] is True and detail["handler"] == "李娜"
    async with web_central.running.engine.connect() as connection:
        actions = (await connection.execute(
            select(audit_log.c.actor, audit_log.c.action, audit_log.c.detail)
            .where(audit_log.c.target == f"dispatch:{dispatch_id}").order_by(audit_log.c.id))).all()
    assert [(row.actor, row.action) for row in actions][-2:] == [("李娜", "dispatch.take_over"),
                                                               ("李娜", "dispatch.escalate")]
    assert actions[-2].detail == {"from": "张伟"}


async def test_a_viewer_follows_the_queue_but_has_no_actions(web_central: WebCentral, open_page: OpenPage) -> None:
    await web_central.alarm(zone="7")
    dispatch_id = await open_dispatch_id(web_central)
    page = await logged_in(open_page, web_central, "viewer")
    await expect(page.locator(ROW)).to_have_count(1)
    await page.goto(f"{web_central.base_url}/console/alarm?id={dispatch_id}")
    await expect(page.locator("#summary")).to_have_attribute("data-state", "raised")
    await expect(page.locator("#actions button")).to_have_count(0)
    await expect(page.locator("#plan button")).to_have_count(0)
    token = await page.evaluate("JSON.parse(localStorage.getItem('shaobing.staff')).token")
    refused = await web_central.api.post(f"/api/dispatches/{dispatch_id}/actions", json={"action": "acknowledge"},
                                         headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403


async def test_the_console_in_english(web_central: WebCentral, open_page: OpenPage) -> None:
    page = await logged_in(open_page, web_central, "supervisor", locale="en-US")
    await web_central.alarm(zone="3")
    await expect(page.locator(ROW)).to_have_count(1)
    await expect(page.locator("h1")).to_have_text("Alarm queue")
    await expect(page.locator(ROW).first).to_contain_text("Burglary")
    await shot(page, "console-queue-en")
    # The switch goes back to Chinese and is remembered.
    await page.click("#language")
    await expect(page.locator("h1")).to_have_text("警情队列")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("警情队列")


async def test_the_console_is_usable_from_the_keyboard(web_central: WebCentral, open_page: OpenPage) -> None:
    page = await open_page(f"{web_central.base_url}/console/login")
    await page.keyboard.type(STAFF["operator"].login)  # the login field has the focus
    await page.keyboard.press("Tab")
    await page.keyboard.type(STAFF["operator"].password)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{web_central.base_url}/console/")
    await web_central.alarm(zone="3")
    link = page.locator(f"{ROW} a").first
    await expect(link).to_be_visible()
    await link.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/alarm?id=*")
    await page.locator("button[data-action=acknowledge]").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#summary")).to_have_attribute("data-state", "acknowledged")


async def test_many_console_tabs_in_one_browser_share_one_stream(web_central: WebCentral, chromium: Browser) -> None:
    """Browsers open six connections to a server at most: ten tabs of the console, each following the live stream
    on its own, would leave none for the pages' own requests. Every tab follows through one shared stream."""
    context = await chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        first = await context.new_page()
        await log_in_staff(first, web_central.base_url, STAFF["operator"])
        tabs = [first]
        for _ in range(9):
            tab = await context.new_page()
            await tab.goto(f"{web_central.base_url}/console/")
            tabs.append(tab)
        for tab in tabs:
            await expect(tab.locator("#live-state")).to_have_attribute("data-state", "open")
        await web_central.alarm(zone="3")
        for tab in tabs:
            await expect(tab.locator(ROW)).to_have_count(1)
        assert web_central.running.central.live.consoles == 1
    finally:
        await context.close()


# A 1x1 PNG: what a camera's `motion` reading carries inline.
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU"
         "5ErkJggg==")


async def test_an_opened_alarm_shows_where_the_site_is_and_the_cameras_snapshot(
    web_central: WebCentral, open_page: OpenPage
) -> None:
    await web_central.publish("shop-a", Kind.MOTION, {"camera": "cam-door", "score": 0.93, "snapshot": PIXEL},
                              device="cam-door")
    await web_central.alarm(zone="3")
    dispatch_id = await open_dispatch_id(web_central)
    supervisor_token = (await web_central.api.post("/api/staff/login", json={
        "login": STAFF["supervisor"].login, "password": STAFF["supervisor"].password})).json()["token"]
    profile = await web_central.api.patch("/api/sites/shop-a", headers={"Authorization": f"Bearer {supervisor_token}"},
                                          json={"name": "华联超市", "area": "东城片区", "address": "东城区和平路 8 号",
                                                "lat": 22.5431, "lon": 114.0579})
    assert profile.status_code == 200, profile.text
    page = await logged_in(open_page, web_central, "operator")
    await page.goto(f"{web_central.base_url}/console/alarm?id={dispatch_id}")
    await expect(page.locator("#alarm-title")).to_contain_text("华联超市")
    await expect(page.locator("#site")).to_contain_text("东城片区")
    await expect(page.locator("#map-card")).to_be_visible()
    await expect(page.locator("#map .leaflet-interactive")).to_have_count(1)  # the site's marker, drawn by Leaflet
    await expect(page.locator("#snapshot")).to_have_attribute("src", PIXEL)
    await expect(page.locator("#snapshot-facts")).to_contain_text("cam-door")
    await expect(page.locator("#around tr")).to_have_count(2)  # the motion and the alarm
    await shot(page, "console-alarm-map-zh")
