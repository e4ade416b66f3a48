"""`shaobing sim tracker` as a real process against the real GT06 gateway: events, summary, Ctrl-C, bad input."""

from __future__ import annotations

import asyncio
import signal
import sys

from shaobing.envelope import Kind
from shaobing.net import free_port
from tests.firmware_sim.gateway import RecordingSink, eventually, gateway


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "shaobing", "sim", "tracker", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(process: asyncio.subprocess.Process, within: float = 30.0) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def summary_of(out: str) -> dict[str, str]:
    line = next(line for line in out.splitlines() if " summary: " in line)
    return dict(pair.split("=", 1) for pair in line.split(" summary: ", 1)[1].split(", "))


async def test_a_timed_run_reports_and_sums_up() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw:
        process = await start_cli("--server", f"127.0.0.1:{gw.port}", "--count", "3", "--interval", "0.5",
                                  "--for", "3", "--seed", "1", "--scenario", "ride")
        status, out, err = await finish(process)
    assert status == 0, err
    assert "3 trackers (ride) reporting every 0.5 s" in out
    assert "all 3 trackers online" in out
    summary = summary_of(out)
    assert summary["trackers"] == "3" and summary["logins"] == "3" and int(summary["replies"]) >= 9
    assert len({reading.device for reading in sink.of(Kind.POSITION)}) == 3


async def test_ctrl_c_stops_cleanly_with_a_summary() -> None:
    sink = RecordingSink()
    async with gateway(sink) as gw:
        process = await start_cli("--server", f"127.0.0.1:{gw.port}", "--count", "2", "--interval", "0.5")
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while b"all 2 trackers online" not in await process.stdout.readline():
                pass
        process.send_signal(signal.SIGINT)
        status, out, err = await finish(process)
        await eventually(lambda: gw.server.connection_count == 0)
    assert status == 0, err
    assert summary_of(out)["logins"] == "2"
    assert "Traceback" not in err


async def test_no_gateway_means_failure() -> None:
    process = await start_cli("--server", f"127.0.0.1:{free_port()}", "--for", "1")
    status, out, _ = await finish(process)
    assert status == 1
    assert summary_of(out)["logins"] == "0" and int(summary_of(out)["connect_failures"]) >= 1


async def test_bad_options_are_refused_with_a_message() -> None:
    for args, message in [(["--server", "nowhere"], "expected HOST:PORT"),
                          (["--server", "127.0.0.1:5023", "--scenario", "party"], "unknown scenario"),
                          (["--server", "127.0.0.1:5023", "--imei-base", "12"], "14 or 15 digits"),
                          (["--server", "127.0.0.1:5023", "--interval", "0"], "--interval must be positive")]:
        status, _, err = await finish(await start_cli(*args))
        assert status == 1 and message in err, (args, err)
