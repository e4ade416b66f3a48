"""Keep a serial port served: open it, serve it until it goes away, and try again every `reopen_delay` seconds.

An outage (a port that cannot be opened, or one lost while open) is logged once, not once per retry; `opened`,
`reopen`, `open_failed` and `port_lost` are counted. Runs until cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import serial

from drivers.base import DriverContext
from drivers.serial_port import close_stream, open_stream

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class PortLost(Exception):
    """The serial port stopped working while open."""


async def serve_reopening(ctx: DriverContext, label: str, port: str, baudrate: int, reopen_delay: float,
                          serve: Serve, *, after_close: Callable[[], Awaitable[None]] | None = None) -> None:
    """Serve `port` with `serve` (which raises PortLost when the port goes away); `after_close` runs each time an
    opened port was closed after a loss. `label` starts every log line."""
    down_reason: str | None = None  # why the port is unusable; logged once per outage, not once per retry
    opened_before = False
    while True:
        try:
            reader, writer = await open_stream(port, baudrate)
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = f"cannot open: {exc}"
            if reason != down_reason:
                ctx.log.warning("%s: port %s %s; retrying every %gs", label, port, reason, reopen_delay)
                down_reason = reason
            ctx.stats.count("open_failed")
            await asyncio.sleep(reopen_delay)
            continue
        ctx.stats.count("opened")
        if opened_before:
            ctx.stats.count("reopen")
        opened_before = True
        ctx.log.info("%s: port %s open at %d baud", label, port, baudrate)
        down_reason = None
        try:
            await serve(reader, writer)
        except PortLost as exc:
            down_reason = f"lost: {exc}"
            ctx.log.warning("%s: port %s %s; reopening every %gs", label, port, down_reason, reopen_delay)
            ctx.stats.count("port_lost")
        finally:
            await close_stream(writer)
        if after_close is not None:
            await after_close()
        await asyncio.sleep(reopen_delay)
