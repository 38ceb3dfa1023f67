"""Real TCP resets from inside an ASGI app served by uvicorn.

ASGI gives an app no way to drop a connection without answering (returning early makes uvicorn send a 500).
To inject a genuine reset, this uvicorn HTTP protocol registers each connection's transport by its
(server, client) addresses, which the app finds again in its scope; :func:`reset_connection` then closes the
socket with SO_LINGER 0 so the kernel sends RST, exactly what a client sees when a proxy or worker dies.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from starlette.types import Receive, Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

_Key = tuple[tuple[str, int], tuple[str, int]]
_TRANSPORTS: dict[_Key, asyncio.Transport] = {}


class ResettableH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if (key := self._key()) is not None:
            _TRANSPORTS[key] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if (key := self._key()) is not None:
            _TRANSPORTS.pop(key, None)
        super().connection_lost(exc)

    def _key(self) -> _Key | None:
        if not self.server or not self.client or self.server[1] is None:
            return None
        return (str(self.server[0]), int(self.server[1])), (str(self.client[0]), int(self.client[1]))


def _key(scope: Scope) -> _Key | None:
    server: Any = scope.get("server")
    client: Any = scope.get("client")
    if not server or not client:
        return None
    return (str(server[0]), int(server[1])), (str(client[0]), int(client[1]))


async def reset_connection(scope: Scope, receive: Receive) -> bool:
    """Abort the connection with a TCP RST; False when not served by :class:`ResettableH11Protocol`."""
    key = _key(scope)
    transport = _TRANSPORTS.get(key) if key else None
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait for uvicorn to notice the disconnect, so it does not try to send its own 500 afterwards.
    while (await receive())["type"] != "http.disconnect":
        pass
    return True
