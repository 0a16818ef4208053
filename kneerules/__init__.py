"""kneerules: a plugin-based clinical rules engine that triages pain behind the knee.

>>> from kneerules import Engine
>>> Engine().evaluate({"findings": {"pain.behind_knee": True}}).triage.level
'routine'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kneerules.hookspecs import hookimpl

__version__ = "0.1.0"

# Heavy modules (durable-rules, cattrs) load on first use, so that a plugin
# importing ``hookimpl`` or a CLI command that needs no engine starts fast.
_LAZY = {
    "Engine": "kneerules.engine",
    "Case": "kneerules.model",
    "Patient": "kneerules.model",
    "Assessment": "kneerules.model",
    "DataPlugin": "kneerules.dataplugin",
    "KneerulesError": "kneerules.errors",
    "CaseError": "kneerules.errors",
    "PluginError": "kneerules.errors",
    "SafetyError": "kneerules.errors",
    "RuleDataError": "kneerules.errors",
    "RulesetError": "kneerules.errors",
    "EngineError": "kneerules.errors",
    "Problem": "kneerules.errors",
    "get_plugin_manager": "kneerules.plugins",
}

if TYPE_CHECKING:
    from kneerules.dataplugin import DataPlugin
    from kneerules.engine import Engine
    from kneerules.errors import (
        CaseError,
        EngineError,
        KneerulesError,
        PluginError,
        Problem,
        RuleDataError,
        RulesetError,
        SafetyError,
    )
    from kneerules.model import Assessment, Case, Patient
    from kneerules.plugins import get_plugin_manager


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kneerules' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Assessment",
    "Case",
    "CaseError",
    "DataPlugin",
    "Engine",
    "EngineError",
    "KneerulesError",
    "Patient",
    "PluginError",
    "Problem",
    "RuleDataError",
    "RulesetError",
    "SafetyError",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
]
