"""A pseudo-terminal pair standing in for a serial cable: a driver opens the slave path, a simulated device uses the
master end.

Both ends are in raw mode, so bytes pass unchanged (no echo, no CR/LF translation). The pair keeps its own slave
descriptor open while it lives, so the master end keeps working while a driver closes and reopens the port; closing
the pair hangs the line up, as unplugging the cable would.
"""

from __future__ import annotations

import os
import tty
from types import TracebackType


class PtyPair:
    """Context manager: `with PtyPair() as pair:` gives `pair.slave_path` and `pair.master_fd`."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._slave_path = os.ttyname(slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master: int | None = master
        self._slave: int | None = slave

    @property
    def slave_path(self) -> str:
        """The device path a driver opens as its serial port, e.g. /dev/pts/7."""
        return self._slave_path

    @property
    def master_fd(self) -> int:
        """The non-blocking descriptor the simulated device reads and writes."""
        if self._master is None:
            raise ValueError("pty pair is closed")
        return self._master

    @property
    def closed(self) -> bool:
        return self._master is None

    def close(self) -> None:
        """Close both ends (idempotent); whoever still has the slave open sees the line hang up."""
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
