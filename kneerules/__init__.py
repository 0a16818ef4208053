"""kneerules: a plugin-based clinical rules engine that triages pain behind the knee.

>>> from kneerules import Engine
>>> Engine().evaluate({"findings": {"pain.behind_knee": True}}).triage.level
'routine'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from kneerules.hookspecs import hookimpl
from kneerules.model.version import __version__


def lazy_exports(package: str, table: Mapping[str, str],
                 namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``table`` (name ->
    defining module) on first use and keeps it in ``namespace`` (the package's globals):
    importing ``kneerules`` or an integration stays light (PEP 562)."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


# The public names, listed once: name -> the module that defines it. Heavy modules
# (durable-rules, cattrs) load on first use, so that a plugin importing ``hookimpl``
# or a CLI command that needs no engine starts fast. A test checks that this table,
# the TYPE_CHECKING block below and ``__all__`` agree.
_LAZY = {
    # evaluating cases
    "Engine": "kneerules.engine",
    "EngineConfig": "kneerules.knowledge.config",
    "Case": "kneerules.model.records",
    "Patient": "kneerules.model.records",
    "Assessment": "kneerules.model.records",
    "FactValue": "kneerules.model.records",
    "to_dict": "kneerules.model.converter",
    "to_json": "kneerules.model.converter",
    # writing plugins
    "DataPlugin": "kneerules.knowledge.dataplugin",
    "AdviceSpec": "kneerules.model.rules",
    "ConditionInfo": "kneerules.model.rules",
    "ConsiderationSpec": "kneerules.model.rules",
    "FactSpec": "kneerules.model.rules",
    "Rule": "kneerules.model.rules",
    "ScoreSpec": "kneerules.model.rules",
    "get_plugin_manager": "kneerules.knowledge.plugins",
    # errors
    "KneerulesError": "kneerules.model.errors",
    "CaseError": "kneerules.model.errors",
    "PluginError": "kneerules.model.errors",
    "SafetyError": "kneerules.model.errors",
    "RuleDataError": "kneerules.model.errors",
    "RulesetError": "kneerules.model.errors",
    "EngineError": "kneerules.model.errors",
    "Problem": "kneerules.model.errors",
}

if TYPE_CHECKING:
    from kneerules.engine import Engine
    from kneerules.knowledge.config import EngineConfig
    from kneerules.knowledge.dataplugin import DataPlugin
    from kneerules.knowledge.plugins import get_plugin_manager
    from kneerules.model.converter import to_dict, to_json
    from kneerules.model.errors import (
        CaseError,
        EngineError,
        KneerulesError,
        PluginError,
        Problem,
        RuleDataError,
        RulesetError,
        SafetyError,
    )
    from kneerules.model.records import Assessment, Case, FactValue, Patient
    from kneerules.model.rules import (
        AdviceSpec,
        ConditionInfo,
        ConsiderationSpec,
        FactSpec,
        Rule,
        ScoreSpec,
    )


__getattr__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "AdviceSpec",
    "Assessment",
    "Case",
    "CaseError",
    "ConditionInfo",
    "ConsiderationSpec",
    "DataPlugin",
    "Engine",
    "EngineConfig",
    "EngineError",
    "FactSpec",
    "FactValue",
    "KneerulesError",
    "Patient",
    "PluginError",
    "Problem",
    "Rule",
    "RuleDataError",
    "RulesetError",
    "SafetyError",
    "ScoreSpec",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "to_dict",
    "to_json",
]
