"""kneerules: a plugin-based clinical rules engine that triages pain behind the knee.

>>> from kneerules import Engine
>>> Engine().evaluate({"findings": {"pain.behind_knee": True}}).triage.level
'routine'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kneerules.hookspecs import hookimpl
from kneerules.lazy import lazy_exports
from kneerules.version import __version__

# The public names, listed once: name -> the module that defines it. Heavy modules
# (durable-rules, cattrs) load on first use, so that a plugin importing ``hookimpl``
# or a CLI command that needs no engine starts fast. A test checks that this table,
# the TYPE_CHECKING block below and ``__all__`` agree.
_LAZY = {
    # evaluating cases
    "Engine": "kneerules.engine",
    "EngineConfig": "kneerules.config",
    "Case": "kneerules.model",
    "Patient": "kneerules.model",
    "Assessment": "kneerules.model",
    "FactValue": "kneerules.model",
    "to_dict": "kneerules.converter",
    "to_json": "kneerules.converter",
    # writing plugins
    "DataPlugin": "kneerules.dataplugin",
    "AdviceSpec": "kneerules.ruledata",
    "ConditionInfo": "kneerules.ruledata",
    "ConsiderationSpec": "kneerules.ruledata",
    "FactSpec": "kneerules.ruledata",
    "Rule": "kneerules.ruledata",
    "ScoreSpec": "kneerules.ruledata",
    "get_plugin_manager": "kneerules.pluginmanager",
    # errors
    "KneerulesError": "kneerules.errors",
    "CaseError": "kneerules.errors",
    "PluginError": "kneerules.errors",
    "SafetyError": "kneerules.errors",
    "RuleDataError": "kneerules.errors",
    "RulesetError": "kneerules.errors",
    "EngineError": "kneerules.errors",
    "NotTriaged": "kneerules.errors",
    "Problem": "kneerules.errors",
}

if TYPE_CHECKING:
    from kneerules.config import EngineConfig
    from kneerules.converter import to_dict, to_json
    from kneerules.dataplugin import DataPlugin
    from kneerules.engine import Engine
    from kneerules.errors import (
        CaseError,
        EngineError,
        KneerulesError,
        NotTriaged,
        PluginError,
        Problem,
        RuleDataError,
        RulesetError,
        SafetyError,
    )
    from kneerules.model import Assessment, Case, FactValue, Patient
    from kneerules.pluginmanager import get_plugin_manager
    from kneerules.ruledata import (
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
    "NotTriaged",
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
