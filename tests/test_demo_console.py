"""`shaobing central hash-password` as a person and a script run it, the shipped example users, and the demo's
monitoring centre (its users log in with the passwords it prints, its panic plan is marked before the panic is
resolved, its sites' profiles are accepted) on a real central, broker and both stores."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.api.owner_auth import verify_password
from central.config import load_central_config
from shaobing.demo import configs
from shaobing.demo.console import (
    LOGINS,
    OPERATOR,
    PLANS,
    PROFILES,
    SUPERVISOR,
    console_settings,
    follow_plan,
    log_in,
    password_hashes,
    site_profile,
    where_to_look,
)
from shaobing.demo.run import SITES
from shaobing.envelope import Kind
from shaobing.net import free_port
from tests.central.conftest import database_url
from tests.conftest import MakeBroker
from tests.e2e.conftest import OPERATOR_TOKEN, eventually, serving_central
from tests.web.conftest import WebCentral

__all__ = ["database_url"]

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
HASH_PASSWORD = [sys.executable, "-m", "shaobing", "central", "hash-password"]


def hash_from_stdin(stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(HASH_PASSWORD, input=stdin, capture_output=True, timeout=60, check=False)


# --- shaobing central hash-password ----------------------------------------------------------------------------------

def test_hash_password_reads_one_line_from_stdin_and_prints_a_hash_that_verifies() -> None:
    first = hash_from_stdin("夜班 operator pass 1\n".encode())
    again = hash_from_stdin(b"night-shift-pass\r\n")
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    printed = first.stdout.decode().strip()
    assert printed.startswith("scrypt$") and "\n" not in printed
    assert verify_password("夜班 operator pass 1", printed)
    assert not verify_password("夜班 operator pass 2", printed)
    assert verify_password("night-shift-pass", again.stdout.decode().strip())  # a CRLF line end is not the password
    salted = hash_from_stdin(b"night-shift-pass\n").stdout.decode().strip()
    assert salted != again.stdout.decode().strip()  # a new salt each time


@pytest.mark.parametrize(("stdin", "reason"), [
    (b"", "8 to 256 characters"),                      # nothing at all
    (b"\n", "8 to 256 characters"),                    # an empty line
    (b"short\n", "8 to 256 characters"),
    (b"x" * 257 + b"\n", "8 to 256 characters"),       # longer than the log-in form takes
    (b"\xff\xfe-not-utf8-\n", "not UTF-8"),
])
def test_hash_password_refuses_a_password_no_one_could_log_in_with(stdin: bytes, reason: str) -> None:
    done = hash_from_stdin(stdin)
    assert done.returncode == 1
    assert done.stdout == b""
    assert reason in done.stderr.decode()


def _at_a_terminal(typed: list[str]) -> tuple[int, str]:
    """Run hash-password with a pseudo-terminal as its controlling terminal, typing each line when it asks."""
    controller, terminal = os.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(HASH_PASSWORD, stdin=terminal, stdout=subprocess.PIPE, stderr=terminal,
                               preexec_fn=own_terminal)
    os.close(terminal)
    screen = b""
    try:
        for line in typed:
            screen += _read_until(controller, b": ", screen)
            os.write(controller, line.encode() + b"\n")
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert b"password: " in screen and line.encode() not in screen  # asked, and nothing typed was echoed
    return process.returncode, out.decode().strip()


def _read_until(fd: int, prompt: bytes, before: bytes) -> bytes:
    seen = b""
    deadline = time.monotonic() + 30
    while (before + seen).count(prompt) <= before.count(prompt):
        assert time.monotonic() < deadline, f"no prompt; the terminal shows {seen!r}"
        seen += os.read(fd, 1024)
    return seen


def test_hash_password_at_a_terminal_asks_twice_without_echo() -> None:
    status, printed = _at_a_terminal(["console-pass-42", "console-pass-42"])
    assert status == 0
    assert verify_password("console-pass-42", printed)


def test_hash_password_at_a_terminal_refuses_two_different_passwords() -> None:
    status, printed = _at_a_terminal(["console-pass-42", "console-pass-43"])
    assert status == 1
    assert printed == ""


def test_central_without_a_config_or_a_subcommand_says_what_it_needs() -> None:
    done = subprocess.run([sys.executable, "-m", "shaobing", "central"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "--config" in done.stderr and "hash-password" in done.stderr


# --- configs/central.toml ----------------------------------------------------------------------------------------

def test_the_shipped_example_users_log_in_with_their_documented_passwords_and_plans_cover_the_main_classes() -> None:
    console = load_central_config(CONFIGS / "central.toml").console
    users = {user.login: user for user in console.users}
    assert {(u.role, u.login) for u in users.values()} == {("operator", "op1"), ("supervisor", "sup1")}
    assert verify_password("change-me-operator-1", users["op1"].password_hash)
    assert verify_password("change-me-supervisor-1", users["sup1"].password_hash)
    assert not verify_password("change-me-operator-1", users["sup1"].password_hash)
    assert set(console.plans) >= {"burglary", "panic", "fire", "theft"}
    for plan in console.plans.values():
        assert plan.steps and plan.calls
        assert all(step.text_en for step in plan.steps)
    assert console.tiles.url == ""  # the pages work without tiles; the OpenStreetMap example is a comment
    assert "tile.openstreetmap.org" in (CONFIGS / "central.toml").read_text(encoding="utf-8")


# --- the demo's monitoring centre --------------------------------------------------------------------------------

def test_the_demo_prints_where_to_log_in_with_every_password() -> None:
    lines = "\n".join(where_to_look("127.0.0.1:8640", [("张伟", "+8613800138000", "zhangwei-bike-1")]))
    assert "http://127.0.0.1:8640/console/" in lines and "http://127.0.0.1:8640/my/" in lines
    for who in LOGINS:
        assert who.login in lines and who.password in lines
    assert "+8613800138000" in lines and "zhangwei-bike-1" in lines


def test_every_demo_site_has_a_profile_on_the_bikes_streets() -> None:
    assert set(PROFILES) == set(SITES)
    for site in SITES:
        body = site_profile(site)
        assert abs(body["lat"] - 22.54) < 0.03 and abs(body["lon"] - 114.06) < 0.03  # type: ignore[operator]


async def _demo_central(make_broker: MakeBroker, database_url: str, tmp_path: Path) -> Any:
    """The demo's central configuration file, written by the demo, loaded as `shaobing central` loads it."""
    broker = make_broker()
    http = f"127.0.0.1:{free_port()}"
    hook = "http://127.0.0.1:9/hook"  # nobody listens: deliveries wait in the outbox, which is not under test here
    path = configs.central(
        tmp_path, broker_url=broker.url, password=broker.user("_central-1").password, http=http,
        tokens={OPERATOR_TOKEN: ("operator-api", "operator")}, escalate_after=600.0,
        recipients={name: (hook, "s" * 32) for name in ("guards", "police-110", "sms-gateway")},
        console=console_settings(await asyncio.to_thread(password_hashes)))
    return broker, http, load_central_config(path, db=database_url)


