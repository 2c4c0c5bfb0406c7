"""A loopback TCP forwarder that a test can break the way a network breaks.

Point a client at :attr:`TcpProxy.port` instead of the real server, then:

- :meth:`TcpProxy.reset`: every connection is dropped and new ones are
  refused (the server went down);
- :meth:`TcpProxy.stall`: connections stay open but nothing is forwarded
  (a partition: requests hang, no error);
- :meth:`TcpProxy.restore`: forwarding resumes (after a reset, on the same port).

:attr:`TcpProxy.sent` keeps every byte the clients sent, to check what left
the process.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``host:port``; use as an async context manager."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.port = 0
        self.sent = bytearray()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        await self._listen()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._flowing.set()
        await self.reset()

    async def reset(self) -> None:
        """Drop every connection (RST) and stop listening."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def stall(self) -> None:
        """Keep connections open but forward nothing until :meth:`restore`."""
        self._flowing.clear()

    async def restore(self) -> None:
        """Forward again, listening on the same port if :meth:`reset` stopped it."""
        self._flowing.set()
        if self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.transport.abort()
            return
        self._writers.update((client_w, server_w))
        try:
            await asyncio.gather(
                self._pipe(client_r, server_w, record=True), self._pipe(server_r, client_w)
            )
        finally:
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, record: bool = False
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                if record:
                    self.sent.extend(data)
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
