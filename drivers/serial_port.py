"""A serial port (a device path or a pyserial URL) as asyncio streams, for the drivers that read one (Contact ID
receivers, NMEA receivers): what `serial_asyncio.open_serial_connection` does, plus a check that the port has a file
descriptor the event loop can watch, and a close that does not fail on a port that was yanked away."""

from __future__ import annotations

import asyncio
import contextlib
import io

import serial
import serial_asyncio


async def open_stream(url: str, baudrate: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The port's reader and writer; ValueError for a kind of port the event loop cannot watch (no descriptor), and
    pyserial's SerialException or OSError for a port that cannot be opened."""
    port = serial.serial_for_url(url, baudrate=baudrate)
    try:
        port.fileno()
    except (io.UnsupportedOperation, AttributeError):
        port.close()
        raise ValueError("this kind of port has no file descriptor to watch; use a device path or socket://") from None
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await serial_asyncio.connection_for_serial(loop, lambda: protocol, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def close_stream(writer: asyncio.StreamWriter) -> None:
    writer.close()
    # a port that was yanked away may fail to close cleanly; it is gone either way
    with contextlib.suppress(serial.SerialException, OSError):
        await writer.wait_closed()
