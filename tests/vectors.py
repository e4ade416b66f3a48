"""Where the public conformance vectors are: tests/conformance in the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFORMANCE_DIR = Path(__file__).resolve().parent / "conformance"


def load_vectors(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CONFORMANCE_DIR / name).read_text(encoding="utf-8"))
    return document
