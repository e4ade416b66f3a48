"""A private pcscd with the vpcd virtual reader on a free port, for virtual cards to be inserted into.

pcsc-lite 1.9 (Debian 12) puts its socket at the fixed path /run/pcscd/pcscd.comm; only the client library reads
PCSCLITE_CSOCK_NAME. So pcscd runs in a mount namespace of its own (`unshare --mount`, root only) where a private
directory is bound over /run/pcscd: a system pcscd is never touched. Clients are pointed at `Pcscd.socket_path` with
PCSCLITE_CSOCK_NAME.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
PCSCD = Path("/usr/sbin/pcscd")
READER = "Virtual PCD 00 00"
SECOND_READER = "Virtual PCD 00 01"


class PcscdFailed(RuntimeError):
    """pcscd exited, or was not ready in time."""


def not_installed() -> str | None:
    """Which of pcscd and vpcd this machine lacks, or None."""
    if shutil.which("pcscd") is None and not PCSCD.exists():
        return "pcscd is not installed"
    if not VPCD_DRIVER.exists():
        return "vpcd (the virtual reader driver) is not installed"
    return None


def unavailable() -> str | None:
    """Why this machine cannot run a private pcscd, or None."""
    if (missing := not_installed()) is not None:
        return missing
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return "a private pcscd runs in a mount namespace over /run/pcscd: it needs root and unshare(1)"
    return None


def free_port_pair() -> int:
    """A port p with p and p + 1 both free on every address: vpcd opens one port per slot."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("0.0.0.0", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            try:
                second.bind(("0.0.0.0", port + 1))
            except OSError:
                continue
            return port
    raise OSError("no two consecutive free ports")


class Pcscd:
    """pcscd serving the socket directory `run_dir`; its reader configuration and log are kept in `work_dir`."""

    def __init__(self, run_dir: Path, work_dir: Path) -> None:
        self.run_dir = run_dir
        self.conf_dir = work_dir / "reader.conf.d"
        self.log_path = work_dir / "pcscd.log"
        self.port = free_port_pair()
        self._process: subprocess.Popen[bytes] | None = None
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n")

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "pcscd.comm"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, within: float = 5.0, ready: Callable[[], bool] | None = None) -> None:
        """Start pcscd (blocking) and wait until `ready()` holds, by default until its socket exists.

        Raises PcscdFailed when pcscd exits or is not ready within `within` seconds (then it is stopped)."""
        assert not self.running, "pcscd is already running"
        is_ready = ready if ready is not None else self.socket_path.exists
        self.run_dir.mkdir(parents=True, exist_ok=True)
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)  # the mount point inside the namespace
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                 'mount --bind "$1" /run/pcscd && exec pcscd --foreground -c "$2"', "sh", str(self.run_dir),
                 str(self.conf_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + within
        while not is_ready():
            if self._process.poll() is not None:
                raise PcscdFailed(f"pcscd exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdFailed(f"pcscd was not ready within {within:g} s")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def log(self) -> str:
        """The end of pcscd's log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return ""
