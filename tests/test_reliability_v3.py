"""Issue 25, reliability v3: bounded reads in validate, audits that never mix runs, a batch
that survives a dead worker or a stuck hook, safe saves, bounded FHIR input, and the
smaller items."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
KNEERULES = Path(sys.executable).parent / "kneerules"
DVT = json.loads((ROOT / "examples" / "dvt-emergency.json").read_text())
BAKERS = {"patient": {"age": 55}, "onset": "gradual",
          "findings": {"pain.behind_knee": True, "sign.swelling_behind_knee": True,
                       "worse.bending_knee": True}}
MEMORY_CAP = 2 * 1024 ** 3


def _limited() -> None:
    # A reader without a cap would take all the machine's memory: the child fails instead.
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def kneerules(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process, with a memory cap and a time limit."""
    kwargs.setdefault("capture_output", True)
    return subprocess.run([str(KNEERULES), *args], cwd=kwargs.pop("cwd", ROOT), text=True,
                          timeout=timeout, check=False, preexec_fn=_limited, **kwargs)


def vignette(folder: Path, name: str, body: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


# --- 1. validate reads with limits --------------------------------------------------------

@pytest.fixture
def vignettes(tmp_path: Path) -> Path:
    """A folder with one good vignette."""
    folder = tmp_path / "vignettes"
    vignette(folder, "bakers", {"case": BAKERS, "expect": {"triage": "routine"}})
    return folder


def _errors(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["error"] for c in report["cases"] if c["error"]}


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("zero", lambda p: p.symlink_to("/dev/zero"), "not a regular file"),
    ("fifo", lambda p: os.mkfifo(p), "not a regular file"),
    ("big", lambda p: p.write_text('{"case": {}, "expect": {}, "x": "' + "a" * (2 << 20)
                                   + '"}'), "larger than the limit"),
    ("deep", lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "nested more than"),
    ("dup", lambda p: p.write_text('{"case": {}, "expect": {}, "case": {}}'),
     '$.case: given more than once'),
    ("triage-list", lambda p: p.write_text(json.dumps(
        {"case": BAKERS, "expect": {"triage": ["routine"]}})),
     "$.expect.triage: expected one of"),
    ("timeframe-list", lambda p: p.write_text(json.dumps(
        {"case": BAKERS, "expect": {"timeframe": [1]}})),
     "$.expect.timeframe: expected one of"),
])
def test_validate_reads_each_vignette_with_limits(vignettes: Path, name: str, make: Any,
                                                  expected: str) -> None:
    """/dev/zero, a FIFO, a huge or deep file, a duplicate key or a wrong type is a clear
    error for that file, no traceback, and the other vignettes are still scored."""
    make(vignettes / f"{name}.json")
    done = kneerules("validate", str(vignettes), "--format", "json", timeout=60)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["summary"]["cases"] == 2
    assert report["summary"]["triage_exact"]["ok"] == 1  # bakers still scored
    assert expected in _errors(report)[name]
