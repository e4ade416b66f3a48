"""`python -m edge.access.child`: the child process that parses a long command payload and applies its allow-list.

stdin: one line of JSON `{"path", "site", "public_key", "max_entries", "seen", "applied_at"}`, then the payload to
its end. stdout: one line of JSON `{"cmd_id", "result"}` (`result` null or `{"ok", "reason", "detail"}`), the
`Offloaded` the agent reads. A plain process of its own (not multiprocessing): nothing of the agent is imported again.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from edge.access.applying import apply_payload


def main() -> None:
    header = json.loads(sys.stdin.buffer.readline())
    payload = sys.stdin.buffer.read()
    offloaded = apply_payload(header["path"], header["site"], header["public_key"], header["max_entries"], payload,
                              frozenset(header["seen"]), header["applied_at"])
    result = None if offloaded.result is None else dataclasses.asdict(offloaded.result)
    sys.stdout.write(json.dumps({"cmd_id": offloaded.cmd_id, "result": result}) + "\n")


if __name__ == "__main__":
    main()
