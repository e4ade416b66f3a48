"""The DC-09 receiver's configuration table (closed: unknown keys are errors)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from drivers.dc09.crypto import parse_key
from shaobing.config import Closed
from shaobing.net import listen_address

_ACCOUNT = re.compile(r"[0-9A-Fa-f]{3,16}")

Seconds = Annotated[float, Field(ge=0, le=86_400)]


class AccountOptions(Closed):
    key: str | None = None
    """AES key as 32, 48 or 64 hex digits; with a key the account is accepted only encrypted."""
    name: str | None = None

    @field_validator("key")
    @classmethod
    def _key_is_hex(cls, value: str | None) -> str | None:
        if value is not None:
            parse_key(value)
        return value

    @property
    def key_bytes(self) -> bytes | None:
        return parse_key(self.key) if self.key is not None else None


class Dc09Options(Closed):
    name: str = Field(default="dc09", min_length=1)
    listen: str = "0.0.0.0:9000"
    accounts: dict[str, AccountOptions] = Field(default_factory=dict)
    accept_any_account: bool = False
    """With no accounts configured, accept every account, unencrypted. Off by default: a receiver on a network port
    must not take arming and alarm reports from whoever connects; say so explicitly (tests, a closed network)."""
    timestamp_window: tuple[Seconds, Seconds] = (40.0, 20.0)
    """How far (seconds) a message's timestamp may lie in the past and in the future of the receiver's clock."""
    strict_length: bool = False
    idle_timeout: float = Field(default=120.0, gt=0)
    max_connections: int = Field(default=256, gt=0)
    max_frame: int = Field(default=1024, ge=64, le=65_536)

    @field_validator("accounts")
    @classmethod
    def _accounts_are_hex(cls, value: dict[str, AccountOptions]) -> dict[str, AccountOptions]:
        for account in value:
            if not _ACCOUNT.fullmatch(account):
                raise ValueError(f"account {account!r} must be 3-16 hex digits")
        upper = [account.upper() for account in value]
        if len(set(upper)) != len(upper):
            raise ValueError("accounts differ only in letter case")
        return value

    @model_validator(mode="after")
    def _listen_is_host_port(self) -> Dc09Options:
        self.host_port()
        if not self.accounts and not self.accept_any_account:
            raise ValueError("no [accounts] configured: list the panels' accounts (with their AES keys), "
                             "or set accept_any_account = true to take any account unencrypted")
        if self.accounts and self.accept_any_account:
            raise ValueError("accept_any_account = true and [accounts] together: choose one")
        return self

    def host_port(self) -> tuple[str, int]:
        return listen_address(self.listen)
