"""The console: from an alarm entering central to its row on every open console page, and the pages' weight.

A private Mosquitto and central (the `Central` service, SQLite) in this process; `consoles` queue pages open in one
headless Chromium (the system's /usr/bin/chromium, driven by Playwright), all logged in as one operator. Alarms are
published as the site's edge publishes them, one every `gap` seconds, each on its own zone (a new dispatch each). Every
page notes (Date.now(), this machine's clock) when a row for a dispatch first appears in its queue. For every alarm
and every page:

- `from publish`: the row's appearance minus the moment the bench handed the reading to the broker (an upper bound of
  "entering central": it includes the broker's hop);
- `from commit`: the row's appearance minus the moment central's ingest transaction holding the dispatch committed
  (what the live feed, the event stream and the page add).

The first alarm warms the pages up and is not counted. The pages run with their sound off: fifty audio outputs on one
2-core machine measure the machine, not the console (one workstation plays one).

Page weight: every answer a page loads until it shows its data (the event stream left out), as sent (gzip) and
unpacked.

Run: .venv/bin/python -m bench.console_latency [--consoles N] [--alarms N] [--gap S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import select

from bench.common import Figure, Stack, at_most, central_stack, percentile, say, table
from central.api.owner_auth import hash_password
from central.store.schema import dispatches, readings
from shaobing import topics
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind
from shaobing.mqtt import MqttLink, MqttSettings

SITE = "bench-shop"
GATEWAY = "bench-gw"  # a tracker gateway: the owner's bike reports through it
BIKE_IMEI = "864717000000012"  # Luhn-valid
API_TOKEN = secrets.token_urlsafe(24)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
GOAL_P99_MS = 500.0
WARM_UP = 1  # the pages' first alarm runs code for the first time (a console is open all shift): not counted
OPERATOR = {"login": "bench-op", "name": "bench operator", "role": "operator", "password": secrets.token_urlsafe(12)}
LOG = logging.getLogger("bench.console")

# Installed in every page before its own scripts: note when each dispatch's row first shows.
WATCH_ROWS = """
window.seenRows = {};
document.addEventListener('DOMContentLoaded', () => {
  const rows = document.getElementById('queue-rows');
  new MutationObserver(() => {
    const now = Date.now();
    for (const row of rows.children) {
      if (!(row.dataset.id in window.seenRows)) window.seenRows[row.dataset.id] = now;
    }
  }).observe(rows, {childList: true});
});
"""


@dataclass(frozen=True)
class Weight:
    page: str
    requests: int
    sent_kb: float
    unpacked_kb: float


def console_section() -> dict[str, Any]:
    user = {key: OPERATOR[key] for key in ("login", "name", "role")}
    user["password_hash"] = hash_password(OPERATOR["password"], n=2**14, r=8, p=1)
    return {"console": {"users": [user]},
            "api": {"tokens": [{"token": API_TOKEN, "name": "bench-operator", "role": "operator"}]}}


async def log_in(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/api/staff/login",
                                     json={"login": OPERATOR["login"], "password": OPERATOR["password"]})
        response.raise_for_status()
        session: dict[str, Any] = response.json()
        return session


async def owner_with_bike(stack: Stack, base_url: str) -> dict[str, Any]:
    """An owner signed up, a tracker provisioned and claimed, and an hour of its positions stored: the owner's
    session, for the map page."""
    phone, password, code = "13800138000", secrets.token_urlsafe(12), secrets.token_hex(4)
    async with httpx.AsyncClient(base_url=base_url) as client:
        (await client.post("/api/owners", json={"phone": phone, "name": "bench owner", "password": password}))\
            .raise_for_status()
        session: dict[str, Any] = (await client.post("/api/owners/login",
                                                     json={"phone": phone, "password": password})).json()
        operator = {"Authorization": f"Bearer {API_TOKEN}"}
        (await client.post("/api/trackers", json={"imei": BIKE_IMEI, "bind_code": code}, headers=operator))\
            .raise_for_status()
        owner = {"Authorization": f"Bearer {session['token']}"}
        (await client.post("/api/my/bikes", json={"imei": BIKE_IMEI, "bind_code": code, "name": "bench bike"},
                           headers=owner)).raise_for_status()
        settings = MqttSettings(url=stack.broker.url, username=GATEWAY, password=stack.passwords[GATEWAY],
                                client_id=GATEWAY)
        now = time.time()
        async with MqttLink(settings, log=LOG) as link:
            await link.wait_connected(10)
            for index in range(360):  # an hour, one fix every 10 s, riding north
                fix_time = datetime.fromtimestamp(now - 3600 + 10 * index, UTC)
                envelope = Envelope(site=GATEWAY, seq=index + 1, device=BIKE_IMEI, kind=Kind.POSITION, ts=fix_time,
                                    rx=fix_time, priority=int(DEFAULT_PRIORITY[Kind.POSITION]),
                                    data={"lat": 22.5431 + index * 0.0003, "lon": 114.0579, "valid": True,
                                          "fix_time": fix_time.isoformat(), "satellites": 9, "speed_kmh": 12.0,
                                          "source": "gps"})
                await link.publish(topics.event(GATEWAY, Kind.POSITION), envelope.to_json())
        for _ in range(100):
            if await stack.stored(GATEWAY) >= 360:
                break
            await asyncio.sleep(0.1)
    return session


async def owner_context(browser: Browser, session: dict[str, Any]) -> BrowserContext:
    """A phone, the owner logged in and the bike chosen on the list."""
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", is_mobile=True, has_touch=True,
                                        viewport={"width": 390, "height": 844}, device_scale_factor=2)
    await context.add_init_script(f"localStorage.setItem('shaobing.owner', {json.dumps(json.dumps(session))});"
                                  f"sessionStorage.setItem('shaobing.owner.bike', '{BIKE_IMEI}');")
    return context


async def staff_context(browser: Browser, session: dict[str, Any]) -> BrowserContext:
    context = await browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    await context.add_init_script(f"localStorage.setItem('shaobing.staff', {json.dumps(json.dumps(session))});"
                                  + "localStorage.setItem('shaobing.sound', 'off');")
    return context


async def open_consoles(browser: Browser, session: dict[str, Any], base_url: str, count: int) -> list[Page]:
    """One browser context per console: each is a workstation of its own (its own connections and storage)."""
    pages = []
    for _ in range(count):
        context = await staff_context(browser, session)
        await context.add_init_script(WATCH_ROWS)
        page = await context.new_page()
        await page.goto(f"{base_url}/console/")
        pages.append(page)
    for page in pages:
        await page.wait_for_selector("#live-state[data-state=open]", timeout=30_000)
    return pages


async def publish_alarms(stack: Stack, numbers: range, gap: float) -> dict[int, float]:
    """seq -> the wall-clock moment it went to the broker."""
    settings = MqttSettings(url=stack.broker.url, username=SITE, password=stack.passwords[SITE], client_id=SITE)
    sent: dict[int, float] = {}
    async with MqttLink(settings, log=LOG) as link:
        await link.wait_connected(10)
        for seq in numbers:
            now = datetime.now(UTC)
            envelope = Envelope(site=SITE, seq=seq, device="panel-1", kind=Kind.ALARM, ts=now, rx=now,
                                priority=int(DEFAULT_PRIORITY[Kind.ALARM]),
                                data={"class": "burglary", "zone": str(seq), "qualifier": "new", "source": "dc09"})
            sent[seq] = time.time()
            await link.publish(topics.event(SITE, Kind.ALARM), envelope.to_json())
            await asyncio.sleep(gap)
    return sent


async def dispatch_seqs(stack: Stack) -> dict[int, int]:
    """dispatch id -> the seq of the alarm that raised it."""
    async with stack.engine.connect() as connection:
        rows = (await connection.execute(
            select(dispatches.c.id, readings.c.seq).join(readings, readings.c.id == dispatches.c.reading_id))).all()
    return {int(row.id): int(row.seq) for row in rows}


async def wait_all_seen(pages: list[Page], count: int, within: float) -> list[dict[str, int]]:
    deadline = time.monotonic() + within
    while True:
        seen: list[dict[str, int]] = [await page.evaluate("window.seenRows") for page in pages]
        if all(len(rows) >= count for rows in seen) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.5)


async def page_weight(context: BrowserContext, url: str, name: str, ready: str) -> Weight:
    """What the page loads, cold (`context` fresh: nothing cached), until `ready` shows and a second more has passed
    (the event stream never goes idle)."""
    page = await context.new_page()
    answers: list[Any] = []

    def answered(response: Any) -> None:
        answers.append(response)

    page.on("response", answered)
    await page.goto(url)
    await page.wait_for_selector(ready, state="attached", timeout=30_000)
    await asyncio.sleep(1.0)
    sent = unpacked = 0
    counted = 0
    for response in answers:
        if "/api/live/" in response.url:
            continue  # the event stream never ends
        sizes = await response.request.sizes()
        sent += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        unpacked += len(await response.body())
        counted += 1
    await context.close()
    return Weight(name, counted, sent / 1024, unpacked / 1024)


def latency_figures(label: str, values: list[float], consoles: int) -> list[Figure]:
    p50, p99 = percentile(values, 0.50), percentile(values, 0.99)
    return [
        Figure(f"console: alarm {label} -> row on {consoles} open consoles, p50", p50, "ms"),
        Figure(f"console: alarm {label} -> row on {consoles} open consoles, p99", p99, "ms",
               f"< {GOAL_P99_MS:.0f} ms", at_most(GOAL_P99_MS, p99), f"max {max(values):.0f} ms, n={len(values)}"),
    ]


async def run(*, consoles: int = 50, alarms: int = 40, gap: float = 0.5) -> list[Figure]:
    say(f"console: {alarms} alarms to {consoles} open queue pages in headless Chromium (bench/console_latency.py)")
    with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
        async with central_stack(Path(scratch), [SITE, GATEWAY], sections=console_section()) as stack:
            base_url = stack.central.config.http.base_url
            session = await log_in(base_url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    staff = await staff_context(browser, session)
                    weights = [await page_weight(staff, f"{base_url}/console/", "console queue",
                                                 "#live-state[data-state=open]")]
                    pages = await open_consoles(browser, session, base_url, consoles)
                    say(f"  {consoles} consoles open; {stack.central.live.consoles} following the live feed")
                    await publish_alarms(stack, range(1, WARM_UP + 1), gap)
                    await wait_all_seen(pages, WARM_UP, within=30)
                    sent = await publish_alarms(stack, range(WARM_UP + 1, WARM_UP + alarms + 1), gap)
                    seen = await wait_all_seen(pages, WARM_UP + alarms, within=30 + alarms * gap)
                    seqs = {dispatch_id: seq for dispatch_id, seq in (await dispatch_seqs(stack)).items()
                            if seq > WARM_UP}
                    staff = await staff_context(browser, session)
                    weights.append(await page_weight(staff, f"{base_url}/console/alarm?id={min(seqs)}",
                                                     "console alarm page", "#summary[data-state]"))
                    owner = await owner_with_bike(stack, base_url)
                    weights.append(await page_weight(await owner_context(browser, owner), f"{base_url}/my/bike",
                                                     "owner's map (an hour's track)", ".leaflet-interactive"))
                finally:
                    await browser.close()
            from_publish: list[float] = []
            from_commit: list[float] = []
            slowest: list[tuple[float, int]] = []
            missing = 0
            for rows in seen:
                for dispatch_id, seq in seqs.items():
                    shown = rows.get(str(dispatch_id))
                    if shown is None:
                        missing += 1
                        continue
                    from_publish.append(shown - sent[seq] * 1000)
                    slowest.append((shown - sent[seq] * 1000, seq))
                    committed = stack.commits.at.get((SITE, seq))
                    if committed is not None:
                        from_commit.append(shown - committed * 1000)
    say(f"  rows seen {len(from_publish)} of {len(seqs) * consoles}; missing {missing}; slowest (ms, alarm): "
        + ", ".join(f"{ms:.0f} #{seq}" for ms, seq in sorted(slowest, reverse=True)[:8]))
    figures = latency_figures("published", from_publish, consoles) + latency_figures("committed", from_commit, consoles)
    if missing:
        figures.append(Figure("console: rows never shown", float(missing), "", "0", False))
    for weight in weights:
        figures.append(Figure(f"page weight: {weight.page}, as sent (gzip)", weight.sent_kb, "KiB", "",
                              None, f"{weight.requests} answers, {weight.unpacked_kb:.0f} KiB unpacked"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--alarms", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between alarms")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(table(asyncio.run(run(consoles=arguments.consoles, alarms=arguments.alarms, gap=arguments.gap))))


if __name__ == "__main__":
    main()
