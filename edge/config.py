"""The edge agent's configuration: one TOML file per site, closed (unknown keys are errors naming file and key).

```toml
[site]
id = "shop-a"                 # lower-case letters, digits, '-'; also the MQTT user name
name = "Shop A, 12 Market St"

[mqtt]
url = "mqtt://127.0.0.1:1883"
# username = "shop-a"         # default: the site id
password_file = "shop-a.password"   # or password = "..."; relative paths are relative to this file
keepalive = 30
max_inflight = 500            # the uplink's window of unacknowledged publishes (capped at the broker's receive maximum)
confirm = "central"           # delete a reading on central's `stored` confirmation; "broker": on the PUBACK
confirm_timeout = 120         # seconds a sent reading waits for its confirmation before it is sent again

[outbox]
path = "var/shop-a.outbox.db" # relative to this file
max_readings = 1000000
commit_interval_ms = 2        # group-commit window

[commands]
max_command_age = 300         # seconds: an older command (by its issued_at) is refused as "expired"

[access]
public_key = "base64..."      # central's Ed25519 public key for allow-lists; none: every list is refused
# path = "var/shop-a.access.db"   # default: {site id}.access.db beside the outbox
max_entries = 1000000         # a longer allow-list is refused
max_bytes = 99000000          # a larger command payload is refused before it is parsed

[[drivers]]
type = "contact_id"           # the rest of the table belongs to the driver

[log]
level = "INFO"
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from shaobing import topics
from shaobing.access_list import load_public_key
from shaobing.config import Closed, load_toml
from shaobing.errors import ConfigError


class SiteSection(Closed):
    id: str
    name: str = ""

    @field_validator("id")
    @classmethod
    def _valid_site_id(cls, value: str) -> str:
        if not topics.is_valid_site_id(value):
            raise ValueError(
                f"{value!r} is not a valid site id (lower-case letters, digits and '-', at most 63, not starting "
                "with '-')"
            )
        return value


class MqttSection(Closed):
    url: str = Field(pattern=r"^(mqtt|tcp)://[^/:]+(:\d+)?/?$")
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    max_inflight: int = Field(default=500, ge=1, le=65535)
    # The edge keeps a persistent session so that commands sent while it was offline still reach it.
    session_expiry: int = Field(default=3600, ge=0)
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    # "central": a reading leaves the outbox on central's `stored` confirmation (end to end); "broker": on the
    # broker's PUBACK, for a deployment whose central does not confirm.
    confirm: Literal["central", "broker"] = "central"
    confirm_timeout: float = Field(default=120.0, gt=0, le=1800)

    @model_validator(mode="after")
    def _one_password(self) -> MqttSection:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        return self


class OutboxSection(Closed):
    path: Path
    max_readings: int = Field(default=1_000_000, ge=1)
    commit_interval_ms: float = Field(default=2.0, ge=0, le=1000)


class CommandsSection(Closed):
    max_command_age: float = Field(default=300.0, gt=0)


class AccessSection(Closed):
    public_key: str | None = None
    path: Path | None = None
    max_entries: int = Field(default=1_000_000, ge=0)
    max_bytes: int = Field(default=99_000_000, ge=4096)

    @field_validator("public_key")
    @classmethod
    def _valid_public_key(cls, value: str | None) -> str | None:
        if value is not None:
            load_public_key(value)  # its ValueError names the problem
        return value


class LogSection(Closed):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class EdgeConfig(Closed):
    site: SiteSection
    mqtt: MqttSection
    outbox: OutboxSection
    commands: CommandsSection = Field(default_factory=CommandsSection)
    access: AccessSection = Field(default_factory=AccessSection)
    drivers: list[dict[str, Any]] = Field(default_factory=list)
    log: LogSection = Field(default_factory=LogSection)

    @property
    def username(self) -> str:
        return self.mqtt.username if self.mqtt.username is not None else self.site.id

    @property
    def access_path(self) -> Path:
        """The allow-list's file: `[access] path`, else `{site id}.access.db` beside the outbox."""
        if self.access.path is not None:
            return self.access.path
        return self.outbox.path.with_name(f"{self.site.id}.access.db")

    def password(self, source: str = "config") -> str | None:
        """The broker password, read from `password_file` when that is how it is given."""
        if self.mqtt.password_file is None:
            return self.mqtt.password
        try:
            return self.mqtt.password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"{source}: mqtt.password_file: cannot read {self.mqtt.password_file}: "
                              f"{exc.strerror}") from None


def load_edge_config(path: Path) -> EdgeConfig:
    """Read and check the file; relative paths in it are taken relative to the file's directory."""
    config = load_toml(path, EdgeConfig)
    base = path.parent
    mqtt = config.mqtt
    if mqtt.password_file is not None and not mqtt.password_file.is_absolute():
        mqtt = mqtt.model_copy(update={"password_file": base / mqtt.password_file})
    outbox = config.outbox
    if not outbox.path.is_absolute():
        outbox = outbox.model_copy(update={"path": base / outbox.path})
    access = config.access
    if access.path is not None and not access.path.is_absolute():
        access = access.model_copy(update={"path": base / access.path})
    return config.model_copy(update={"mqtt": mqtt, "outbox": outbox, "access": access})
