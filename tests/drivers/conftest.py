"""Fixtures of the driver tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from firmware_sim.pty_pair import PtyPair


@pytest.fixture
def pair() -> Iterator[PtyPair]:
    """A pseudo-terminal: the driver opens its slave end, the test writes and reads its master end."""
    with PtyPair() as created:
        yield created
