"""The demo's configuration files, written as a person would write them (TOML), into its work folder."""

from __future__ import annotations

import json
from pathlib import Path


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML for the characters used here)."""
    return json.dumps(value, ensure_ascii=False)


def _site_header(workdir: Path, *, site: str, name: str, broker_url: str, password: str, comment: str) -> str:
    return f"""# {name}: {comment}
[site]
id = {_q(site)}
name = {_q(name)}

[mqtt]
url = {_q(broker_url)}
password = {_q(password)}

[outbox]
path = {_q(str(workdir / f"{site}-outbox.db"))}
"""


def shop_with_contact_id(workdir: Path, *, site: str, name: str, broker_url: str, password: str, port: str) -> Path:
    path = workdir / f"{site}.toml"
    header = _site_header(workdir, site=site, name=name, broker_url=broker_url, password=password,
                          comment="a Contact ID panel on a serial line")
    path.write_text(f"""{header}
[[drivers]]
type = "contact_id"
name = "panel"
port = {_q(port)}
reopen_delay = 0.5
""", encoding="utf-8")
    return path


def shop_with_dc09(workdir: Path, *, site: str, name: str, broker_url: str, password: str, listen: str,
                   account: str, key: str) -> Path:
    path = workdir / f"{site}.toml"
    header = _site_header(workdir, site=site, name=name, broker_url=broker_url, password=password,
                          comment="an IP dialler speaking SIA DC-09, encrypted")
    path.write_text(f"""{header}
[[drivers]]
type = "dc09"
name = "dialler"
listen = {_q(listen)}

[drivers.accounts.{_q(account)}]
key = {_q(key)}
name = {_q(name)}
""", encoding="utf-8")
    return path


def central(workdir: Path, *, broker_url: str, password: str, http: str, tokens: dict[str, tuple[str, str]],
            escalate_after: float, recipients: dict[str, tuple[str, str]]) -> Path:
    """`tokens`: token -> (name, role); `recipients`: name -> (url, secret)."""
    path = workdir / "central.toml"
    token_tables = "".join(
        f"\n[[api.tokens]]\ntoken = {_q(token)}\nname = {_q(name)}\nrole = {_q(role)}\n"
        for token, (name, role) in tokens.items()
    )
    recipient_tables = "".join(
        f"\n[[webhooks.recipients]]\nname = {_q(name)}\nurl = {_q(url)}\nsecret = {_q(secret)}\n"
        for name, (url, secret) in recipients.items()
    )
    path.write_text(f"""# central for the demo: SQLite in the work folder, a short acknowledgement time
[mqtt]
url = {_q(broker_url)}
username = "_central-1"
password = {_q(password)}

[database]
url = {_q("sqlite:///" + str(workdir / "central.db"))}

[http]
listen = {_q(http)}

[ingest]
client_id = "central-1"

[rules]
escalate_after = {escalate_after}

[rules.recipients]
security = ["guards"]
police = ["police-110"]
fire = ["guards", "police-110"]
medical = ["guards"]

[webhooks]
backoff_initial_s = 0.5
backoff_max_s = 5.0
{recipient_tables}{token_tables}""", encoding="utf-8")
    return path
