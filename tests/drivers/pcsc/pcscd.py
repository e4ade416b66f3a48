"""The test's own pcscd: `firmware_sim.vcard.pcscd.Pcscd`, started until it lists the virtual reader.

The client library reads PCSCLITE_CSOCK_NAME once per process, so one socket directory serves every pcscd of a test
session (the `pcsc_run_dir` fixture of `tests/conftest.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from firmware_sim.vcard import pcscd as private
from firmware_sim.vcard.pcscd import READER, free_port_pair

__all__ = ["READER", "Pcscd", "free_port_pair", "require_pcscd"]

INSTALL_HINT = "apt-get install pcscd vsmartcard-vpcd libpcsclite-dev swig (setup.sh installs them)"


def require_pcscd() -> None:
    """Fail (never skip) with what to install when this machine cannot run the PC/SC tests."""
    missing = private.not_installed()
    if missing is not None:
        pytest.fail(f"{missing}: {INSTALL_HINT}", pytrace=False)
    if private.unavailable() is not None:
        pytest.fail("the PC/SC tests run pcscd in a private mount namespace: they need root and unshare(1)",
                    pytrace=False)


class Pcscd(private.Pcscd):
    def start(self, within: float = 10.0, ready: Callable[[], bool] | None = None) -> None:
        """Start pcscd and wait until it lists the virtual reader (or until `ready()`)."""
        require_pcscd()
        try:
            super().start(within, ready if ready is not None else self._lists_reader)
        except private.PcscdFailed as failure:
            raise RuntimeError(f"{failure} (listing {READER!r}): {self.log()}") from None

    def _lists_reader(self) -> bool:
        from smartcard import scard

        if not self.socket_path.exists():
            return False
        code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if code != scard.SCARD_S_SUCCESS:
            return False
        try:
            code, names = scard.SCardListReaders(context, [])
            return code == scard.SCARD_S_SUCCESS and READER in names
        finally:
            scard.SCardReleaseContext(context)
