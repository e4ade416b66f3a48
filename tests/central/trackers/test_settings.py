"""The [trackers] section and the owners' role in central's configuration, and the tracker cases of the alarm rules'
decision."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from central.config import load_central_config
from central.rules import PRIORITY_LIFE_SAFETY, PRIORITY_OTHER, decide
from central.rules_settings import RoleRecipients, RulesSettings
from central.trackers.policy import TrackerPolicy
from central.trackers.settings import TrackerSettings
from shaobing.envelope import Envelope, Kind
from shaobing.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_documents_every_tracker_setting() -> None:
    config = load_central_config(REPO / "configs" / "central.toml")
    assert config.trackers == TrackerSettings()  # the example shows the defaults
    shown = (REPO / "configs" / "central.toml").read_text(encoding="utf-8").split("[trackers]")[1].split("\n[")[0]
    assert {line.split("=")[0].strip() for line in shown.splitlines() if "=" in line and not line.startswith("#")} == (
        set(TrackerSettings.model_fields)
    )
    assert config.rules.recipients.owners == ["sms-gateway"]


def test_tracker_settings_are_closed_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trackers\.theft_meters: unknown key"):
        load_central_config(write(tmp_path, "[trackers]\ntheft_meters = 100\n"))
    with pytest.raises(ConfigError, match=r"trackers\.theft_fixes"):
        load_central_config(write(tmp_path, "[trackers]\ntheft_fixes = 0\n"))
    with pytest.raises(ConfigError, match=r"trackers\.duplicates"):
        load_central_config(write(tmp_path, '[trackers]\nduplicates = "ignore"\n'))
    config = load_central_config(write(tmp_path, "[trackers]\ntheft_distance_m = 150\nmax_hdop = 3.5\n"))
    assert (config.trackers.theft_distance_m, config.trackers.max_hdop, config.trackers.theft_fixes) == (150, 3.5, 2)


def test_the_owners_role_must_name_a_webhook_recipient(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sms-gateway"):
        load_central_config(write(tmp_path, '[rules.recipients]\nowners = ["sms-gateway"]\n'))
    with pytest.raises(ConfigError, match="must match"):
        load_central_config(write(tmp_path, '[rules.recipients]\nowners = ["sms gateway"]\n'))


def test_the_policy_takes_the_roles_and_the_escalation_time() -> None:
    rules = RulesSettings(escalate_after=90, recipients=RoleRecipients(security=["g"], police=["p"], owners=["s"]))
    policy = TrackerPolicy.of(rules, public_url="https://alarm.example.com/")
    assert (policy.security, policy.police, policy.owners, policy.escalate_after_s) == (("g",), ("p",), ("s",), 90)
    assert policy.bike_link("864717003664406") == "https://alarm.example.com/my/"  # no bike in the address


def tracker_alarm(alarm_class: str, **data: Any) -> Envelope:
    body = {"class": alarm_class, "source": "tracker", "zone": "864717003664406", "qualifier": "new", **data}
    return Envelope(site="gw-1", seq=1, device="864717003664406", kind=Kind.ALARM, ts=NOW, rx=NOW, priority=1,
                    data=body)


@pytest.mark.parametrize(
    ("alarm_class", "armed", "expected"),
    [
        ("power_cut", True, None),  # the theft rule's
        ("moving", True, None),
        ("displacement", True, None),
        ("power_cut", None, (PRIORITY_OTHER, ("security",), False)),  # unknown bike: fail safe, to the centre
        ("power_cut", False, None),
        ("vibration", True, (PRIORITY_OTHER, ("security",), False)),  # no 110 timer for a bumped bike
        ("vibration", False, None),
        ("sos", False, (PRIORITY_LIFE_SAFETY, ("security", "police"), False)),
        ("overspeed", True, (PRIORITY_OTHER, ("security",), False)),
    ],
)
def test_tracker_alarms_in_the_rules(
    alarm_class: str, armed: bool | None, expected: tuple[int, tuple[str, ...], bool] | None
) -> None:
    decision = decide(tracker_alarm(alarm_class), armed, RulesSettings())
    got = None if decision is None else (decision.priority, decision.roles, decision.timer)
    assert got == expected
    # a shop's vibration sensor is still a burglary-like alarm with the timer
    shop = Envelope(site="shop-1", seq=1, device="panel", kind=Kind.ALARM, ts=NOW, rx=NOW, priority=1,
                    data={"class": "vibration", "source": "contact_id", "zone": 3})
    shop_decision = decide(shop, True, RulesSettings())
    assert shop_decision is not None
    assert shop_decision.timer
