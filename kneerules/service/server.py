"""Running the app under uvicorn, on a host and port or on a socket someone else bound.

uvicorn's own ``fd=`` option takes every inherited socket for a Unix socket, so asyncio
never sets TCP_NODELAY on its connections and each response with a body waits ~40 ms for a
delayed ACK. Here an inherited socket is opened with its real family and handed to uvicorn
as a bound socket, the way uvicorn passes its own to its workers.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from kneerules.service.app import CONFIG_ENV


def run(app: Any, config_path: str, *, workers: int, host: str, port: int, fd: int | None,
        log_level: str) -> None:
    """Serve ``app`` (one worker) or the app built from ``config_path`` in each worker."""
    options: dict[str, Any] = {
        "log_level": log_level, "access_log": log_level in ("info", "debug"),
        "proxy_headers": False, "server_header": False, "host": host, "port": port}
    if workers > 1:
        os.environ[CONFIG_ENV] = os.path.abspath(config_path)
        config = uvicorn.Config("kneerules.service.app:app_from_env", factory=True,
                                workers=workers, **options)
    else:
        config = uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    if fd is None:
        sock = config.bind_socket() if workers > 1 else None
    else:
        sock = socket.socket(fileno=fd)  # the family and type are read from the socket
    if workers > 1:
        assert sock is not None
        Multiprocess(config, sockets=[sock]).run()
    elif sock is not None:
        server.run(sockets=[sock])
    else:
        server.run()
