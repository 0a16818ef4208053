"""Imports kneerules with atheris' coverage instrumentation on its own modules only.

Instrumenting everything loaded (atheris.instrument_all) took a minute of start-up:
pluggy, cattrs, yaml and click need no coverage feedback."""

from __future__ import annotations

import importlib
import pkgutil

import atheris

# Imported first, uninstrumented: the libraries kneerules builds on.
import attrs  # noqa: F401
import cattrs  # noqa: F401
import pluggy  # noqa: F401
import yaml  # noqa: F401


def instrument_kneerules() -> None:
    """Imports every kneerules module (they load lazily otherwise), instrumented."""
    import kneerules

    with atheris.instrument_imports(include=["kneerules"]):
        for info in pkgutil.walk_packages(kneerules.__path__, "kneerules."):
            leaf = info.name.rsplit(".", 1)[-1]
            if info.name.count(".") > 1 and not info.name.startswith("kneerules.reasoning.durable"):
                continue  # integrations (kneerules.<pkg>.*) are not on these paths
            if leaf in ("cli", "testing", "hookdocs", "scaffold", "__main__"):
                continue
            importlib.import_module(info.name)
