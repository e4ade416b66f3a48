"""The demo's configuration files, written as a person would write them (TOML), into its work folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


def _q(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML for the characters used here)."""
    return json.dumps(value, ensure_ascii=False)


def _write_site(workdir: Path, *, site: str, name: str, broker_url: str, password: str, comment: str,
                body: str) -> Path:
    """The site's file `{site}.toml` in the work folder: site, broker and outbox, then `body` (its drivers)."""
    path = workdir / f"{site}.toml"
    path.write_text(_site_header(workdir, site=site, name=name, broker_url=broker_url, password=password,
                                 comment=comment) + body, encoding="utf-8")
    return path


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
    return _write_site(workdir, site=site, name=name, broker_url=broker_url, password=password,
                       comment="a Contact ID panel on a serial line",
                       body=f"""
[[drivers]]
type = "contact_id"
name = "panel"
port = {_q(port)}
reopen_delay = 0.5
""")


def shop_with_dc09(workdir: Path, *, site: str, name: str, broker_url: str, password: str, listen: str,
                   account: str, key: str) -> Path:
    return _write_site(workdir, site=site, name=name, broker_url=broker_url, password=password,
                       comment="an IP dialler speaking SIA DC-09, encrypted",
                       body=f"""
[[drivers]]
type = "dc09"
name = "dialler"
listen = {_q(listen)}

[drivers.accounts.{_q(account)}]
key = {_q(key)}
name = {_q(name)}
""")


def tracker_gateway(workdir: Path, *, site: str, name: str, broker_url: str, password: str, listen: str) -> Path:
    return _write_site(workdir, site=site, name=name, broker_url=broker_url, password=password,
                       comment="a tracker gateway: the GT06 server e-bike trackers dial into",
                       body=f"""
[[drivers]]
type = "gt06"
name = "gt06"
listen = {_q(listen)}
""")


@dataclass(frozen=True)
class People:
    """Central's `[people]` settings for the demo: the keys, the mines' headcount limits and the key-person times."""

    watchlist_key: str
    access_list_key: str
    underground_limits: dict[str, int] = field(default_factory=dict)
    key_person_absent_s: float = 43_200.0
    check_every_s: float = 60.0

    def toml(self) -> str:
        limits = ", ".join(f"{_q(site)} = {limit}" for site, limit in self.underground_limits.items())
        return f"""
[people]
watchlist_key = {_q(self.watchlist_key)}
access_list_key = {_q(self.access_list_key)}
underground_limits = {{ {limits} }}
key_person_absent_s = {self.key_person_absent_s}
check_every_s = {self.check_every_s}
"""


@dataclass(frozen=True)
class ConsoleUser:
    login: str
    name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class PlanStep:
    key: str
    text: str
    text_en: str


@dataclass(frozen=True)
class PlanCall:
    name: str
    phone: str
    note: str | None = None


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlanStep, ...]
    calls: tuple[PlanCall, ...] = ()


def _inline(fields: dict[str, str | None]) -> str:
    return "{ " + ", ".join(f"{key} = {_q(value)}" for key, value in fields.items() if value is not None) + " }"


@dataclass(frozen=True)
class Console:
    """Central's `[console]` for the demo: who logs in, and the action plans by alarm class."""

    users: tuple[ConsoleUser, ...]
    plans: dict[str, Plan]
    ack_sla_s: dict[str, float] = field(default_factory=lambda: {"1": 30.0, "2": 60.0, "3": 90.0})

    def toml(self) -> str:
        sla = ", ".join(f"{_q(priority)} = {seconds}" for priority, seconds in self.ack_sla_s.items())
        users = "".join(
            f"\n[[console.users]]\nlogin = {_q(u.login)}\nname = {_q(u.name)}\nrole = {_q(u.role)}\n"
            f"password_hash = {_q(u.password_hash)}\n" for u in self.users)
        plans = "".join(
            f"\n[console.plans.{_q(alarm_class)}]\nsteps = [\n"
            + "".join(f"  {_inline({'key': s.key, 'text': s.text, 'text_en': s.text_en})},\n" for s in plan.steps)
            + "]\ncalls = [\n"
            + "".join(f"  {_inline({'name': c.name, 'phone': c.phone, 'note': c.note})},\n" for c in plan.calls)
            + "]\n"
            for alarm_class, plan in self.plans.items())
        return f"""
[console]
ack_sla_s = {{ {sla} }}
default_language = "zh-CN"   # no [console.tiles]: the maps show positions and tracks without tiles
{users}{plans}"""


def _access(public_key: str) -> str:
    return f"""
[access]
public_key = {_q(public_key)}   # central's allow-list key: only lists central signed open these doors
"""


def _osdp(*, name: str, port: str, scbk: str, door: str, unlock_seconds: float = 3.0,
          held_open_after: float = 30.0) -> str:
    return f"""
[[drivers]]
type = "osdp"
name = {_q(name)}
port = {_q(port)}
scbk = {_q(scbk)}
door = {_q(door)}
unlock_seconds = {unlock_seconds}
held_open_after = {held_open_after}
reconnect_delay = 0.5
"""


def rental_building(workdir: Path, *, site: str, name: str, broker_url: str, password: str, public_key: str,
                    idcard_port: str, door_port: str, scbk: str, door: str, held_open_after: float) -> Path:
    door_reader = _osdp(name="front-door-reader", port=door_port, scbk=scbk, door=door,
                        held_open_after=held_open_after)
    return _write_site(workdir, site=site, name=name, broker_url=broker_url, password=password,
                       comment="the ID card reader at the service point and the front door's OSDP reader",
                       body=f"""{_access(public_key)}
[[drivers]]
type = "idcard"
name = "counter-idcard"
port = {_q(idcard_port)}
reader = "counter"
service_point = "service-point-1"
poll_interval = 0.2
photo = "hash"
{door_reader}""")


def mine_community(workdir: Path, *, site: str, name: str, broker_url: str, password: str, public_key: str,
                   in_port: str, scbk: str, out_port: str | None, out_pcsc_reader: str | None) -> Path:
    """Pithead in: an OSDP gate reader; pithead out: a PC/SC reader when `out_pcsc_reader`, else OSDP on `out_port`."""
    gate_in = _osdp(name="pithead-in-reader", port=in_port, scbk=scbk, door="pithead-in")
    if out_pcsc_reader is not None:
        gate_out = f"""
[[drivers]]
type = "pcsc"
name = "pithead-out-reader"
reader = {_q(out_pcsc_reader)}
door = "pithead-out"
poll_interval = 0.2
retry_min = 0.2
retry_max = 2.0
"""
    elif out_port is not None:
        gate_out = _osdp(name="pithead-out-reader", port=out_port, scbk=scbk, door="pithead-out")
    else:
        raise ValueError("pithead out needs a PC/SC reader or an OSDP port")
    return _write_site(workdir, site=site, name=name, broker_url=broker_url, password=password,
                       comment="the pithead's readers: miners tap in going down and out coming up",
                       body=f"{_access(public_key)}{gate_in}{gate_out}")


def central(workdir: Path, *, broker_url: str, password: str, http: str, tokens: dict[str, tuple[str, str]],
            escalate_after: float, recipients: dict[str, tuple[str, str]], people: People | None = None,
            console: Console | None = None) -> Path:
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
owners = ["sms-gateway"]

[webhooks]
backoff_initial_s = 0.5
backoff_max_s = 5.0
{recipient_tables}{token_tables}{people.toml() if people else ""}{console.toml() if console else ""}""",
                    encoding="utf-8")
    return path
