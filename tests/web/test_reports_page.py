"""The console's reports page in a real headless Chromium, on alarms that came in over the broker: a supervisor sees
the area x hour grid in its warning colours, the false alarms and response times, downloads the CSV and prints; an
operator is shown neither the link nor the page."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect
from sqlalchemy import update

from central.store.schema import sites
from tests.web.conftest import STAFF, OpenPage, WebCentral, log_in_staff, shot

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def alarms_in(web: WebCentral) -> list[dict[str, Any]]:
    """Three alarms through the broker (two at shop-a, one at shop-b); shop-a is in 东区, shop-b in no area."""
    await web.alarm("shop-a", zone="3")
    await web.alarm("shop-a", alarm_class="panic", zone="9")
    await web.alarm("shop-b", zone="1")
    for _ in range(200):
        raised: list[dict[str, Any]] = (await web.api.get("/api/dispatches")).json()
        if len(raised) == 3:
            break
        await asyncio.sleep(0.05)
    assert len(raised) == 3
    async with web.running.engine.begin() as connection:
        await connection.execute(update(sites).where(sites.c.id == "shop-a").values(area="东区"))
    return raised


async def reports_page(open_page: OpenPage, web: WebCentral, who: str, *, locale: str = "zh-CN") -> Page:
    page = await open_page(f"{web.base_url}/console/login", locale=locale)
    await log_in_staff(page, web.base_url, STAFF[who])
    await page.goto(f"{web.base_url}/console/reports")
    return page


def local_hours(raised: list[dict[str, Any]], site: str) -> list[int]:
    return [datetime.fromisoformat(d["raised_at"]).astimezone(SHANGHAI).hour for d in raised if d["site"] == site]


async def test_a_supervisor_sees_the_grid_and_downloads_the_csv(web_central: WebCentral, open_page: OpenPage) -> None:
    raised = await alarms_in(web_central)
    page = await reports_page(open_page, web_central, "supervisor")
    await expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    await expect(page.locator("#shell nav a[aria-current=page]")).to_have_text("报表")

    east = page.locator('#grid tr[data-area="东区"]')
    unassigned = page.locator('#grid tr[data-area=""]')
    await expect(east.locator("th")).to_have_text("东区")
    await expect(unassigned.locator("th")).to_have_text("未分区")
    await expect(east.locator("td.total")).to_have_text("2")
    await expect(unassigned.locator("td.total")).to_have_text("1")
    for hour in set(local_hours(raised, "shop-a")):
        count = local_hours(raised, "shop-a").count(hour)
        busy = east.locator(f'td[data-hour="{hour}"]')
        await expect(busy).to_have_attribute("data-level", "red")
        await expect(busy).to_have_text(f"{count}红")  # the level in a letter too, not in colour alone
    quiet = next(hour for hour in range(24) if hour not in local_hours(raised, "shop-a"))
    await expect(east.locator(f'td[data-hour="{quiet}"]')).to_have_attribute("data-level", "blue")
    await expect(page.locator("#grid-legend li[data-level]")).to_have_count(4)
    await expect(page.locator("#grid-legend li[data-level=red]")).to_contain_text("红色")

    await expect(page.locator("#false-alarms tbody tr")).to_have_count(2)
    await expect(page.locator('#false-alarms tr[data-site="shop-a"] td').nth(3)).to_have_text("2")
    await expect(page.locator("#times tbody tr").last).to_contain_text(datetime.now(SHANGHAI).date().isoformat())
    await shot(page, "console-reports-zh")

    async with page.expect_download() as waiting:
        await page.click("#grid-csv")
    download = await waiting.value
    assert download.suggested_filename.startswith("area-hours-")
    assert download.suggested_filename.endswith(".csv")
    content = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("area,total,h00,h00_level")
    assert any(line.startswith("东区,2,") for line in lines)
    assert any(line.startswith("unassigned,1,") for line in lines)


async def test_the_page_prints_without_the_console_chrome(web_central: WebCentral, open_page: OpenPage) -> None:
    await alarms_in(web_central)
    page = await reports_page(open_page, web_central, "admin")
    await expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    await page.emulate_media(media="print")
    await expect(page.locator("#shell")).to_be_hidden()
    await expect(page.locator("#period-form")).to_be_hidden()
    await expect(page.locator("#grid-csv")).to_be_hidden()
    await expect(page.locator("#period-line")).to_contain_text("Asia/Shanghai")
    await expect(page.locator("#grid")).to_be_visible()
    await shot(page, "console-reports-print")


async def test_the_reports_in_english(web_central: WebCentral, open_page: OpenPage) -> None:
    await alarms_in(web_central)
    page = await reports_page(open_page, web_central, "supervisor", locale="en")
    await expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    await expect(page.locator("#grid-title")).to_have_text("Alarms by area and hour")
    await expect(page.locator('#grid tr[data-area=""] th')).to_have_text("Unassigned")
    await expect(page.locator('#grid tr[data-area="东区"] td[data-level=red]').first).to_contain_text("R")
    await expect(page.locator("#times thead")).to_contain_text("Acknowledged")
    await shot(page, "console-reports-en")
    # Switching the language redraws the tables in place.
    await page.click("#language")
    await expect(page.locator("#grid-title")).to_have_text("分区 × 时段 警情分布")
    await expect(page.locator('#grid tr[data-area=""] th')).to_have_text("未分区")


async def test_a_bad_period_is_explained_on_the_page(web_central: WebCentral, open_page: OpenPage) -> None:
    page = await reports_page(open_page, web_central, "supervisor")
    await expect(page.locator("body")).to_have_attribute("data-loaded", "1")
    await page.fill("#from", "2026-01-01")
    await page.fill("#to", "2026-11-01")
    await page.click("#show")
    await expect(page.locator("#period-error")).to_contain_text("93")  # the API's reason, shown as it is
    await page.fill("#from", "2026-11-02")
    await page.click("#show")
    await expect(page.locator("#period-error")).to_have_text("请选择起始和截止日期，且起始不晚于截止。")


async def test_an_operator_has_no_reports(web_central: WebCentral, open_page: OpenPage) -> None:
    page = await reports_page(open_page, web_central, "operator")
    await expect(page.locator("#forbidden")).to_have_text("您的角色无权查看此页面。")
    await expect(page.locator("#shell nav a")).not_to_have_count(0)
    await expect(page.locator('#shell nav a[href="/console/reports"]')).to_have_count(0)
    await expect(page.locator("#grid")).to_have_count(0)
    await shot(page, "console-reports-forbidden")
