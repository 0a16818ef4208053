"""Reading clinical data files (YAML) into :mod:`kneerules.ruledata` objects.

Each problem names the file, the rule (or other entry) and what is wrong;
nothing in a data file is ever executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import attrs
import yaml

from kneerules.convert import describe, did_you_mean, structure
from kneerules.errors import Problem, RuleDataError, RulesetError
from kneerules.ruledata import (
    LEVELS,
    AdviceSpec,
    ConditionInfo,
    ConsiderationSpec,
    FactSpec,
    PluginData,
    Reference,
    Rule,
    ScoreSpec,
)

# libyaml's C loader is several times faster; fall back where it was not built.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SECTIONS: dict[str, type] = {
    "conditions": ConditionInfo,
    "facts": FactSpec,
    "rules": Rule,
    "advice": AdviceSpec,
    "considerations": ConsiderationSpec,
    "scores": ScoreSpec,
    "references": Reference,
}


def read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleDataError([Problem(where, f"not valid YAML: {problem}")], source) from None


def read_text(resource: Traversable | Path) -> str:
    try:
        return resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleDataError([Problem("$", f"cannot read the file: {exc}")], str(resource)) from None


def _entry_label(section: str, index: int, entry: Any) -> str:
    if isinstance(entry, Mapping) and isinstance(entry.get("id") or entry.get("name"), str):
        return f'{section}[{index}] "{entry.get("id") or entry.get("name")}"'
    return f"{section}[{index}]"


def parse_plugin_data(data: Any, plugin: str, source: str) -> PluginData:
    """Validates a plugin's data (already parsed from YAML) and stamps it with ``plugin``."""
    if not isinstance(data, Mapping):
        raise RuleDataError([Problem("$", f"expected a mapping, got {describe(data)}")], source)
    problems: list[Problem] = []
    for key in data:
        if key not in _SECTIONS:
            hint = did_you_mean(str(key), _SECTIONS)
            problems.append(Problem(str(key), f"unknown section{hint}"))
    sections: dict[str, tuple[Any, ...]] = {}
    for section, item_type in _SECTIONS.items():
        entries = data.get(section) or []
        if not isinstance(entries, list):
            problems.append(Problem(section, f"expected a list, got {describe(entries)}"))
            continue
        parsed: list[Any] = []
        for index, entry in enumerate(entries):
            label = _entry_label(section, index, entry)
            obj, found = structure(entry, item_type, path=label)
            problems += found
            if obj is not None:
                parsed.append(attrs.evolve(obj, plugin=plugin))
        sections[section] = tuple(parsed)
    if problems:
        raise RuleDataError(problems, source)
    return PluginData(**sections)


def load_plugin_data(resource: Traversable | Path, plugin: str) -> PluginData:
    source = str(resource)
    return parse_plugin_data(read_yaml(read_text(resource), source), plugin, source)


@attrs.frozen
class RulesetSpec:
    """A named rule set: which plugins make it up and how results are graded."""

    name: str
    version: str
    description: str
    safety: str
    plugins: tuple[str, ...]
    essential: tuple[str, ...] = ()
    external_plugins: bool = True
    likely_at: float = 5.0
    possible_at: float = 2.0
    leading: int = 3
    source: str = ""


def load_ruleset(resource: Traversable | Path) -> RulesetSpec:
    source = str(resource)
    data = read_yaml(read_text(resource), source)
    spec, problems = structure(data, RulesetSpec, path="$")
    if spec is not None:
        if spec.safety not in spec.plugins:
            problems.append(Problem("$.safety", f'"{spec.safety}" is not in plugins'))
        problems += [
            Problem("$.essential", f'"{name}" is not in plugins')
            for name in spec.essential
            if name not in spec.plugins
        ]
        if not spec.possible_at < spec.likely_at:
            problems.append(Problem("$.possible_at", "must be below likely_at"))
    if problems or spec is None:
        raise RuleDataError(problems, source)
    from kneerules.policy import POLICY_FLOOR

    missing = [name for name in POLICY_FLOOR if name not in spec.plugins]
    if missing:
        raise RulesetError(
            f"rule set {spec.name!r} ({source}) leaves out the triage policy floor: "
            f"{', '.join(missing)}. Every rule set must list these plugins, which hold "
            f"triage policy v2: {', '.join(POLICY_FLOOR)}")
    return attrs.evolve(spec, source=source)


__all__ = ["LEVELS", "RulesetSpec", "load_plugin_data", "load_ruleset", "parse_plugin_data"]
