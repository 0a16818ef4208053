"""Running the app under uvicorn, on a host and port or on a socket someone else bound.

uvicorn's own ``fd=`` option takes every inherited socket for a Unix socket, so asyncio
never sets TCP_NODELAY on its connections and each response with a body waits ~40 ms for a
delayed ACK. Here an inherited socket is opened with its real family and handed to uvicorn
as a bound socket, the way uvicorn passes its own to its workers.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from kneerules.service.app import CONFIG_ENV, LOG_LEVEL_ENV, setup_logging
from kneerules.service.config import Limits
from kneerules.service.protocol import LIMITS_ENV, GuardedHttpToolsProtocol, limits_to_env


def _where(sock: socket.socket | None, host: str, port: int) -> str:
    if sock is None:
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    name = sock.getsockname()
    if isinstance(name, tuple):
        address = f"[{name[0]}]" if ":" in name[0] else name[0]
        return f"http://{address}:{name[1]}"
    return f"unix:{name}"


def run(app: Any, config_path: str, *, workers: int, host: str, port: int, fd: int | None,
        log_level: str, limits: Limits | None = None, paths: tuple[str, ...] = ()) -> None:
    """Serve ``app`` (one worker) or the app built from ``config_path`` in each worker."""
    limits = limits or Limits()
    # Read by each worker (uvicorn starts them afresh): the log level and the limits.
    os.environ[LOG_LEVEL_ENV] = log_level
    os.environ[LIMITS_ENV] = limits_to_env(limits)
    GuardedHttpToolsProtocol.limits = {}
    setup_logging(log_level)
    options: dict[str, Any] = {
        "log_level": log_level, "access_log": log_level in ("info", "debug"),
        "proxy_headers": False, "server_header": False, "host": host, "port": port,
        "http": GuardedHttpToolsProtocol, "timeout_keep_alive": 5,
        # A 503 past this many connections and requests in flight (the protocol closes
        # connections beyond max_connections anyway).
        "limit_concurrency": limits.max_connections + 16}
    if workers > 1:
        os.environ[CONFIG_ENV] = os.path.abspath(config_path)
        config = uvicorn.Config("kneerules.service.app:app_from_env", factory=True,
                                workers=workers, **options)
    else:
        config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    if fd is None:
        sock = config.bind_socket() if workers > 1 else None
        if sock is None:
            sock = _bind(host, port)
    else:
        sock = socket.socket(fileno=fd)  # the family and type are read from the socket
    where = _where(sock, host, port)
    print(f"kneerules serve: listening on {where} ({workers} worker"
          f"{'s' if workers != 1 else ''}); services: "
          + ", ".join(f"{where}{path}" for path in paths), file=sys.stderr, flush=True)
    if workers > 1:
        assert sock is not None
        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket uvicorn would bind, bound here so that its address (port 0: the
    one the system chose) can be printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
