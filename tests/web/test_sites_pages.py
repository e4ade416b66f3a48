"""The console's sites overview, a site's page and the audit log in a real headless Chromium, against central's whole
service: an operator sees a site go offline and come back and a new reading appear (refresh button, reload); a
supervisor edits a site's area and reads the change back in the audit log; a viewer cannot edit; screenshots."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

from playwright.async_api import Page, expect

from shaobing import topics
from shaobing.clock import format_ts
from shaobing.envelope import Kind
from shaobing.mqtt import MqttLink, MqttSettings
from tests.conftest import BROKER_PASSWORDS
from tests.web.conftest import STAFF, OpenPage, WebCentral, log_in_staff, shot

SITE_ROW = "#site-rows tr[data-site={site}]"


async def logged_in(open_page: OpenPage, web: WebCentral, who: str, *, locale: str = "zh-CN") -> Page:
    page = await open_page(f"{web.base_url}/console/login", locale=locale)
    await log_in_staff(page, web.base_url, STAFF[who])
    return page


async def say_state(web: WebCentral, site: str, *, online: bool) -> None:
    """The site's retained state message, as its edge (or its will) says it."""
    payload = {"online": online, "since": format_ts(datetime.now(UTC)), "version": "1.0.0"}
    settings = MqttSettings(url=web.broker.url, username=site, password=BROKER_PASSWORDS[site],
                            client_id=site, reconnect_min=0.05, reconnect_max=0.5)
    async with MqttLink(settings, log=logging.getLogger("test.web.sites")) as link:
        await link.wait_connected(10)
        await link.publish(topics.state(site), json.dumps(payload).encode(), retain=True)


