"""Golden FHIR outputs, reviewed as diffs: the generated Questionnaire and the mapped IPS
all-sections Bundle (case, provenance, problems) at two index times.

After an intended change, regenerate with ``KNEERULES_UPDATE_GOLDEN=1 pytest
tests/test_fhir_golden.py`` and review ``git diff tests/golden_fhir``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kneerules import Engine
from kneerules.fhir import build_questionnaire
from kneerules.fhir.reader import read_fhir
from kneerules.knowledge.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden_fhir"
IPS = (ROOT / ".cache" / "fhir" / "hl7.fhir.uv.ips-2.0.0" / "package" / "example"
       / "Bundle-bundle-ips-all-sections.json")


@pytest.fixture(scope="module")
def builtin_engine() -> Engine:
    """Only the built-in plugins, so installed extras cannot change the goldens."""
    return Engine(plugin_manager=get_plugin_manager(entry_points=False))


def _check(name: str, got: Any) -> None:
    golden = GOLDEN / name
    if os.environ.get("KNEERULES_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no golden file; run with KNEERULES_UPDATE_GOLDEN=1: {golden}"
    assert got == json.loads(golden.read_text())


def test_questionnaire_matches_its_golden(builtin_engine: Engine) -> None:
    """The Questionnaire of the built-in vocabulary is exactly the reviewed golden JSON."""
    _check("questionnaire.json", build_questionnaire(builtin_engine.vocabulary, "golden"))


@pytest.mark.parametrize("at", ["2000-05-20T00:00:00+00:00", "2024-09-01T00:00:00+00:00"])
def test_ips_bundle_mapping_matches_its_golden(builtin_engine: Engine, at: str) -> None:
    """The IPS all-sections Bundle maps to exactly the reviewed case and provenance."""
    mapped = read_fhir(builtin_engine, json.loads(IPS.read_text()),
                       at=datetime.fromisoformat(at).astimezone(UTC))
    _check(f"ips-all-sections-{at[:10]}.json", mapped.to_dict())
