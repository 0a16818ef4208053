"""The FHIR integration's hook, added to every plugin manager with ``add_hookspecs``
(through ``kneerules_addhooks``), so that the core hookspecs name no integration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from kneerules.hookspecs import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def kneerules_fhir_mappings() -> Sequence[Mapping[str, Any]]:
    """Return mappings from coded FHIR R4 resources to this plugin's facts.

    Called once per engine by the FHIR integration (``kneerules[fhir]``), the
    first time the engine maps a patient's record to a case, and by ``kneerules
    check``, which lints what it returns; without the integration installed,
    nothing calls it. Returns a sequence of mappings, each plain data in the
    shape of an entry of ``kneerules/fhir/mappings.yaml``: an ``id`` unique
    across plugins, the ``resource`` types it reads, a code ``system`` with
    ``codes`` (or code ``prefixes``), the vocabulary name it ``sets``, how the
    value is ``read`` (``present``, ``quantity`` with its ``units``, ``coded``
    with its ``answers``, ``positive``), an optional time ``window`` in days
    before the index time, and a plain-language ``because`` and ``source``.
    """
    raise NotImplementedError
