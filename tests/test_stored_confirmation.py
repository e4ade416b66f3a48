"""The `stored` confirmation payload: ranges out, ranges in, and hostile payloads refused with a reason."""

from __future__ import annotations

import pytest

from shaobing import stored
from shaobing.errors import FrameError


def test_seqs_become_merged_sorted_ranges() -> None:
    assert stored.seq_ranges([5, 1, 2, 3, 9, 3, 10]) == [(1, 3), (5, 5), (9, 10)]
    assert stored.seq_ranges([]) == []


def test_encode_and_decode_round_trip() -> None:
    payload = stored.encode([4, 2, 3, 7])
    assert payload == b'{"seqs":[[2,4],[7,7]]}'
    assert stored.decode(payload) == [(2, 4), (7, 7)]
    assert stored.decode(b'{"seqs": []}') == []


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"seqs": [[1, 2]', "not JSON"),
    (b"[" * 100_000, "not JSON"),
    (b"[[1, 2]]", "must be"),
    (b'{"seqs": [[1, 2]], "more": 1}', "must be"),
    (b'{"seqs": "1-2"}', "must be"),
    (b'{"seqs": [[1]]}', "[first, last]"),
    (b'{"seqs": [[1, 2, 3]]}', "[first, last]"),
    (b'{"seqs": [["1", 2]]}', "[first, last]"),
    (b'{"seqs": [[1.0, 2]]}', "[first, last]"),
    (b'{"seqs": [[true, 2]]}', "[first, last]"),
    (b'{"seqs": [[3, 2]]}', "bad range"),
    (b'{"seqs": [[0, 2]]}', "bad range"),
    (b'{"seqs": [[-5, 2]]}', "bad range"),
    (b'{"seqs": [[1, 1000000000000]]}', "more than"),
    (b'{"seqs": [' + b",".join([b"[1, 600000]"] * 2) + b"]}", "more than"),
    (b" " * 1_000_001, "too large"),
])
def test_malformed_confirmations_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as refused:
        stored.decode(payload)
    assert reason in refused.value.reason
