"""The `stored` confirmation (central -> edge, `shaobing/v1/{site}/stored`): `{"seqs": [[first, last], ...]}`.

Each pair is an inclusive range of the site's seqs that central has committed (newly stored or found already stored)
in one ingest transaction. The edge deletes those rows from its outbox only then (docs/edge.md, "Confirmation").
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from shaobing.errors import FrameError

# One confirmation covers one ingest batch; anything wider than this is not a confirmation central would send.
MAX_SEQS = 1_000_000
MAX_PAYLOAD_BYTES = 1_000_000

SeqRange = tuple[int, int]


def seq_ranges(seqs: Iterable[int]) -> list[SeqRange]:
    """Sorted, merged inclusive ranges of the given seqs (duplicates are fine)."""
    ranges: list[SeqRange] = []
    for seq in sorted(set(seqs)):
        if ranges and ranges[-1][1] + 1 == seq:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def encode(seqs: Iterable[int]) -> bytes:
    return json.dumps({"seqs": [list(pair) for pair in seq_ranges(seqs)]}, separators=(",", ":")).encode()


def decode(payload: bytes) -> list[SeqRange]:
    """The ranges of a `stored` payload; `FrameError` for anything that is not one."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise FrameError(f"stored confirmation too large ({len(payload)} bytes)", payload[:200])
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        raise FrameError("stored confirmation is not JSON", payload) from None
    if not isinstance(raw, dict) or set(raw) != {"seqs"} or not isinstance(raw["seqs"], list):
        raise FrameError('stored confirmation must be {"seqs": [[first, last], ...]}', payload)
    ranges: list[SeqRange] = []
    total = 0
    for pair in raw["seqs"]:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(seq, int) and not isinstance(seq, bool) for seq in pair)):
            raise FrameError("stored confirmation: each range must be [first, last] of integers", payload)
        first, last = pair
        if first < 1 or last < first:
            raise FrameError(f"stored confirmation: bad range [{first}, {last}]", payload)
        total += last - first + 1
        if total > MAX_SEQS:
            raise FrameError(f"stored confirmation covers more than {MAX_SEQS} seqs", payload[:200])
        ranges.append((first, last))
    return ranges
