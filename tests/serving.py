"""`kneerules serve` run as a user runs it, for the tests that need their own server (their
own config, port or environment): started, waited for until a worker answers, and stopped."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

KNEERULES = str(Path(sys.executable).with_name("kneerules"))


@contextlib.contextmanager
def serving(config: Path, log: Path, *args: str, env: dict[str, str] | None = None
            ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`kneerules serve --config CONFIG --log-level info ARGS...`, its output in ``log``,
    until it says where it listens and a worker answers there (401 without a token);
    yields that address and the process, and stops it at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [KNEERULES, "serve", "--config", str(config), "--log-level", "info", *args],
            stdout=out, stderr=out, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    try:
        base = None
        for _ in range(600):  # bounded: 60 s
            found = re.search(r"listening on (http://[\w.]+:\d+)", log.read_text())
            if found:
                base = found.group(1)
                try:
                    if httpx.get(base + "/cds-services", timeout=2).status_code == 401:
                        break
                except httpx.TransportError:
                    pass
            if process.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.1)
        else:
            raise RuntimeError(f"kneerules serve did not answer within 60 s:\n{log.read_text()}")
        assert base is not None
        yield base, process
    finally:
        stop(process)


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """Stops a server: SIGTERM, then SIGKILL if it has not exited within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
