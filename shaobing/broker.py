"""A private Mosquitto 2.0 for tests and the demo: password file, per-site ACL, persistence, a free port.

The ACL is the wire contract's access rule: a site's broker user name is its site id, and it may only write its own
`event/#`, `state` and `cmd/result` and read its own `cmd` and `stored` (`pattern` lines with `%u`). Central users are
named `_central...`, which no site id can be (site ids never start with `_`), so the `%u` patterns give them nothing;
they get explicit `user` blocks to read every site's events, states and command results and to write every site's
`cmd` and `stored`.

Every connection's client id is its user name (`use_username_as_clientid`): a site cannot take over, wipe or kick
another user's session (central's above all) by claiming its client id. So each broker user has one connection at a
time; a second connection of the same user replaces the first.

Nothing queued for a persistent session is dropped for lack of room: the queue has no count or byte limit, because
Mosquitto 2.0 drops a message silently at those limits while still acknowledging it to its publisher. No
`memory_limit` either: at that limit Mosquitto refuses new connections, central's reconnect included, so the queue
that should drain never can. Memory is the bound; docs/edge.md ("Where the guarantee rests on the broker") states the
budget and what remains at risk.

Persistence is on, so a restart through `stop()`/`restart()` keeps retained states and the QoS 1 messages queued for
persistent sessions (central's). Mosquitto writes its database on a clean exit and every `AUTOSAVE_INTERVAL`
seconds; a SIGKILL (`kill()`) loses what arrived since the last save, as it would on a real broker box.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from shaobing import topics
from shaobing.net import free_port

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"

# Central's persistent session must hold a whole outage's worth of readings from every site: a message past the
# limit would be dropped after its publisher had its PUBACK (see the module docstring). 100 million is a limit never
# reached before memory is (about 1 KB a reading). Not 0 ("no limit"): Mosquitto 2.0.11 then drops the connection of
# a client whose publish the ACL refused, instead of answering it with "not authorized".
MAX_QUEUED_MESSAGES = 100_000_000
MAX_QUEUED_BYTES = 0
MAX_INFLIGHT_MESSAGES = 1000
# Seconds between database saves: what a SIGKILL of the broker can lose. Each save writes the whole database.
AUTOSAVE_INTERVAL = 5


class BrokerError(RuntimeError):
    """Mosquitto could not be started (or a user could not be added); the message quotes its log."""


@dataclass
class BrokerUser:
    username: str
    password: str
    role: Literal["site", "central"]

    def __post_init__(self) -> None:
        if self.role == "site" and not topics.is_valid_site_id(self.username):
            raise ValueError(f"site user {self.username!r} is not a valid site id")
        if self.role == "central" and not self.username.startswith("_central"):
            raise ValueError(f"central user {self.username!r} must start with '_central'")


def acl_text(users: list[BrokerUser]) -> str:
    """The ACL file for these users (site rules are patterns, so sites need no entry of their own)."""
    root = topics.ROOT
    lines = [
        "# Sites: the broker user name is the site id.",
        f"pattern write {root}/%u/event/#",
        f"pattern write {root}/%u/state",
        f"pattern write {root}/%u/cmd/result",
        f"pattern read {root}/%u/cmd",
        f"pattern read {root}/%u/stored",
        "",
    ]
    for user in users:
        if user.role != "central":
            continue
        lines += [
            f"user {user.username}",
            f"topic read {topics.ALL_EVENTS}",
            f"topic read {topics.ALL_STATES}",
            f"topic read {topics.ALL_CMD_RESULTS}",
            f"topic write {root}/+/cmd",
            f"topic write {root}/+/stored",
            "",
        ]
    return "\n".join(lines)


class MosquittoBroker:
    """One mosquitto process with its config, password file, ACL, database and log in `workdir`."""

    def __init__(self, workdir: Path, users: list[BrokerUser], port: int = 0) -> None:
        self.workdir = workdir
        self.users = list(users)
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def password_path(self) -> Path:
        return self.workdir / "passwords"

    @property
    def acl_path(self) -> Path:
        return self.workdir / "acl"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def user(self, username: str) -> BrokerUser:
        for user in self.users:
            if user.username == username:
                return user
        raise KeyError(username)

    # -- files ------------------------------------------------------------------------------------------------

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "use_username_as_clientid true",
            "allow_anonymous false",
            f"password_file {self.password_path}",
            f"acl_file {self.acl_path}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "autosave_on_changes false",
            f"autosave_interval {AUTOSAVE_INTERVAL}",
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            f"max_queued_bytes {MAX_QUEUED_BYTES}",
            f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        self.conf_path.write_text("\n".join(lines) + "\n")

    def _write_passwords(self) -> None:
        self.password_path.write_text("")
        self.password_path.chmod(0o600)
        for user in self.users:
            self._set_password(user)

    def _set_password(self, user: BrokerUser) -> None:
        done = subprocess.run(
            [MOSQUITTO_PASSWD, "-b", str(self.password_path), user.username, user.password],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise BrokerError(f"mosquitto_passwd failed for {user.username!r}: {done.stderr.decode(errors='replace')}")

    def _write_acl(self) -> None:
        self.acl_path.write_text(acl_text(self.users))

    def add_user(self, user: BrokerUser) -> None:
        """Add (or re-password) a user; a running broker reloads its password file and ACL (SIGHUP)."""
        self.users = [existing for existing in self.users if existing.username != user.username] + [user]
        if not self.password_path.exists():
            return
        self._set_password(user)
        self._write_acl()
        if self.running and self._process is not None:
            self._process.send_signal(signal.SIGHUP)
            time.sleep(0.2)  # mosquitto reloads asynchronously; give it a moment before the user connects

    # -- process ----------------------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.password_path.exists():
            self._write_passwords()
        self._write_acl()
        # A port picked here may be taken before mosquitto binds it: pick again. A restart keeps its port.
        choose = self.port == 0
        for _attempt in range(3 if choose else 1):
            if choose:
                self.port = free_port()
            self._write_conf()
            if self._spawn(timeout):
                return
        raise BrokerError(f"mosquitto did not start on port {self.port}; log:\n{self._log_tail()}")

    def _spawn(self, timeout: float) -> bool:
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.02)
        self.kill()
        return False

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: mosquitto saves its database on the way out."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kill(self) -> None:
        """SIGKILL, as a power cut would: nothing is saved."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- asyncio variants (the process calls block for up to a second or two) ---------------------------------

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)

    async def __aenter__(self) -> MosquittoBroker:
        await self.astart()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()
