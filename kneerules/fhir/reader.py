"""The ``fhir`` reader behind ``Engine.evaluate_fhir`` and ``kneerules eval --fhir``."""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any

from kneerules.fhir.mapper import map_with
from kneerules.fhir.mappings import FhirMapping, load_mappings, plugin_mappings
from kneerules.fhir.model import FhirCase

# Weak: a dropped engine takes its mappings with it (the core engine cannot hold them, as
# it names no integration).
_ENGINE_MAPPINGS: weakref.WeakKeyDictionary[Any, tuple[FhirMapping, ...]] = (
    weakref.WeakKeyDictionary())


def engine_mappings(engine: Any) -> tuple[FhirMapping, ...]:
    """The built-in mappings and those the engine's plugins add, checked once per engine."""
    mappings = _ENGINE_MAPPINGS.get(engine)
    if mappings is None:
        mappings = _ENGINE_MAPPINGS[engine] = load_mappings(
            engine.vocabulary, plugin_mappings(engine.plugin_manager))
    return mappings


def read_fhir(engine: Any, data: Any, *, at: datetime | None = None,
              patient: str | None = None, fhir_server: str | None = None) -> FhirCase:
    """``data`` (a Bundle, a resource or a list of them) mapped with ``engine``'s vocabulary
    and plugin mappings (``patient``: only that patient's resources are read)."""
    return map_with(data, engine_mappings(engine), engine.vocabulary, at, patient=patient,
                    fhir_server=fhir_server)
