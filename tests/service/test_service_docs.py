"""docs/service.md's worked example, run as a newcomer runs it: keys and a configuration
written, `kneerules serve` started (two workers, real HTTP), a signed call, the first card."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from types import ModuleType

from serving import serving

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
    with serving(folder / "service.yaml", tmp_path / "serve.log") as (base, _):
        assert base == f"http://127.0.0.1:{port}"
        cards = first_card.call(base, folder)["cards"]
    assert [card["indicator"] for card in cards] == ["warning"]
    assert cards[0]["summary"].startswith("Urgent knee triage: Deep vein thrombosis")
