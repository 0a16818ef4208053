"""Reading a plugin's clinical data file (YAML) into :mod:`kneerules.ruledata` objects.

Each problem names the file, the rule (or other entry) and what is wrong;
nothing in a data file is ever executed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kneerules.converter import structure
from kneerules.datacache import cached
from kneerules.datafiles import decoded, read_bytes, read_text, read_yaml
from kneerules.errors import Problem, RuleDataError
from kneerules.messages import describe, did_you_mean
from kneerules.ruledata import (
    AdviceSpec,
    ConditionInfo,
    ConsiderationSpec,
    FactSpec,
    PluginData,
    QuestionSpec,
    Reference,
    Rule,
    ScoreSpec,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

_SECTIONS: dict[str, type] = {
    "conditions": ConditionInfo,
    "facts": FactSpec,
    "rules": Rule,
    "advice": AdviceSpec,
    "considerations": ConsiderationSpec,
    "scores": ScoreSpec,
    "references": Reference,
    "questions": QuestionSpec,
}


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
    """A plugin's data file, validated and stamped with ``plugin``; the result is kept in
    the data cache (:mod:`kneerules.datacache`), keyed by the file's bytes."""
    source = str(resource)
    content = read_bytes(resource)
    text = decoded(content) if content is not None else None
    if content is None or text is None:
        # Unreadable or not UTF-8: the reader raises its error naming the file.
        return _parse_text(read_text(resource), plugin, source)
    return cached(PluginData, content, lambda: _parse_text(text, plugin, source),
                  plugin, source)


def _parse_text(text: str, plugin: str, source: str) -> PluginData:
    return parse_plugin_data(read_yaml(text, source), plugin, source)


__all__ = ["load_plugin_data", "parse_plugin_data"]
