"""SIA event codes (the two letters of a SIA-DCS event) and what they mean in the reading contract.

Each code maps to a reading kind, a label (the `class` of an alarm or trouble, the `state` of an arming change, the
kind of test, or the status name) and a qualifier (`new` or `restore`). A code not listed here is still delivered, as
a `status` reading carrying the code, so nothing a panel says is lost.
"""

from __future__ import annotations

from typing import NamedTuple

from shaobing.envelope import Kind


class SiaMeaning(NamedTuple):
    kind: Kind
    label: str
    qualifier: str


def _pair(alarm: str, restore: str, kind: Kind, label: str) -> dict[str, SiaMeaning]:
    return {alarm: SiaMeaning(kind, label, "new"), restore: SiaMeaning(kind, label, "restore")}


SIA_CODES: dict[str, SiaMeaning] = {
    **_pair("BA", "BR", Kind.ALARM, "burglary"),
    **_pair("BT", "BJ", Kind.TROUBLE, "zone_trouble"),
    **_pair("BB", "BU", Kind.STATUS, "bypass"),
    **_pair("PA", "PR", Kind.ALARM, "panic"),
    **_pair("HA", "HR", Kind.ALARM, "holdup"),
    **_pair("FA", "FR", Kind.ALARM, "fire"),
    **_pair("FT", "FJ", Kind.TROUBLE, "fire_trouble"),
    **_pair("MA", "MR", Kind.ALARM, "medical"),
    **_pair("QA", "QR", Kind.ALARM, "medical"),
    **_pair("TA", "TR", Kind.ALARM, "tamper"),
    **_pair("GA", "GR", Kind.ALARM, "gas"),
    **_pair("WA", "WR", Kind.ALARM, "water"),
    **_pair("KA", "KR", Kind.ALARM, "heat"),
    **_pair("AT", "AR", Kind.TROUBLE, "ac_loss"),
    **_pair("YT", "YR", Kind.TROUBLE, "low_battery"),
    **_pair("XT", "XR", Kind.TROUBLE, "low_battery"),
    **_pair("YC", "YK", Kind.TROUBLE, "comm_fail"),
    **_pair("LT", "LR", Kind.TROUBLE, "comm_fail"),
    **_pair("ES", "EJ", Kind.TROUBLE, "tamper"),
    **{code: SiaMeaning(Kind.ARMING, "armed", "new") for code in ("CL", "CG", "CA", "CS", "CR")},
    **{code: SiaMeaning(Kind.ARMING, "disarmed", "new") for code in ("OP", "OG", "OA", "OS", "OR")},
    **_pair("UA", "UR", Kind.ALARM, "alarm"),  # untyped zone alarm
    **_pair("SA", "SR", Kind.ALARM, "fire"),  # sprinkler
    **_pair("DF", "DR", Kind.ALARM, "forced_door"),  # door forced / door restored
    "BV": SiaMeaning(Kind.ALARM, "burglary", "new"),  # verified burglary (see VERIFIED)
    "BG": SiaMeaning(Kind.ALARM, "burglary", "new"),  # unverified event: burglary
    "RP": SiaMeaning(Kind.TEST, "automatic", "new"),
    "RX": SiaMeaning(Kind.TEST, "manual", "new"),
    "RR": SiaMeaning(Kind.STATUS, "power_up", "new"),
}

# For these codes the event's number is a user (who armed or disarmed), not a zone.
USER_ADDRESSED = frozenset({"CL", "CG", "CA", "CS", "CR", "OP", "OG", "OA", "OS", "OR"})


# Codes by which the panel itself says the alarm was confirmed (a second detector, a verified sequence).
VERIFIED = frozenset({"BV"})

# SIA's own convention for the second letter of codes this table does not list: an unknown alarm is still an alarm
# (never demoted to a status that dispatches nothing), an unknown trouble still opens a ticket.
_SECOND_LETTER: dict[str, SiaMeaning] = {
    "A": SiaMeaning(Kind.ALARM, "alarm", "new"),
    "H": SiaMeaning(Kind.ALARM, "alarm", "restore"),
    "T": SiaMeaning(Kind.TROUBLE, "trouble", "new"),
    "J": SiaMeaning(Kind.TROUBLE, "trouble", "restore"),
}


def meaning_of(code: str) -> SiaMeaning | None:
    """The meaning of a two-letter SIA event code, or None when neither the table nor SIA's letter convention
    gives one (the reading is then a `status` carrying the code)."""
    return SIA_CODES.get(code) or (_SECOND_LETTER.get(code[1:2]) if len(code) == 2 else None)
