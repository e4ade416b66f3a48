"""Contact ID event codes (SIA DC-05) mapped to the contract's reading kinds and data, no I/O.

Shared by the serial Contact ID driver and the DC-09 driver (ADM-CID messages carry the same codes), so both report an
event the same way. The qualifier says what happened to the event: "new" (an alarm, or an opening for 4xx codes),
"restore" (alarm restored, or a closing), "repeat" (previously reported, still present).
"""

from __future__ import annotations

from typing import Any, Final

from shaobing.envelope import Kind

# 1xx: the alarm's class and, where DC-05 names it more finely, a detail.
_MEDICAL: Final[dict[int, str]] = {101: "personal_emergency", 102: "fail_to_report_in"}
_FIRE: Final[dict[int, str]] = {
    111: "smoke", 112: "combustion", 113: "water_flow", 114: "heat", 115: "pull_station", 116: "duct", 117: "flame",
    118: "near_alarm",
}
_PANIC: Final[dict[int, tuple[str, str | None]]] = {
    120: ("panic", None), 121: ("duress", None), 122: ("panic", "silent"), 123: ("panic", "audible"),
    124: ("duress", "access_granted"), 125: ("duress", "egress_granted"), 126: ("panic", "hold_up_suspicion"),
}
# 139: a second detector (the verifier) confirmed the intrusion: the panel itself says the alarm is real.
INTRUSION_VERIFIED: Final = 139
# alarm codes whose CCC field is a user number, not a zone (DC-05 appendix C)
_BY_USER: Final = frozenset({121, 126})
_BURGLARY: Final[dict[int, str | None]] = {
    129: "verifier", 130: None, 131: "perimeter", 132: "interior", 133: "24h", 134: "entry_exit", 135: "day_night",
    136: "outdoor", 138: "near_alarm", 139: "verifier",
}
_GENERAL: Final[dict[int, str]] = {
    141: "polling_loop_open", 142: "polling_loop_short", 143: "expansion_module_failure", 144: "sensor_tamper",
    145: "expansion_module_tamper", 146: "silent_burglary", 147: "sensor_supervision_failure",
}
_NON_BURGLARY: Final[dict[int, str]] = {
    150: "non_burglary", 151: "gas", 152: "refrigeration", 153: "loss_of_heat", 154: "water", 155: "foil_break",
    156: "day_trouble", 157: "low_bottled_gas", 158: "high_temp", 159: "low_temp", 161: "loss_of_air_flow",
    162: "carbon_monoxide", 163: "tank_level",
}

# 3xx: the trouble's class and detail.
_TROUBLE: Final[dict[int, tuple[str, str | None]]] = {
    300: ("system", None), 301: ("ac_loss", None), 302: ("low_battery", None), 303: ("system", "ram_checksum"),
    304: ("system", "rom_checksum"), 305: ("reset", None), 306: ("system", "programming_changed"),
    307: ("system", "self_test_fail"), 308: ("system", "shutdown"), 309: ("battery_test_fail", None),
    310: ("system", "ground_fault"), 311: ("battery_missing", None), 312: ("system", "power_supply_overcurrent"),
    313: ("reset", "engineer"),
    320: ("bell", "sounder_relay"), 321: ("bell", "bell_1"), 322: ("bell", "bell_2"), 323: ("bell", "alarm_relay"),
    324: ("bell", "trouble_relay"), 325: ("bell", "reversing_relay"),
    333: ("peripheral", "expansion_module_failure"), 337: ("peripheral", "expansion_module_dc_loss"),
    338: ("low_battery", "expansion_module"), 341: ("tamper", "expansion_module"),
    342: ("ac_loss", "expansion_module"), 344: ("rf_jam", None),
    351: ("comm_fail", "telco_1"), 352: ("comm_fail", "telco_2"), 353: ("comm_fail", "long_range_radio"),
    354: ("comm_fail", "fail_to_communicate"), 355: ("comm_fail", "radio_supervision"),
    356: ("comm_fail", "central_polling"),
    371: ("protection_loop", "open"), 372: ("protection_loop", "short"), 373: ("fire_trouble", None),
    381: ("sensor", "rf_supervision_loss"), 382: ("sensor", "rpm_supervision_loss"), 383: ("tamper", "sensor"),
    384: ("low_battery", "rf_sensor"), 389: ("sensor", "self_test_fail"),
}

