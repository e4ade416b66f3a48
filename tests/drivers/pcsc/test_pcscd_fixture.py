"""The PC/SC tests fail, naming what to install, on a machine without pcscd or vpcd; they never skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from firmware_sim.vcard import pcscd as private

from tests.drivers.pcsc import pcscd


def test_without_vpcd_the_tests_fail_naming_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(private, "VPCD_DRIVER", Path("/nonexistent/libifdvpcd.so"))
    with pytest.raises(pytest.fail.Exception, match=r"vpcd .* is not installed: apt-get install pcscd vsmartcard-vpcd"):
        pcscd.require_pcscd()


def test_without_pcscd_the_tests_fail_naming_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(private, "PCSCD", Path("/nonexistent/pcscd"))
    with pytest.raises(pytest.fail.Exception, match="pcscd is not installed: apt-get install pcscd"):
        pcscd.require_pcscd()
