"""Watch-list figures: a 1,000,000-entry list parsed and imported, then ID card reads and registrations checked
against it per second, on SQLite and PostgreSQL.

Run alone: .venv/bin/python -m bench.watchlist [--quick] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import ingest
from bench.common import Figure, quiet_logging, say, table
from central.ingest_batch import BatchStore
from central.people import watchlist
from central.people.hits import REGISTRATION, Sighting, screen
from central.people.hook import PeopleHook
from central.people.settings import PeopleSettings
from central.people.watchlist_csv import parse
from drivers.idcard.gb11643 import check_character
from shaobing import topics
from shaobing.envelope import DEFAULT_PRIORITY, Envelope, Kind

LOG = logging.getLogger("bench.watchlist")
KEY = "bench-watchlist-key-0001"
T0 = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
READ_BATCH = 100
HIT_EVERY = 100  # one read in a hundred is of a listed person


def number(index: int) -> str:
    """The index-th of a million distinct valid ID numbers: 100 regions x 10 birth dates x 1000 serials."""
    region, rest = divmod(index, 10_000)
    day, serial = divmod(rest, 1000)
    first17 = f"{110000 + region:06d}1990{1 + day // 28:02d}{1 + day % 28:02d}{serial:03d}"
    return first17 + check_character(first17)


def csv_body(entries: int) -> bytes:
    lines = ["id_number,name,reason,case_ref"]
    lines += [f"{number(i)},某人{i},bench,case-{i % 997}" for i in range(entries)]
    return ("\n".join(lines) + "\n").encode()


class Message:
    def __init__(self, envelope: Envelope) -> None:
        self.topic = topics.event(envelope.site, envelope.kind)
        self.payload = envelope.to_json()
        self.retain = False


def id_reads(count: int, listed: int) -> list[Message]:
    out = []
    for seq in range(1, count + 1):
        # listed numbers for every HIT_EVERY-th read, numbers beyond the list otherwise
        index = (seq * 7919) % listed if seq % HIT_EVERY == 0 else listed + seq
        moment = T0 + timedelta(milliseconds=seq)
        out.append(Message(Envelope(site="rental-bench", seq=seq, device="idr-1", kind=Kind.ID_READ, ts=moment,
                                    rx=moment, priority=int(DEFAULT_PRIORITY[Kind.ID_READ]),
                                    data={"id_number": number(index), "name": "某人",
                                          "service_point": "counter-1", "reader": "idr-1"})))
    return out


async def one_store(kind: str, pg: str, scratch: Path, body: bytes, entries: int, reads: int) -> list[Figure]:
    label = "SQLite" if kind == "sqlite" else "PostgreSQL"
    settings = PeopleSettings(watchlist_key=KEY)
    started = time.perf_counter()
    parsed = parse(body)
    rows = watchlist.hashed_rows(parsed.entries.values(), key=watchlist.WatchKey(KEY), by="bench", at=T0)
    parse_s = time.perf_counter() - started
    assert parsed.error_count == 0, parsed.errors[:3]
    async with ingest.database(kind, pg, scratch) as engine:
        started = time.perf_counter()
        async with engine.begin() as connection:
            await watchlist.write_rows(connection, rows)
        import_s = time.perf_counter() - started

        hook = PeopleHook(settings, police=["police-110"], logger=LOG)
        store = BatchStore(on_stored=hook.on_stored)
        messages = id_reads(reads, entries)
        hits = 0
        started = time.perf_counter()
        for start in range(0, len(messages), READ_BATCH):
            async with engine.begin() as connection:
                await store.process(connection, messages[start:start + READ_BATCH], now=T0)
            hits += hook.hits
        read_s = time.perf_counter() - started

        singles = max(200, reads // 10)
        started = time.perf_counter()
        for index in range(singles):
            sighting = Sighting(number(entries + index), "某人", REGISTRATION, "rental-bench", None, None, 0, T0)
            async with engine.begin() as connection:
                await screen(connection, KEY, sighting, police=["police-110"], at=T0)
        single_s = time.perf_counter() - started
    say(f"  {label}: parse+hash {entries / parse_s:,.0f} rows/s, import {entries / import_s:,.0f} rows/s, "
        f"{reads / read_s:,.0f} reads/s ({hits} hits), {singles / single_s:,.0f} registrations/s")
    return [
        Figure(f"watch-list parse+hash before {label} ({entries:,} rows)", entries / parse_s, "rows/s"),
        Figure(f"watch-list import {label} ({entries:,} rows)", entries / import_s, "rows/s",
               note=f"{import_s:.1f} s"),
        Figure(f"id_reads checked {label} (batches of {READ_BATCH}, 1% hits)", reads / read_s, "/s"),
        Figure(f"registrations checked {label} (one transaction each)", singles / single_s, "/s"),
    ]


async def run(*, quick: bool, pg: str) -> list[Figure]:
    entries, reads = (100_000, 2_000) if quick else (1_000_000, 10_000)
    say(f"watch-list: {entries:,} entries, {reads:,} ID card reads, SQLite and PostgreSQL (bench/watchlist.py)")
    body = csv_body(entries)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-watchlist-") as scratch:
        for kind in ("sqlite", "postgresql"):
            try:
                figures += await one_store(kind, pg, Path(scratch), body, entries, reads)
            except OSError as error:  # no database server to measure on
                say(f"  {kind}: not measured: {error}")
                figures.append(Figure(f"watch-list {kind}", None, "", note=f"not measured: {error}"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pg", default=os.environ.get("SHAOBING_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    arguments = parser.parse_args()
    quiet_logging()
    LOG.setLevel(logging.ERROR)  # one warning per hit otherwise
    say(table(asyncio.run(run(quick=arguments.quick, pg=arguments.pg))))


if __name__ == "__main__":
    main()
