"""uvicorn's httptools protocol with the limits a public endpoint needs before any token
is checked: header size, time to send the headers and the body, connections per worker.

uvicorn parses any header size (a 60 MB ``Authorization`` header cost 330 MB), waits
forever for headers sent a byte at a time, and keeps every connection open (300 slow
clients held 300 sockets). Here, per connection: the bytes before the blank line ending
the headers are counted before the parser sees them (over ``max_header_bytes``: 431 and
closed); the headers must be complete within ``header_timeout_seconds`` of the request's
first byte and the body within ``body_timeout_seconds`` of the headers (else closed);
and past ``max_connections`` in a worker, the oldest connection still sending its
headers is closed to make room (slow clients cannot crowd out real ones), or the new
one if every connection is busy with a request.

The limits come from the environment (``KNEERULES_SERVICE_LIMITS``, JSON), as uvicorn
starts each worker process afresh from an import string.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kneerules.service.config import Limits

LIMITS_ENV = "KNEERULES_SERVICE_LIMITS"
log = logging.getLogger("kneerules.service")


def limits_to_env(limits: Limits) -> str:
    return json.dumps({"max_header_bytes": limits.max_header_bytes,
                       "header_timeout_seconds": limits.header_timeout_seconds,
                       "body_timeout_seconds": limits.body_timeout_seconds,
                       "max_connections": limits.max_connections})


def _limits() -> dict[str, Any]:
    defaults = Limits()
    found: dict[str, Any] = {"max_header_bytes": defaults.max_header_bytes,
                             "header_timeout_seconds": defaults.header_timeout_seconds,
                             "body_timeout_seconds": defaults.body_timeout_seconds,
                             "max_connections": defaults.max_connections}
    raw = os.environ.get(LIMITS_ENV)
    if raw:
        found.update(json.loads(raw))
    return found


_HEADERS_END = b"\r\n\r\n"
_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
        b"connection: close\r\n\r\n")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with header size, header and body time, and connection limits."""

    limits: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not GuardedHttpToolsProtocol.limits:
            GuardedHttpToolsProtocol.limits = _limits()
        self._in_headers = True
        """The next bytes are a request's headers: from the connection's start, and from
        the end of each request's body (not of its response: a call answered before its
        body has arrived must not have the rest of its body counted as headers)."""
        self._busy = False
        """Between a request's headers and the end of its response: never closed to make
        room for another connection."""
        self._header_bytes = 0
        self._tail = b""
        self._started: float | None = None
        self._deadline: asyncio.TimerHandle | None = None

    # --- connections ---
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits["header_timeout_seconds"], "headers")
        self._started = time.monotonic()
        if len(self.connections) > self.limits["max_connections"]:
            waiting = [c for c in self.connections if c is not self
                       and isinstance(c, GuardedHttpToolsProtocol) and c._in_headers
                       and not c._busy]
            victim = min(waiting, key=lambda c: c._started or 0.0) if waiting else self
            log.warning("more than %d connections: closing %s", self.limits["max_connections"],
                        "the oldest one still sending headers" if victim is not self
                        else "the new one")
            victim.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self, what: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("connection from %s closed: its %s were not complete in time",
                     self.client, what)
            self.transport.close()

    # --- requests ---
    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            if self._deadline is None:  # the first byte of a kept-alive connection's request
                self._arm(self.limits["header_timeout_seconds"], "headers")
            window = self._tail + data
            end = window.find(_HEADERS_END)
            counted = len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._header_bytes += counted
            self._tail = window[-3:]
            if self._header_bytes > self.limits["max_header_bytes"]:
                log.info("connection from %s closed: headers over %d bytes", self.client,
                         self.limits["max_header_bytes"])
                self._disarm()
                self.transport.write(_431)
                self.transport.close()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._busy = True
        self._arm(self.limits["body_timeout_seconds"], "body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers = True
        self._header_bytes = 0
        self._tail = b""
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._busy = False
        self._started = time.monotonic()
        super().on_response_complete()
