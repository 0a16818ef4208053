"""FHIR mapping benchmark (``make bench``): is the hot path on plain dicts worth it?

Prints, for the IPS all-sections Bundle (55 entries) and for every example resource of
the R4 and IPS packages: map_fhir on plain dicts, map_fhir(strict=True) (each resource
checked with fhir.resources' R4B models first), and parsing alone with the R4B models.
Medians of several rounds; needs `make fhir-examples`.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from kneerules import Engine
from kneerules.fhir import FhirError, map_fhir

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "fhir"
BUNDLE = CACHE / "hl7.fhir.uv.ips-2.0.0" / "package" / "example" / \
    "Bundle-bundle-ips-all-sections.json"
TYPES = {"Patient", "Observation", "Condition", "Procedure", "MedicationStatement",
         "MedicationRequest", "QuestionnaireResponse"}
AT = datetime(2024, 9, 1, tzinfo=UTC)


def median_ms(rounds: int, repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeat):
            work()
        times.append((time.perf_counter() - start) / repeat * 1000)
    return statistics.median(times)


def resources() -> list[dict[str, Any]]:
    found = []
    folders = [CACHE / "hl7.fhir.r4.examples-4.0.1" / "package",
               CACHE / "hl7.fhir.uv.ips-2.0.0" / "package" / "example"]
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("resourceType") in TYPES:
                found.append(data)
    return found


def quietly(work: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> None:
        with contextlib.suppress(FhirError):  # a refusal is a result too: time it
            work()
    return run


def main() -> None:
    engine = Engine()
    vocabulary = engine.vocabulary
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    bundle_model = get_fhir_model_class("Bundle")
    each = resources()
    figures = {
        "IPS bundle: map_fhir, plain dicts (ms)":
            median_ms(5, 50, lambda: map_fhir(bundle, at=AT, vocabulary=vocabulary)),
        "IPS bundle: map_fhir strict=True, R4B check first (ms)":
            median_ms(5, 5, lambda: map_fhir(bundle, at=AT, vocabulary=vocabulary,
                                             strict=True)),
        "IPS bundle: parse alone with fhir.resources R4B Bundle (ms)":
            median_ms(5, 5, lambda: bundle_model.model_validate(bundle)),
        # The IPS example holds no knee complaint (evaluate_fhir says NotTriaged): read and
        # evaluate it, the same work end to end.
        "IPS bundle: Engine.read + evaluate, end to end (ms)":
            median_ms(5, 20, lambda: engine.evaluate(engine.read("fhir", bundle, at=AT)[0])),
        f"{len(each)} example resources: map_fhir, plain dicts (ms, all)":
            median_ms(3, 3, lambda: [quietly(lambda r=r: map_fhir(
                r, at=AT, vocabulary=vocabulary))() for r in each]),
        f"{len(each)} example resources: map_fhir strict=True (ms, all)":
            median_ms(3, 1, lambda: [quietly(lambda r=r: map_fhir(
                r, at=AT, vocabulary=vocabulary, strict=True))() for r in each]),
    }
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:9.3f}")


if __name__ == "__main__":
    main()
