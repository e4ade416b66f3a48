"""What every TCP driver server does around its protocol: listen, one task per connection, a connection limit.

A subclass serves one connection in `_serve_connection`; this base accepts it (or turns it away beyond
`max_connections`), logs a connection lost to a socket error, closes the writer, and on stop cancels every
connection task before the listening socket is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from drivers.base import DriverContext

DEFAULT_BACKLOG = 100  # asyncio.start_server's own default


class TcpServer(ABC):
    """Serve connections until cancelled; `ready` is set and `bound_port` known once it listens.

    `label` starts every log line of the server (its configured name, perhaps with the protocol)."""

    backlog: ClassVar[int] = DEFAULT_BACKLOG
    # Yield once after closing the socket so connections accepted but not yet started register, to be cancelled.
    settle_on_stop: ClassVar[bool] = False

    def __init__(self, label: str, max_connections: int) -> None:
        self.label = label
        self.max_connections = max_connections
        self.ready = asyncio.Event()
        self.bound_port: int | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def _listen(self, ctx: DriverContext, host: str, port: int) -> None:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._connection(reader, writer, ctx)

        server = await asyncio.start_server(on_connect, host, port, backlog=self.backlog)
        try:
            self.bound_port = server.sockets[0].getsockname()[1]
            self._listening(ctx, host)
            self.ready.set()
            await server.serve_forever()
        finally:
            server.close()
            if self.settle_on_stop:
                await asyncio.sleep(0)
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()
            self.ready.clear()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          ctx: DriverContext) -> None:
        peer = self._peer_name(writer)
        if len(self._connections) >= self.max_connections:
            ctx.stats.count("refused:max_connections")
            ctx.log.warning("%s: refused connection from %s: %d connections open (max_connections)", self.label,
                            peer, len(self._connections))
            await self._turn_away(writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        ctx.stats.count("connections")
        try:
            await self._serve_connection(reader, writer, ctx, peer)
        except (ConnectionError, OSError) as exc:
            ctx.log.info("%s: connection from %s lost: %s", self.label, peer, exc)
        except asyncio.CancelledError:
            # only `_listen` cancels these tasks, when the server stops
            if not self._end_quietly(ctx, peer):
                raise
        finally:
            self._connections.discard(task)
            await close_writer(writer)

    @abstractmethod
    def _listening(self, ctx: DriverContext, host: str) -> None:
        """Log that the server listens on `host`:`bound_port` (and any warning about its configuration)."""

    @abstractmethod
    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                                ctx: DriverContext, peer: str) -> None:
        """Serve one accepted connection from `peer` until it ends; the writer is closed afterwards."""

    def _peer_name(self, writer: asyncio.StreamWriter) -> str:
        return peer_name(writer)

    async def _turn_away(self, writer: asyncio.StreamWriter) -> None:
        """Close a connection beyond `max_connections`."""
        await close_writer(writer)

    def _end_quietly(self, ctx: DriverContext, peer: str) -> bool:
        """Whether a connection the stopping server cancels ends normally rather than cancelled (asyncio's stream
        machinery reports a handler task ending cancelled as an error)."""
        return False


def peer_name(writer: asyncio.StreamWriter) -> str:
    """`host:port` of the connection's peer, or whatever the transport says when it has no address."""
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close and wait, ignoring a peer that already went away."""
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
