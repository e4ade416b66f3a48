"""DC-09 messages as contract readings, and as the flat description `shaobing decode dc09` prints.

SIA-DCS events are mapped by `sia_codes`, ADM-CID events by the Contact ID table shared with the serial Contact ID
driver, and NULL messages (link supervision) become a `test` reading of the `poll` kind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers.contact_id.events import contact_id_reading
from drivers.dc09.message import AdmCidEvent, Dc09Message, SiaData, SiaEvent
from drivers.dc09.payload import parse_adm_cid, parse_sia_dcs
from drivers.dc09.sia_codes import USER_ADDRESSED, VERIFIED, meaning_of
from shaobing.clock import format_ts
from shaobing.envelope import Kind, Reading
from shaobing.errors import FrameError

SOURCE = "dc09"


def sia_event_reading(event: SiaEvent, account: str) -> tuple[Kind, dict[str, Any]]:
    """Kind and data of one SIA-DCS event; a code this receiver does not know becomes a `status` with the code."""
    by_user = event.code in USER_ADDRESSED
    zone = None if by_user else event.address
    user = event.address if by_user else event.user
    common: dict[str, Any] = {"source": SOURCE, "partition": event.partition, "code": event.code, "account": account}
    meaning = meaning_of(event.code)
    data: dict[str, Any]
    if meaning is None:
        kind, data = Kind.STATUS, {**common, "zone": zone, "user": user, "known_code": False}
    elif meaning.kind in (Kind.ALARM, Kind.TROUBLE):
        kind, data = meaning.kind, {"class": meaning.label, **common, "zone": zone, "user": user,
                                    "qualifier": meaning.qualifier}
        if event.code in VERIFIED:
            data["verified"] = True
    elif meaning.kind is Kind.ARMING:
        kind, data = Kind.ARMING, {"state": meaning.label, "user": user, **common}
    elif meaning.kind is Kind.TEST:
        kind, data = Kind.TEST, {"test": meaning.label, **common, "zone": zone}
    elif meaning.label == "bypass":
        kind, data = Kind.STATUS, {"bypass": meaning.qualifier != "restore", **common, "zone": zone}
    else:
        kind, data = Kind.STATUS, {"status": meaning.label, **common, "zone": zone}
    if event.text is not None:
        data["text"] = event.text
    return kind, data


def adm_cid_reading(event: AdmCidEvent, account: str) -> tuple[Kind, dict[str, Any]]:
    return contact_id_reading(qualifier=event.qualifier, event_code=event.event_code, partition=event.partition,
                              zone_or_user=event.zone_or_user, source="adm_cid", account=account)


def poll_reading_data(account: str) -> dict[str, Any]:
    return {"source": SOURCE, "test": "poll", "account": account}


def _with_frame(error: FrameError, message: Dc09Message) -> FrameError:
    return FrameError(error.reason, message.raw)


def parse_content(message: Dc09Message) -> SiaData | AdmCidEvent | None:
    """The events of a decrypted message (None for NULL); FrameError("data: ...") when they cannot be read."""
    if not message.decrypted:
        raise FrameError("data: message is still encrypted", message.raw)
    try:
        if message.format == "SIA-DCS":
            return parse_sia_dcs(message.data)
        if message.format == "ADM-CID":
            return parse_adm_cid(message.data)
    except FrameError as exc:
        raise _with_frame(exc, message) from None
    return None


def kinds_and_data(message: Dc09Message) -> list[tuple[Kind, dict[str, Any]]]:
    content = parse_content(message)
    if isinstance(content, SiaData):
        results = [sia_event_reading(event, message.account) for event in content.events]
        if content.text is not None:
            for _, data in results:
                data.setdefault("text", content.text)
        return results
    if isinstance(content, AdmCidEvent):
        return [adm_cid_reading(content, message.account)]
    return [(Kind.TEST, poll_reading_data(message.account))]


def readings_of(message: Dc09Message, *, device: str, rx: datetime,
                extra: dict[str, Any] | None = None) -> list[Reading]:
    """The readings of one decrypted message, stamped with its own time when it carries one."""
    ts = message.timestamp or rx
    readings = []
    for kind, data in kinds_and_data(message):
        if message.x_data:
            data["x_data"] = list(message.x_data)
        if extra:
            data.update(extra)
        readings.append(Reading(device=device, kind=kind, data=data, ts=ts, rx=rx))
    return readings


def _event_fields(event: SiaEvent) -> dict[str, Any]:
    by_user = event.code in USER_ADDRESSED
    # `zone` is the event's address field as sent, whatever it numbers; `user` says when it is a user
    fields: dict[str, Any] = {"code": event.code, "zone": event.address, "partition": event.partition,
                              "user": event.address if by_user else event.user}
    if event.text is not None:
        fields["text"] = event.text
    return fields


def describe(message: Dc09Message) -> dict[str, Any]:
    """Flat, JSON-ready fields of a message: header, event fields, and the kind and data of its (first) reading."""
    out: dict[str, Any] = {
        "format": message.format,
        "account": message.account,
        "sequence": message.sequence,
        "receiver": message.receiver,
        "prefix": message.prefix,
        "encrypted": message.encrypted,
        "length_ok": message.length_ok,
        "timestamp": format_ts(message.timestamp) if message.timestamp else None,
    }
    if not message.decrypted:
        out.update(ciphertext=message.ciphertext, kind=None, data=None,
                   note="encrypted: the data can only be read with the account's key")
        return out
    out["payload"] = message.data
    if message.x_data:
        out["x_data"] = list(message.x_data)
    content = parse_content(message)
    if isinstance(content, AdmCidEvent):
        out.update(qualifier=content.qualifier, event_code=content.event_code, partition=content.partition,
                   zone_or_user=content.zone_or_user)
    elif isinstance(content, SiaData):
        events = [_event_fields(event) for event in content.events]
        first = events[0]
        out.update(code=first["code"], zone=first["zone"], partition=first["partition"], events=events)
        if content.text is not None:
            out["text"] = content.text
    kind, data = kinds_and_data(message)[0]
    out.update(kind=kind.value, data=data)
    return out