async def wait_for_site(web: WebCentral, site: str, **expected: object) -> None:
    """Until central has stored what the broker carried (the page is not under test here)."""
    for _ in range(200):
        response = await web.api.get(f"/api/sites/{site}")
        if response.status_code == 200 and all(response.json().get(k) == v for k, v in expected.items()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{site} never reached {expected}")


async def test_an_operator_sees_a_site_go_offline_come_back_and_speak(web_central: WebCentral,
                                                                      open_page: OpenPage) -> None:
    await web_central.publish("shop-a", Kind.ARMING, {"state": "armed", "partition": "0"})
    await web_central.publish("shop-b", Kind.STATUS, {"voltage_level": 4})
    await say_state(web_central, "shop-a", online=True)
    await say_state(web_central, "shop-b", online=True)
    await wait_for_site(web_central, "shop-a", online=True, armed=True)
    await wait_for_site(web_central, "shop-b", online=True)
    page = await logged_in(open_page, web_central, "operator")
    await page.goto(f"{web_central.base_url}/console/sites")
    row = page.locator(SITE_ROW.format(site="shop-a"))
    await expect(row).to_contain_text("在线")
    await expect(row).to_contain_text("布防")
    await expect(page.locator("#site-rows tr")).to_have_count(2)
    await shot(page, "console-sites-zh")

    await say_state(web_central, "shop-a", online=False)
    await wait_for_site(web_central, "shop-a", online=False)
    await page.click("#refresh")
    await expect(row).to_contain_text("离线")
    await expect(row.locator("td").nth(6)).to_have_text("1")  # the comm_fail ticket the will opened

    # Filters: offline only, then online only.
    await page.select_option("#f-online", "false")
    await expect(page.locator("#site-rows tr")).to_have_count(1)
    await expect(page.locator("#site-rows tr").first).to_have_attribute("data-site", "shop-a")
    await page.select_option("#f-online", "true")
    await expect(page.locator("#site-rows tr")).to_have_count(1)
    await expect(page.locator("#site-rows tr").first).to_have_attribute("data-site", "shop-b")
    await page.check("#f-troubles")
    await expect(page.locator("#site-rows tr")).to_have_count(0)
    await expect(page.locator("#sites-empty")).to_be_visible()
    await page.uncheck("#f-troubles")
    await page.select_option("#f-online", "")

    # The site's page: offline in its history; a new reading and it coming back show after a refresh.
    await row.locator("a").click()
    await page.wait_for_url("**/console/site?site=shop-a")
    await expect(page.locator("#site-online")).to_have_text("离线")
    await expect(page.locator("#timeline-rows tr[data-type=offline]")).to_have_count(1)
    await expect(page.locator("#ticket-rows tr")).to_have_count(1)
    door_seq = await web_central.publish("shop-a", Kind.DOOR, {"door": "front", "state": "open"})
    await wait_for_site(web_central, "shop-a", last_seq=door_seq)
    await say_state(web_central, "shop-a", online=True)
    await wait_for_site(web_central, "shop-a", online=True, open_tickets=0)
    await page.click("#refresh")
    await expect(page.locator("#site-online")).to_have_text("在线")
    await expect(page.locator("#timeline-rows tr").first).to_have_attribute("data-type", "online")
    await expect(page.locator("#timeline-rows tr[data-type=reading]").first).to_contain_text("门")
    await expect(page.locator("#timeline-rows tr[data-type=reading]").first).to_contain_text("door=front")
    await expect(page.locator("#tickets-empty")).to_be_visible()
    await expect(page.locator("#profile-form")).to_be_hidden()  # an operator reads the profile, does not edit it
    await shot(page, "console-site-zh")

    await page.reload()
    await expect(page.locator("#site-online")).to_have_text("在线")


async def test_the_timeline_loads_older_pages(web_central: WebCentral, open_page: OpenPage) -> None:
    for level in range(103):
        await web_central.publish("shop-b", Kind.STATUS, {"voltage_level": level})
    await wait_for_site(web_central, "shop-b", last_seq=103)
    page = await logged_in(open_page, web_central, "viewer", locale="en")
    await page.goto(f"{web_central.base_url}/console/site?site=shop-b")
    rows = page.locator("#timeline-rows tr")
    await expect(rows).to_have_count(100)
    await expect(rows.first).to_contain_text("voltage_level=102")
    await page.click("#older")
    await expect(rows).to_have_count(103)
    await expect(rows.last).to_contain_text("voltage_level=0")
    await expect(page.locator("#older")).to_be_hidden()


async def test_a_supervisor_edits_the_area_and_the_audit_log_shows_it(web_central: WebCentral,
                                                                      open_page: OpenPage) -> None:
    await web_central.publish("shop-a", Kind.STATUS, {"voltage_level": 4})
    await wait_for_site(web_central, "shop-a")
    page = await logged_in(open_page, web_central, "supervisor")
    await page.goto(f"{web_central.base_url}/console/site?site=shop-a")
    form = page.locator("#profile-form")
    await expect(form).to_be_visible()
    await page.fill("#p-name", "东直门便利店")
    await page.fill("#p-area", "东城片区")
    await page.fill("#p-address", "北京市东城区东直门内大街 1 号")
    await page.fill("#p-lat", "39.94")
    await page.fill("#p-lon", "116.43")
    await page.press("#p-lon", "Enter")  # the keyboard saves as the button does
    await expect(page.locator("#profile-status")).to_have_text("已保存")
    await expect(page.locator("#profile-view dd[data-field=area]")).to_have_text("东城片区")
    await expect(page.locator("#site-title")).to_contain_text("东直门便利店")
    await shot(page, "console-site-supervisor-zh")

    # Coordinates out of range are refused on the page, before the server.
    await page.fill("#p-lat", "91")
    await page.click("#profile-save")
    await expect(page.locator("#profile-status")).to_have_class("status error")
    assert (await web_central.api.get("/api/sites/shop-a")).json()["lat"] == 39.94

    await page.goto(f"{web_central.base_url}/console/sites")
    await expect(page.locator("#f-area option")).to_have_count(2)
    await page.select_option("#f-area", "东城片区")
    await expect(page.locator("#site-rows tr")).to_have_count(1)
    await expect(page.locator("#site-rows tr").first).to_contain_text("东城片区")

    await page.goto(f"{web_central.base_url}/console/audit")
    row = page.locator("#audit-rows tr[data-action='site.profile']")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("王强")
    await expect(row).to_contain_text("修改站点资料")
    await expect(row).to_contain_text("site:shop-a")
    await expect(row).to_contain_text("area: — → 东城片区")
    await shot(page, "console-audit-zh")

    await page.fill("#a-target", "site:shop-b")
    await page.click("#audit-form button[type=submit]")
    await expect(row).to_have_count(0)
    await page.fill("#a-target", "site:shop-a")
    await page.click("#audit-form button[type=submit]")
    await expect(row).to_have_count(1)
    async with page.expect_download() as waiting:
        await page.click("#download")
    download = await waiting.value
    path = await download.path()
    text = path.read_text(encoding="utf-8-sig")
    assert "site.profile" in text and "东城片区" in text and "王强" in text

    english = await logged_in(open_page, web_central, "admin", locale="en")
    await english.goto(f"{web_central.base_url}/console/audit")
    await expect(english.locator("#audit-rows tr[data-action='site.profile']")).to_contain_text("Site profile changed")
    await shot(english, "console-audit-en")
    await english.goto(f"{web_central.base_url}/console/sites")
    await expect(english.locator(SITE_ROW.format(site="shop-a"))).to_contain_text("Unknown")
    await shot(english, "console-sites-en")
    await english.goto(f"{web_central.base_url}/console/site?site=shop-a")
    await expect(english.locator("#profile-view dd[data-field=area]")).to_have_text("东城片区")
    await shot(english, "console-site-en")


async def test_a_viewer_cannot_edit_nor_read_the_audit_log(web_central: WebCentral, open_page: OpenPage) -> None:
    await web_central.publish("shop-a", Kind.STATUS, {"voltage_level": 4})
    await wait_for_site(web_central, "shop-a")
    page = await logged_in(open_page, web_central, "viewer")
    await page.goto(f"{web_central.base_url}/console/site?site=shop-a")
    await expect(page.locator("#profile-view dd[data-field=name]")).to_be_visible()
    await expect(page.locator("#profile-form")).to_be_hidden()
    assert await page.locator("#shell nav a[href='/console/audit']").count() == 0
    await page.goto(f"{web_central.base_url}/console/audit")
    await expect(page.locator("#forbidden")).to_be_visible()
    # The API refuses the viewer's session as well, whatever the page shows.
    token = await page.evaluate("JSON.parse(localStorage.getItem('shaobing.staff')).token")
    answer = await page.evaluate(
        """async (token) => {
            const response = await fetch('/api/sites/shop-a', {method: 'PATCH', headers: {
                'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json'}, body: '{"area": "X"}'});
            return response.status;
        }""", token)
    assert answer == 403


async def test_an_unknown_or_hostile_site_in_the_address_shows_an_error(web_central: WebCentral,
                                                                       open_page: OpenPage) -> None:
    page = await logged_in(open_page, web_central, "operator")
    for site in ("nowhere", "<script>alert(1)</script>", "../../etc/passwd"):
        await page.goto(f"{web_central.base_url}/console/site?site={site}")
        await expect(page.locator("#site-error")).to_have_text("没有这个站点")