# 4xx openings and closings: the detail of each code that changes (or reports) the armed state.
_OPEN_CLOSE: Final[dict[int, str | None]] = {
    400: None, 401: "user", 402: "group", 403: "automatic", 404: "late", 405: "deferred", 406: "cancel",
    407: "remote", 408: "quick_arm", 409: "keyswitch", 441: "stay", 442: "keyswitch_stay", 450: "exception",
    451: "early", 452: "late", 453: "failed_to_open", 454: "failed_to_close", 455: "auto_arm_failed", 456: "partial",
    457: "exit_error", 458: "user_on_premises", 459: "recent_close",
}
# these report that the state did NOT change as scheduled, so they carry no state of their own
_NO_STATE_CHANGE: Final = frozenset({453, 454, 455})

_TESTS: Final[dict[int, str]] = {601: "manual", 602: "periodic", 603: "rf_periodic", 608: "periodic"}


def _alarm_class(code: int) -> tuple[str, str | None, bool]:
    """(class, detail, is 24-hour) of a 1xx alarm code."""
    if 100 <= code <= 109:
        return "medical", _MEDICAL.get(code), True
    if 110 <= code <= 119:
        return "fire", _FIRE.get(code), True
    if code in _PANIC:
        cls, detail = _PANIC[code]
        return cls, detail, True
    if code == 137:
        return "tamper", None, False
    if code in _BURGLARY:
        return "burglary", _BURGLARY[code], code == 133
    if code == 146:
        return "burglary", _GENERAL[code], False
    if code == 144:
        return "tamper", _GENERAL[code], False
    if 140 <= code <= 149:
        return "alarm", _GENERAL.get(code), False
    if 150 <= code <= 169:
        return _NON_BURGLARY.get(code, "non_burglary"), None, True
    # an unlisted 1xx code is still an alarm: better a generic alarm than a dropped one
    return "alarm", None, False


def _trouble_class(code: int) -> tuple[str, str | None]:
    if code in _TROUBLE:
        return _TROUBLE[code]
    if 320 <= code <= 329:
        return "bell", None
    if 330 <= code <= 343:
        return "peripheral", None
    if 350 <= code <= 359:
        return "comm_fail", None
    if 370 <= code <= 379:
        return "protection_loop", None
    if 380 <= code <= 399:
        return "sensor", None
    return "system", None


def contact_id_reading(*, qualifier: str, event_code: int, partition: int, zone_or_user: int, source: str,
                       account: str) -> tuple[Kind, dict[str, Any]]:
    """The reading kind and data for one Contact ID event. `source` is "contact_id" or "adm_cid"."""
    common: dict[str, Any] = {"source": source, "partition": partition, "qualifier": qualifier, "code": event_code,
                              "account": account}
    if 100 <= event_code <= 199:
        cls, detail, is_24h = _alarm_class(event_code)
        by_user = event_code in _BY_USER
        data = {"class": cls, **common, "zone": None if by_user else zone_or_user,
                "user": zone_or_user if by_user else None, "24h": is_24h}
        if detail is not None:
            data["detail"] = detail
        if detail in ("silent", "silent_burglary"):
            data["silent"] = True
        if event_code == INTRUSION_VERIFIED:
            data["verified"] = True
        return Kind.ALARM, data
    if 300 <= event_code <= 399:
        cls, detail = _trouble_class(event_code)
        data = {"class": cls, **common, "zone": zone_or_user, "user": None}
        if detail is not None:
            data["detail"] = detail
        return Kind.TROUBLE, data
    if event_code in _OPEN_CLOSE:
        state: str | None = {"new": "disarmed", "restore": "armed"}.get(qualifier)
        if event_code in _NO_STATE_CHANGE:
            state = None
        data = {"state": state, "user": zone_or_user, **common}
        detail = _OPEN_CLOSE[event_code]
        if detail is not None:
            data["detail"] = detail
        if event_code == 406:
            data["cancel"] = True
        return Kind.ARMING, data
    if 570 <= event_code <= 579:
        return Kind.STATUS, {"bypass": qualifier != "restore", **common, "zone": zone_or_user}
    if event_code in _TESTS:
        data = {"test": _TESTS[event_code], **common, "zone_or_user": zone_or_user}
        if event_code == 608:
            data["trouble_present"] = True
        return Kind.TEST, data
    return Kind.STATUS, {**common, "zone_or_user": zone_or_user}
