"""The owners' pages and the police's share page in a real headless Chromium on a phone's viewport, against
central's whole service: owners signed up through the API, trackers provisioned by an operator and claimed, positions
arriving as a tracker gateway's readings over the real broker.

1. An owner logs in, sees only their own bikes, follows a bike live (a new position moves the marker without a
   reload), reports it stolen (central confirms the theft) and downloads its track as GPX (parsed: it holds the
   positions sent).
2. A share link opens a read-only live page without an account; revoked or expired, the page says so.
3. An owner's session reaches no console data, and the console's pages send the owner to the staff login.
Screenshots: login, bikes, bike map, history, share page (zh-CN, phone), the bikes in English.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import update

from central.store.schema import share_links
from tests.e2e.conftest import OWNER_PASSWORD, Owner, eventually
from tests.web.conftest import STAFF, OpenPage, shot
from tests.web.owner_kit import BikeWorld, Fix, log_in_owner, north_of_home, world

__all__ = ["world"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
GPX = "{http://www.topografix.com/GPX/1/1}"
ALICE, BOB = "13812345678", "13987654321"


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ride(number: str, start: datetime, count: int, *, first_m: float = 0.0) -> list[Fix]:
    """`count` fixes ten seconds apart, 40 m further north each time (14.4 km/h), the last one at `start`."""
    return [Fix(number, *north_of_home(first_m + 40 * i), start - timedelta(seconds=10 * (count - 1 - i)), 14.4)
            for i in range(count)]


async def bikes_with_positions(world: BikeWorld) -> tuple[Owner, str, Owner, str]:
    """Alice with her bike, Bob with his; both bikes reported a short ride, all stored by central."""
    alice = await world.owner(ALICE, "李雷")
    bob = await world.owner(BOB, "韩梅梅")
    blue = await world.bike(alice, 1, name="小蓝", plate="深圳A12345")
    red = await world.bike(bob, 2, name="小红", plate="深圳B99999")
    start = now_s() - timedelta(seconds=30)
    await world.positions([*ride(blue, start, 4), *ride(red, start, 2)])
    await eventually("the rides stored", lambda: _both_stored(world, alice, blue, bob, red))
    return alice, blue, bob, red


async def _both_stored(world: BikeWorld, alice: Owner, blue: str, bob: Owner, red: str) -> bool:
    last_blue = [fix for fix in world.sent if fix.imei == blue][-1]
    last_red = [fix for fix in world.sent if fix.imei == red][-1]
    return await world.stored_fix(alice, blue, last_blue) and await world.stored_fix(bob, red, last_red)


async def marker_at(page: Page, fix: Fix) -> None:
    await expect(page.locator("#map")).to_have_attribute("data-lat", str(fix.lat), timeout=20_000)


async def test_an_owner_follows_their_stolen_bike_reports_it_and_downloads_its_track(
    world: BikeWorld, open_page: OpenPage, tmp_path: Path
) -> None:
    alice, blue, _, red = await bikes_with_positions(world)
    base = world.base_url

    page = await open_page(f"{base}/my/", mobile=True)
    await page.wait_for_url(f"{base}/my/login?next=%2Fmy%2F")  # no session: the owners' login
    await page.fill("#phone", ALICE)
    await shot(page, "owner-login-zh")
    await page.fill("#password", "not the password")
    await page.click("#submit")
    await expect(page.locator("#login-error")).to_have_text("手机号或密码错误")
    await page.fill("#password", OWNER_PASSWORD)
    await page.click("#submit")
    await page.wait_for_url(f"{base}/my/")

    # Only her own bike, with its state.
    cards = page.locator("li.bike")
    await expect(cards).to_have_count(1)
    await expect(cards.first).to_have_attribute("data-plate", "深圳A12345")
    await expect(cards.first.locator(".pill[data-key=armed]")).to_have_text("未设防")
    await expect(cards.first.locator(".pill[data-key=motion]")).to_have_text("移动中 14 km/h")
    await expect(cards.first.locator(".pill[data-key=fix]")).to_have_text("GPS 定位")
    assert "深圳B99999" not in await page.content()
    theirs = await alice.call("GET", f"/api/my/bikes/{red}")
    assert theirs.status_code == 404 and theirs.json()["detail"] == "you have no bike with this IMEI"
    unknown = await alice.call("GET", "/api/my/bikes/490154203237518")
    assert unknown.json()["detail"] == theirs.json()["detail"]  # another owner's bike is as unknown as no bike

    # Arm it from the list.
    await cards.first.locator("button[data-action=arm]").click()
    await expect(cards.first.locator("button[data-action=disarm]")).to_be_visible()
    assert (await alice.bike(blue))["armed"] is True
    await shot(page, "owner-bikes-zh")

    # Follow it: the bike page's address names no bike; a new fix moves the marker without a reload.
    await cards.first.locator("button[data-action=open]").click()
    await page.wait_for_url(f"{base}/my/bike")
    assert blue not in page.url
    blue_fixes = [fix for fix in world.sent if fix.imei == blue]
    await marker_at(page, blue_fixes[-1])
    await expect(page.locator("#map")).to_have_attribute("data-track-points", str(len(blue_fixes)))
    await expect(page.locator("#title")).to_have_text("小蓝 · 深圳A12345")
    await page.evaluate("window.stillThisPage = true")
    moved = ride(blue, now_s(), 1, first_m=200)[0]
    await world.positions([moved])
    await marker_at(page, moved)
    assert await page.evaluate("window.stillThisPage === true")  # the same document: no reload
    await expect(page.locator("#map")).to_have_attribute("data-track-points", str(len(blue_fixes) + 1))
    await shot(page, "owner-bike-map-zh")

    # "My bike is stolen", confirmed in a dialog: central confirms the theft and hands 110 a live link.
    await page.click("#stolen")
    await expect(page.locator("#stolen-dialog")).to_be_visible()
    await page.click("#stolen-cancel")
    assert (await alice.bike(blue))["theft_state"] is None  # cancelled: nothing reported
    await page.click("#stolen")
    await page.click("#stolen-confirm")
    await expect(page.locator("#theft-notice")).to_be_visible()
    await expect(page.locator("#theft-link")).to_have_value(re.compile("/share/"))
    live_link = await page.locator("#theft-link").input_value()
    assert live_link.startswith(f"{base}/share/")
    staff_view = (await world.central.api.get(f"/api/trackers/{blue}")).json()
    assert staff_view["theft_state"] == "confirmed" and staff_view["theft_dispatch_id"] is not None
    dispatches = await world.central.dispatches()
    theft = next(d for d in dispatches if d["id"] == staff_view["theft_dispatch_id"])
    assert (theft["alarm_class"], theft["zone"], theft["escalation_reason"]) == ("theft", blue, "confirmed")
    assert theft["escalated_at"] is not None  # 110 has it
    await expect(page.locator("#stolen")).to_be_hidden()

    # History in her time zone, and its GPX download.
    first_local = blue_fixes[0].fix_time.astimezone(SHANGHAI) - timedelta(minutes=1)
    last_local = moved.fix_time.astimezone(SHANGHAI) + timedelta(minutes=2)
    await page.fill("#history-from", first_local.strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#history-to", last_local.strftime("%Y-%m-%dT%H:%M"))
    await page.click("#history-show")
    sent = [*blue_fixes, moved]
    await expect(page.locator("#history-result")).to_have_text(f"共 {len(sent)} 个定位点")
    await expect(page.locator("#map")).to_have_attribute("data-history-points", str(len(sent)))
    await page.locator("#history").scroll_into_view_if_needed()
    await shot(page, "owner-history-zh")
    async with page.expect_download() as waiting:
        await page.click("button.download[data-format=gpx]")
    downloaded = await waiting.value
    assert downloaded.suggested_filename.endswith(".gpx")
    target = tmp_path / "track.gpx"
    await downloaded.save_as(target)
    points = ET.parse(target).getroot().findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    got = [(float(p.attrib["lat"]), float(p.attrib["lon"]), p.findtext(f"{GPX}time")) for p in points]
    assert [(lat, lon) for lat, lon, _ in got] == [(fix.lat, fix.lon) for fix in sent]
    assert [datetime.fromisoformat(str(when)) for _, _, when in got] == [fix.fix_time for fix in sent]
    async with page.expect_download() as waiting:
        await page.click("button.download[data-format=csv]")
    csv_file = tmp_path / "track.csv"
    await (await waiting.value).save_as(csv_file)
    rows = (await asyncio.to_thread(csv_file.read_bytes)).decode().splitlines()
    assert rows[0].startswith("fix_time,lat,lon") and len(rows) == 1 + len(sent)


async def test_a_share_link_opens_a_live_page_without_an_account_until_revoked_or_expired(
    world: BikeWorld, open_page: OpenPage
) -> None:
    alice, blue, _, _ = await bikes_with_positions(world)
    base = world.base_url
    short = await alice.call("POST", f"/api/my/bikes/{blue}/share", json={"ttl_s": 60})  # the shortest lifetime
    assert short.status_code == 201, short.text
    short_expiry = datetime.fromisoformat(short.json()["expires_at"])

    owner_page = await open_page(f"{base}/my/login", mobile=True)
    await log_in_owner(owner_page, base, ALICE)
    await owner_page.click("li.bike button[data-action=open]")
    await owner_page.wait_for_url(f"{base}/my/bike")
    await owner_page.select_option("#share-ttl", "3600")
    await owner_page.click("#share-create")
    await expect(owner_page.locator("#share-new")).to_have_value(re.compile("^" + re.escape(f"{base}/share/")))
    url = await owner_page.locator("#share-new").input_value()
    await expect(owner_page.locator("#share-links li")).to_have_count(2)

    # The police open it on a phone of their own, no account, no session.
    police = await open_page(url, mobile=True)
    await expect(police.locator("#title")).to_have_text("小蓝 · 深圳A12345")
    blue_fixes = [fix for fix in world.sent if fix.imei == blue]
    await marker_at(police, blue_fixes[-1])
    await expect(police.locator("#map")).to_have_attribute("data-track-points", str(len(blue_fixes)))
    assert await police.evaluate("localStorage.length") == 0
    body = await police.locator("body").inner_text()
    for private in (ALICE, "李雷", blue):
        assert private not in body
    await police.evaluate("window.stillThisPage = true")
    moved = ride(blue, now_s(), 1, first_m=300)[0]
    await world.positions([moved])
    await marker_at(police, moved)
    assert await police.evaluate("window.stillThisPage === true")
    await shot(police, "share-page-zh")
    short_page = await open_page(f"{base}{short.json()['url'].removeprefix(base)}", mobile=True)
    await marker_at(short_page, moved)

    # The owner revokes it (named by its id in the list, not by its token): the police's page says so on its next
    # refresh.
    listed = (await alice.call("GET", f"/api/my/bikes/{blue}/shares")).json()
    link_id = next(item["id"] for item in listed if item["expires_at"] != short.json()["expires_at"])
    await owner_page.click(f"#share-links li[data-link-id='{link_id}'] button.revoke")
    await expect(owner_page.locator(f"#share-links li[data-link-id='{link_id}']")).to_have_attribute(
        "data-active", "false")
    gone = police.locator("#gone")
    await expect(gone).to_have_attribute("data-reason", "revoked", timeout=20_000)
    await expect(gone).to_have_text("此链接已被撤销。请向车主或监控中心索取新链接。")
    await expect(police.locator("#map")).to_be_hidden()

    # The short link: live until its lifetime is over, then the page says it expired. Its minute is cut to two
    # seconds from now in the database (the only thing that differs from waiting the minute out).
    await expect(short_page.locator("#gone")).to_be_hidden()
    soon = datetime.now(UTC) + timedelta(seconds=2)
    async with world.central.engine.begin() as connection:
        cut = await connection.execute(update(share_links).where(share_links.c.expires_at == short_expiry)
                                       .values(expires_at=soon))
        assert cut.rowcount == 1
    await expect(short_page.locator("#gone")).to_have_attribute("data-reason", "expired", timeout=20_000)
    assert datetime.now(UTC) >= soon
    await expect(short_page.locator("#gone")).to_have_text("此链接已过期。请向车主或监控中心索取新链接。")

    # A token nobody made.
    nobody = await open_page(f"{base}/share/{'A' * 32}", mobile=True)
    await expect(nobody.locator("#gone")).to_have_attribute("data-reason", "unknown")


async def test_an_owner_session_reaches_no_console_data_and_console_pages_ask_for_staff(
    world: BikeWorld, open_page: OpenPage
) -> None:
    alice = await world.owner(ALICE, "李雷")
    async with httpx.AsyncClient(base_url=world.base_url, timeout=10.0) as client:
        for path in ("/api/dispatches", "/api/sites", "/api/trackers"):
            answer = await client.get(path, headers={"Authorization": f"Bearer {alice.token}"})
            assert answer.status_code == 403, (path, answer.text)
            assert answer.json()["detail"]
    page = await open_page(f"{world.base_url}/my/login", mobile=True)
    await log_in_owner(page, world.base_url, ALICE)
    await page.goto(f"{world.base_url}/console/")
    await page.wait_for_url(f"{world.base_url}/console/login?next=%2Fconsole%2F")
    await expect(page.locator("#login")).to_be_visible()
    assert STAFF["operator"].login not in await page.content()


async def test_the_bikes_in_english(world: BikeWorld, open_page: OpenPage) -> None:
    _, blue, _, _ = await bikes_with_positions(world)
    page = await open_page(f"{world.base_url}/my/login", locale="en-GB", timezone="Europe/London", mobile=True)
    await expect(page.locator("#submit")).to_have_text("Log in")
    await log_in_owner(page, world.base_url, ALICE)
    card = page.locator("li.bike")
    await expect(card.locator(".pill[data-key=armed]")).to_have_text("Disarmed")
    await expect(card.locator("button[data-action=open]")).to_have_text("Open map")
    await shot(page, "owner-bikes-en")
    await page.click("#language")  # the switch turns the page to Chinese at once, and back
    await expect(card.locator(".pill[data-key=armed]")).to_have_text("未设防")
    await page.click("#language")
    await expect(card.locator(".pill[data-key=armed]")).to_have_text("Disarmed")
    assert blue not in page.url


async def test_a_new_owner_signs_up_and_adds_a_bike_with_its_bind_code(world: BikeWorld, open_page: OpenPage) -> None:
    number = "864717000000038"
    provisioned = await world.central.api.post("/api/trackers", json={"imei": number, "bind_code": "K7P2Q9"})
    assert provisioned.status_code == 201, provisioned.text
    page = await open_page(f"{world.base_url}/my/login", mobile=True)
    await page.click("#tab-signup")
    await page.fill("#phone", ALICE)
    await page.fill("#name", "李雷")
    await page.fill("#password", "123")  # too short: the API's own words say so
    await page.click("#submit")
    await expect(page.locator("#login-error")).to_contain_text("失败")
    await page.fill("#password", OWNER_PASSWORD)
    await page.click("#submit")
    await page.wait_for_url(f"{world.base_url}/my/")
    await expect(page.locator("#empty")).to_be_visible()

    await page.click("#claim-section summary")
    await page.fill("#claim-imei", number)
    await page.fill("#claim-code", "WRONG1")
    await page.click("#claim-form button[type=submit]")
    await expect(page.locator("#claim-error")).to_have_text("IMEI 或绑定码不对，请核对包装盒")
    await page.fill("#claim-code", "K7P2Q9")
    await page.fill("#claim-name", "小绿")
    await page.click("#claim-form button[type=submit]")
    await expect(page.locator("li.bike .bike-name")).to_have_text("小绿")
    await expect(page.locator("li.bike .pill[data-key=position]")).to_have_text("尚无定位")
    staff_view = (await world.central.api.get(f"/api/trackers/{number}")).json()
    assert staff_view["owner"]["name"] == "李雷"
