"""`shaobing sim panel`: a simulated alarm panel driven from the command line.

Events are written `CODE[:NUMBER[:QUALIFIER]]`: for contact-id `130:3` (burglary, zone 3) or `401:7:restore`
(closed by user 7); for dc09 SIA codes such as `BA:3` or `CL:7`, or Contact ID codes (`130:3`) sent as ADM-CID.
With no events, the panel plays its demo evening.
"""

from __future__ import annotations

import logging
import sys

from drivers.contact_id.codec import ContactIdMessage
from firmware_sim import contact_id_panel, dc09_dialler

QUALIFIERS = {"new", "restore", "repeat"}


def _split(text: str) -> tuple[str, int, str]:
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not parts[0]:
        raise ValueError(f"event {text!r}: write CODE[:NUMBER[:QUALIFIER]], e.g. 130:3 or BA:3")
    try:
        number = int(parts[1]) if len(parts) > 1 and parts[1] else 1
    except ValueError:
        raise ValueError(f"event {text!r}: the number after the code must be an integer") from None
    qualifier = parts[2] if len(parts) > 2 else "new"
    if qualifier not in QUALIFIERS:
        raise ValueError(f"event {text!r}: qualifier must be one of {sorted(QUALIFIERS)}")
    return parts[0], number, qualifier


def contact_id_events(texts: list[str], account: str) -> list[ContactIdMessage]:
    events = []
    for text in texts:
        code, number, qualifier = _split(text)
        if not code.isdigit():
            raise ValueError(f"event {text!r}: a Contact ID code is three digits, e.g. 130")
        events.append(contact_id_panel.ContactIdPanel.event(account, int(code), qualifier, zone_or_user=number))
    return events


def dc09_events(texts: list[str], account: str) -> list[dc09_dialler.Dc09Event]:
    events = []
    for text in texts:
        code, number, qualifier = _split(text)
        if code.isdigit():
            events.append(dc09_dialler.cid_event(int(code), qualifier, 1, number, account=account))
        elif len(code) == 2 and code.isalpha():
            events.append(dc09_dialler.sia_event(code.upper(), number, account=account))
        else:
            raise ValueError(f"event {text!r}: a SIA code is two letters (BA), a Contact ID code three digits")
    return events


async def run_panel_cli(*, protocol: str, port: str | None, connect: str | None, account: str, key: str | None,
                        events: list[str], poll: float) -> int:
    """Run the panel until its events are acknowledged (and, with polls, until interrupted); 0 when all were."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    log = logging.getLogger("shaobing.sim.panel")
    if protocol == "contact-id":
        script_cid = contact_id_events(events, account) if events else contact_id_panel.demo_script(account)

        def announce(path: str) -> None:
            print(f"panel serial line: {path} (point the edge's contact_id driver at it)", file=sys.stderr)

        results = await contact_id_panel.run_panel(port, script_cid, on_ready=announce, log=log)
    elif protocol == "dc09":
        if not connect:
            raise ValueError("--connect HOST:PORT is needed for dc09")
        script_dc09 = dc09_events(events, account) if events else dc09_dialler.demo_script(account)
        results = await dc09_dialler.run_panel(connect, script_dc09, account=account, key=key,
                                               poll_every=poll or None, log=log)
    else:
        raise ValueError(f"unknown panel protocol {protocol!r}: contact-id or dc09")
    return 0 if all(results) else 1
