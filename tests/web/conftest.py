"""Web pages in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium), against central's whole
service on a real database and broker.

`web_central` runs central with console users (`STAFF`, passwords below) and an action plan for burglaries;
`chromium` is a browser for the test; `open_page` a page in it with a language and time zone; `shot` saves a
screenshot under test-artifacts/screenshots/ (kept as a test artefact, not committed).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from central.api.owner_auth import hash_password
from central.config import CentralConfig
from shaobing import topics
from shaobing.broker import MosquittoBroker
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind
from shaobing.mqtt import MqttLink, MqttSettings
from shaobing.net import free_port
from tests.conftest import BROKER_PASSWORDS, MakeBroker
from tests.e2e.conftest import OPERATOR_TOKEN, RunningCentral, serving_central

CHROMIUM = os.environ.get("SHAOBING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTEFACTS = Path(os.environ.get("SHAOBING_ARTEFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
FAST_SCRYPT = {"n": 2**10, "r": 8, "p": 1}  # test users only: the hash's cost travels with it


@dataclass(frozen=True)
class StaffMember:
    login: str
    name: str
    role: str
    password: str


STAFF = {
    "operator": StaffMember("op1", "张伟", "operator", "op1-password"),
    "operator2": StaffMember("op2", "李娜", "operator", "op2-password"),
    "supervisor": StaffMember("sup1", "王强", "supervisor", "sup1-password"),
    "admin": StaffMember("admin", "赵敏", "admin", "admin-password"),
    "viewer": StaffMember("viewer", "刘洋", "viewer", "viewer-password"),
}

BURGLARY_PLAN = {
    "steps": [
        {"key": "call-keyholder", "text": "致电店主核实", "text_en": "Call the keyholder to verify"},
        {"key": "check-camera", "text": "查看现场视频", "text_en": "Check the camera"},
    ],
    "calls": [{"name": "店主 陈先生", "phone": "13800000001", "note": "keyholder"}],
}


def console_settings() -> dict[str, Any]:
    return {
        "users": [{"login": m.login, "name": m.name, "role": m.role,
                   "password_hash": hash_password(m.password, **FAST_SCRYPT)} for m in STAFF.values()],
        "plans": {"burglary": BURGLARY_PLAN},
        "ack_sla_s": {"1": 30.0, "3": 60.0},
    }


@dataclass
class WebCentral:
    running: RunningCentral
    broker: MosquittoBroker
    base_url: str
    _seq: int = 0

    @property
    def api(self) -> httpx.AsyncClient:
        return self.running.api  # with an operator's bearer token

    async def publish(self, site: str, kind: Kind, data: dict[str, Any], *, device: str = "panel-1") -> int:
        """A reading from `site` as its edge sends it (over the broker, as the site's user); its seq."""
        self._seq += 1
        now = datetime.now(UTC)
        envelope = Envelope(site=site, seq=self._seq, device=device, kind=kind, ts=now, rx=now,
                            priority=int(DEFAULT_PRIORITY[kind]), data=data)
        settings = MqttSettings(url=self.broker.url, username=site, password=BROKER_PASSWORDS[site],
                                client_id=site, reconnect_min=0.05, reconnect_max=0.5)
        async with MqttLink(settings, log=logging.getLogger("test.web.site")) as link:
            await link.wait_connected(10)
            await link.publish(topics.event(site, kind), envelope.to_json())
        return self._seq

    async def alarm(self, site: str = "shop-a", *, alarm_class: str = "burglary", zone: str = "3",
                    armed: bool = True) -> int:
        data: dict[str, Any] = {"class": alarm_class, "source": "contact_id", "zone": zone, "partition": "1",
                                "qualifier": "new", "code": "130"}
        if armed:
            data["site_armed"] = True
        return await self.publish(site, Kind.ALARM, data)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The pages run on SQLite only: what they show comes from the API, whose tests run on both stores (the live feed
    and every route the pages call included); a second store would double the browser time and test nothing new."""
    return f"sqlite:///{tmp_path / 'central.db'}"


def web_config(broker: MosquittoBroker, database_url: str, http: str, *, client_id: str) -> CentralConfig:
    """Central for the pages' tests: an operator's API token (`OPERATOR_TOKEN`) and the console's users."""
    return CentralConfig.model_validate({
        "mqtt": {"url": broker.url, "username": "_central-1", "password": broker.user("_central-1").password},
        "database": {"url": database_url},
        "http": {"listen": http},
        "api": {"tokens": [{"token": OPERATOR_TOKEN, "name": "operator-api", "role": "operator"}]},
        "ingest": {"client_id": client_id},
        "console": console_settings(),
    })


@pytest.fixture
async def web_central(make_broker: MakeBroker, database_url: str) -> AsyncIterator[WebCentral]:
    broker = make_broker()
    http = f"127.0.0.1:{free_port()}"
    config = web_config(broker, database_url, http, client_id="central-web")
    async with serving_central(config, database_url, http, name="web-central", api_timeout=10.0) as running:
        yield WebCentral(running, broker, f"http://{http}")


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(chromium: Browser) -> AsyncIterator[OpenPage]:
    """`await open_page(url, locale="zh-CN", timezone="Asia/Shanghai", mobile=False)`: a page in a context of its own
    (its own storage: a second operator is a second context)."""
    contexts: list[BrowserContext] = []

    async def open_(url: str, *, locale: str = "zh-CN", timezone: str = "Asia/Shanghai", mobile: bool = False) -> Page:
        options: dict[str, Any] = {"locale": locale, "timezone_id": timezone}
        if mobile:
            options |= {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
                        "has_touch": True}
        context = await chromium.new_context(**options, accept_downloads=True)
        contexts.append(context)
        page = await context.new_page()
        await page.goto(url)
        return page

    yield open_
    for context in contexts:
        with contextlib.suppress(Exception):
            await context.close()


async def shot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artefact."""
    directory = ARTEFACTS / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def log_in_staff(page: Page, base_url: str, member: StaffMember) -> None:
    """Through the login page, as a person does; lands on the queue."""
    await page.goto(f"{base_url}/console/login")
    await page.fill("#login", member.login)
    await page.fill("#password", member.password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/console/")
