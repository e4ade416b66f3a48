"""Central's configuration file, composed from the settings of its parts; flags override the file.

```toml
[mqtt]        url, username, password | password_file, keepalive
[database]    url = "sqlite:///var/central.db" | "postgresql://user@host/db"
[http]        listen = "127.0.0.1:8640", public_url (share links)
[api]         max_body_bytes, command_timeout_s
[[api.tokens]] token, name, role (viewer | operator | supervisor | admin | police)
[ingest]      batching and the MQTT session (central.ingest_settings)
[rules]       escalation time, recipients per role (owners: the SMS gateway), 24-hour zones (central.rules_settings)
[owners]      e-bike owners: sessions, login brake, share links (central.api.owner_auth)
[trackers]    e-bike trackers: the theft rule, position filters (central.trackers.settings)
[people]      watch-list key, allow-list signing key, underground limits, key persons (central.people.settings)
[webhooks]    [[webhooks.recipients]] name, url, secret; retry backoff (central.webhooks.sender)
[supervision] expected test / poll interval per site (central.supervision)
[log]         level
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from central.api.owner_auth import OwnersSettings
from central.console.settings import ConsoleSettings
from central.ingest_settings import IngestSettings
from central.people.settings import PeopleSettings
from central.rules_settings import RulesSettings, unknown_recipients
from central.supervision import SupervisionSettings
from central.trackers.settings import TrackerSettings
from central.webhooks.sender import WebhookSettings
from shaobing.config import Closed, read_toml, validate_table
from shaobing.errors import ConfigError
from shaobing.net import split_host_port


class MqttSection(Closed):
    url: str = Field(default="mqtt://127.0.0.1:1883", pattern=r"^(mqtt|tcp)://[^/:]+(:\d+)?/?$")
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None
    keepalive: int = Field(default=30, ge=5, le=3600)
    reconnect_min: float = Field(default=0.5, gt=0)  # reconnect backoff with full jitter between these (seconds)
    reconnect_max: float = Field(default=10.0, gt=0)

    def secret(self, source: str) -> str | None:
        if self.password_file is None:
            return self.password
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{source}: mqtt.password_file: {error}") from None


class DatabaseSection(Closed):
    url: str = "sqlite:///var/central.db"


class HttpSection(Closed):
    listen: str = "127.0.0.1:8640"
    # The address people outside reach this API at (share links for the police); default: http://{listen}.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.listen}").rstrip("/")

    @model_validator(mode="after")
    def _host_port(self) -> HttpSection:
        split_host_port(self.listen)
        return self


class ApiToken(Closed):
    token: str = Field(min_length=16, max_length=512)
    name: str = Field(min_length=1, max_length=128)
    role: Literal["viewer", "operator", "supervisor", "admin", "police"]


class ApiSection(Closed):
    tokens: list[ApiToken] = Field(default_factory=list)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # How long POST /api/sites/{site}/commands waits for the broker to take a command before answering 504.
    command_timeout_s: float = Field(default=5.0, gt=0, le=60)


class LogSection(Closed):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class CentralConfig(Closed):
    mqtt: MqttSection = Field(default_factory=MqttSection)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    http: HttpSection = Field(default_factory=HttpSection)
    api: ApiSection = Field(default_factory=ApiSection)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    supervision: SupervisionSettings = Field(default_factory=SupervisionSettings)
    trackers: TrackerSettings = Field(default_factory=TrackerSettings)
    owners: OwnersSettings = Field(default_factory=OwnersSettings)
    people: PeopleSettings = Field(default_factory=PeopleSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    log: LogSection = Field(default_factory=LogSection)

    @model_validator(mode="after")
    def _recipients_exist(self) -> CentralConfig:
        missing = unknown_recipients(self.rules, {r.name for r in self.webhooks.recipients})
        if missing:
            raise ValueError(f"rules.recipients names {sorted(missing)} with no [[webhooks.recipients]] entry")
        return self


def load_central_config(
    path: Path, *, broker: str | None = None, db: str | None = None, http: str | None = None,
    api_token: str | None = None,
) -> CentralConfig:
    """Read the file, then apply the command-line overrides (which are checked like the file)."""
    raw = read_toml(path)
    if broker is not None:
        raw.setdefault("mqtt", {})["url"] = broker
    if db is not None:
        raw.setdefault("database", {})["url"] = db
    if http is not None:
        raw.setdefault("http", {})["listen"] = http
    if api_token is not None:
        tokens = raw.setdefault("api", {}).setdefault("tokens", [])
        tokens.append({"token": api_token, "name": "admin", "role": "admin"})
    return validate_table(raw, CentralConfig, str(path))
