"""The core never loads the FHIR integration or its libraries on its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parent.parent / "examples" / "dvt-same-day.json"
# Every engine loads the FHIR integration plugin (the kneerules.integrations entry point),
# which is light: the package shell and its hookspec, nothing else of FHIR.
LIGHT = {"kneerules.fhir", "kneerules.fhir.plugin", "kneerules.fhir.hookspecs",
         "kneerules.fhir.commands"}


def _loaded_after(code: str) -> list[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True,
                         text=True).stdout
    return [m for m in json.loads(out.splitlines()[-1]) if m not in LIGHT and (
        m.split(".")[0] in ("fhir", "pydantic", "pydantic_core", "fhir_core")
        or m.startswith("kneerules.fhir"))]


def test_import_kneerules_loads_no_fhir() -> None:
    """`import kneerules` (and building an engine) imports nothing of the FHIR integration."""
    assert _loaded_after("import kneerules\nkneerules.Engine()") == []


def test_eval_loads_no_fhir() -> None:
    """`kneerules eval case.json` runs without importing the FHIR integration or its deps."""
    code = (f"import sys\nsys.argv = ['kneerules', 'eval', {str(EXAMPLE)!r}, '--format', "
            "'json']\nfrom kneerules.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n"
            "    pass")
    assert _loaded_after(code) == []
