"""docs/service.md's worked example, run as a newcomer runs it: keys and a configuration
written, `kneerules serve` started (two workers, real HTTP), a signed call, the first card."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "service" / "first_card.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("first_card", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_worked_example_reaches_a_first_card(tmp_path: Path) -> None:
    """examples/service/first_card.py: keys, serve, call -> one DVT card, a warning (policy
    v3: a suspected DVT is the same-day pathway)."""
    first_card = _example()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path / "first-card"
    first_card.keys(folder, port)
    assert (folder / "ehr-private.pem").stat().st_mode & 0o077 == 0
    log = tmp_path / "serve.log"
    kneerules = str(Path(sys.executable).with_name("kneerules"))
    with log.open("w") as out:
        process = subprocess.Popen([kneerules, "serve", "--config", str(folder / "service.yaml"),
                                    "--log-level", "info"], stdout=out, stderr=out,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # bounded: 60 s
            if re.search(rf"listening on {re.escape(base)}", log.read_text()):
                try:
                    if httpx.get(base + "/cds-services", timeout=2).status_code == 401:
                        break
                except httpx.TransportError:
                    pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        cards = first_card.call(base, folder)["cards"]
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert [card["indicator"] for card in cards] == ["warning"]
    assert cards[0]["summary"].startswith("Urgent knee triage: Deep vein thrombosis")
