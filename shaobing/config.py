"""Typed, closed configuration: TOML files read into pydantic models where unknown keys are errors.

Every error names the file and the dotted key, e.g. `configs/shop.toml: outbox.max_readings: Input should be > 0`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from shaobing.errors import ConfigError


class Closed(BaseModel):
    """Base for configuration models: unknown keys are refused, values are not coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"{source}: {where}: {message}")
    return "\n".join(lines)


def validate_table(raw: Mapping[str, Any], model: type[ModelT], source: str) -> ModelT:
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_toml(path: Path, model: type[ModelT]) -> ModelT:
    return validate_table(read_toml(path), model, str(path))