async def test_the_demo_staff_log_in_and_the_panic_is_resolved_only_after_its_plan(
        make_broker: MakeBroker, database_url: str, tmp_path: Path) -> None:
    broker, http, config = await _demo_central(make_broker, database_url, tmp_path)
    assert set(config.console.plans) == set(PLANS)
    async with serving_central(config, database_url, http, name="demo-central", api_timeout=10.0) as running:
        site = WebCentral(running, broker, f"http://{http}")
        for who in LOGINS:
            token = await log_in(running.api, who)
            me = await running.api.get("/api/staff/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
            assert (me.json()["login"], me.json()["role"]) == (who.login, who.role)
        wrong = await running.api.post("/api/staff/login", json={"login": OPERATOR.login, "password": "nope-nope"},
                                       headers={"Authorization": ""})
        assert wrong.status_code == 401

        await site.publish("shop-a", Kind.ALARM, {"class": "panic", "source": "dc09", "zone": "1",
                                                  "qualifier": "new", "code": "PA"})

        async def panic() -> int | None:
            found = [d for d in await running.dispatches("shop-a") if d["alarm_class"] == "panic"]
            return int(found[0]["id"]) if found else None

        dispatch_id = await eventually("the panic dispatch", panic)
        async with httpx.AsyncClient(base_url=f"http://{http}", timeout=10.0, headers={
                "Authorization": f"Bearer {await log_in(running.api, OPERATOR)}"}) as operator:
            assert (await operator.post(f"/api/dispatches/{dispatch_id}/actions",
                                        json={"action": "acknowledge"})).status_code == 200
            resolve = {"action": "resolve", "outcome": "real", "incident_class": "criminal"}
            early = await operator.post(f"/api/dispatches/{dispatch_id}/actions", json=resolve)
            assert early.status_code == 409 and "action plan" in early.json()["detail"]
            said: list[str] = []
            assert await follow_plan(operator, dispatch_id, said.append)
            assert len(said) == len(PLANS["panic"].steps)
            resolved = await operator.post(f"/api/dispatches/{dispatch_id}/actions", json=resolve)
            assert resolved.status_code == 200, resolved.text
            detail = resolved.json()
        assert detail["state"] == "resolved" and detail["handler"] == OPERATOR.name
        marks = {t["detail"].get("step"): t["detail"].get("status") for t in detail["transitions"]
                 if t["action"] == "plan_step"}
        assert marks == {"confirm-110": "done", "send-guard": "done", "call-keyholder": "skipped"}


async def test_the_demo_supervisor_sets_every_profile_and_the_operator_may_not(
        make_broker: MakeBroker, database_url: str, tmp_path: Path) -> None:
    broker, http, config = await _demo_central(make_broker, database_url, tmp_path)
    async with serving_central(config, database_url, http, name="demo-central", api_timeout=10.0) as running:
        await WebCentral(running, broker, f"http://{http}").publish("shop-a", Kind.TEST, {})

        async def known() -> bool:
            return (await running.api.get("/api/sites/shop-a")).status_code == 200

        await eventually("shop-a known to central", known)
        supervisor = {"Authorization": f"Bearer {await log_in(running.api, SUPERVISOR)}"}
        operator = {"Authorization": f"Bearer {await log_in(running.api, OPERATOR)}"}
        refused = await running.api.patch("/api/sites/shop-a", json=site_profile("shop-001"), headers=operator)
        assert refused.status_code == 403
        for demo_site in SITES:  # each demo site's profile, as the demo sends it, on a site this broker knows
            body = site_profile(demo_site)
            response = await running.api.patch("/api/sites/shop-a", json=body, headers=supervisor)
            assert response.status_code == 200, response.text
            assert {key: response.json()[key] for key in body} == body
