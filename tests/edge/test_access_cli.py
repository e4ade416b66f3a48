"""`shaobing access-key new`: a key pair whose halves belong together, printed as TOML lines to paste."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shaobing.access_list import AccessListRejected, load_private_key, load_public_key, sign, unsigned, verify


def new_pair() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "shaobing", "access-key", "new"], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[2], timeout=60)
    return tomllib.loads(done.stdout)


def test_a_new_key_pair_signs_lists_its_public_half_verifies() -> None:
    first, second = new_pair(), new_pair()
    assert set(first) == {"private_key", "public_key"}
    assert first["private_key"] != second["private_key"]
    args = sign(unsigned("shop-a", 1, [], issued_at="2026-11-24T12:00:00Z"), load_private_key(first["private_key"]))
    verify(args, load_public_key(first["public_key"]), site="shop-a")
    with pytest.raises(AccessListRejected, match="signature does not match"):
        verify(args, load_public_key(second["public_key"]), site="shop-a")
