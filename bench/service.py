"""CDS Hooks service benchmark (``make bench``): latency and throughput of `kneerules serve`.

Starts the real service (``kneerules serve --fd``, two uvicorn workers, a SQLite store) on a
loopback socket, with the key set served by a second local HTTP server, and calls
patient-view with a realistic prefetch (Patient, a kneerules QuestionnaireResponse, vital
signs, Conditions, an empty Procedure Bundle, a null key, an OperationOutcome): every call
with a fresh ES384 token (signed beforehand, so signing is not timed; verifying is).

Prints p50 / p99 of one call at a time over a kept-alive connection, and requests per
second with several connections in flight. The client runs on the same 2 cores as the
two workers, so the throughput figure is a floor. ``--quick``: a smoke run, not figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "service"))

from hook_requests import DVT_FINDINGS, SERVICE_ID, hook_request  # noqa: E402

from kneerules import Engine  # noqa: E402

ISSUER = "https://ehr.example.org"
PATH = f"/cds-services/{SERVICE_ID}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class KeySet:
    def __init__(self, jwk: dict[str, Any]) -> None:
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def tokens(key: Any, jku: str, audience: str, count: int) -> list[str]:
    now = int(time.time())
    header = {"kid": "bench-1", "jku": jku, "typ": "JWT"}
    return [jwt.encode({"iss": ISSUER, "sub": "bench", "aud": audience, "iat": now,
                        "exp": now + 280, "jti": str(uuid.uuid4())}, key, algorithm="ES384",
                       headers=header) for _ in range(count)]


def start(folder: Path, jku: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.set_inheritable(True)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = folder / "service.yaml"
    config.write_text(f"""public_url: {base}
store: {folder / 'store.sqlite'}
security:
  issuers: [{{iss: "{ISSUER}", jku: ["{jku}"]}}]
""")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("kneerules")), "serve", "--config", str(config),
         "--fd", str(sock.fileno()), "--workers", str(workers)], pass_fds=(sock.fileno(),))
    sock.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/cds-services", timeout=2).status_code == 401:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("kneerules serve did not start")


def latency(base: str, body: bytes, signed: list[str]) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for token in signed:
            headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
            start = time.perf_counter()
            response = client.post(PATH, content=body, headers=headers)
            times.append(time.perf_counter() - start)
            if response.status_code != 200 or not response.json()["cards"]:
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")
    return times


async def _connection(port: int, requests: list[bytes], failures: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append(head)
    finally:
        writer.close()
        await writer.wait_closed()


def throughput(base: str, body: bytes, signed: list[str], connections: int) -> float:
    """Requests per second with ``connections`` kept-alive connections in flight.

    The client is a minimal asyncio one (requests prepared beforehand, responses read by
    Content-Length): a full HTTP client in Python on the same 2 cores would measure itself.
    """
    port = int(base.rsplit(":", 1)[1])
    requests = [(f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                 f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body for token in signed]
    failures: list[bytes] = []

    async def run() -> None:
        await asyncio.gather(*(_connection(port, requests[i::connections], failures)
                               for i in range(connections)))

    start = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} calls failed: {failures[0]!r}")
    return len(signed) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run, not figures")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    calls, load_calls, warm = (50, 100, 20) if args.quick else (1000, 3000, 200)

    key = ec.generate_private_key(ec.SECP384R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "bench-1",
           "alg": "ES384"}
    key_set = KeySet(jwk)
    engine = Engine()
    body = json.dumps(hook_request(engine, DVT_FINDINGS)).encode()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; prefetch body "
          f"{len(body)} bytes")
    with tempfile.TemporaryDirectory() as folder:
        process, base = start(Path(folder), key_set.url, args.workers)
        try:
            audience = base + PATH
            latency(base, body, tokens(key, key_set.url, audience, warm))
            times = latency(base, body, tokens(key, key_set.url, audience, calls))
            ms = [t * 1000 for t in times]
            print(f"patient-view, one call at a time ({calls} calls, {args.workers} workers): "
                  f"p50 {percentile(ms, 0.5):.2f} ms, p99 {percentile(ms, 0.99):.2f} ms, "
                  f"mean {sum(ms) / len(ms):.2f} ms")
            for connections in (4, 16):
                rate = throughput(base, body, tokens(key, key_set.url, audience, load_calls),
                                  connections)
                print(f"throughput, {connections} connections in flight: {rate:.0f} "
                      f"requests/s ({os.cpu_count()} cores, client on the same machine)")
        finally:
            process.terminate()
            process.wait(timeout=20)
            key_set.server.shutdown()
            key_set.server.server_close()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
