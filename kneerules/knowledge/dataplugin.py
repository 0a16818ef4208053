"""Plugins whose clinical content is one YAML data file: every built-in plugin, and the usual
way to write one.

Each problem in a data file names the file, the rule (or other entry) and what is wrong;
nothing in a data file is ever executed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kneerules.hookspecs import hookimpl
from kneerules.knowledge.loading import read_data_file
from kneerules.model.converter import structure
from kneerules.model.errors import Problem, RuleDataError
from kneerules.model.messages import describe, did_you_mean
from kneerules.model.rules import (
    AdviceSpec,
    ConditionInfo,
    ConsiderationSpec,
    FactSpec,
    PluginData,
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
    """A plugin's data file, read, parsed, checked and stamped with ``plugin``."""
    return parse_plugin_data(read_data_file(resource), plugin, str(resource))


class DataPlugin:
    """Implements every contribution hook from one data file, read on first use.

    >>> plugin = DataPlugin.from_package(__name__, "my_condition.yaml")  # doctest: +SKIP
    """

    def __init__(self, name: str, data_file: Traversable | Path, version: str | None = None):
        self.name = name
        self.data_file = data_file
        self.version = version
        self._data: PluginData | None = None

    @classmethod
    def from_package(
        cls, package: str, filename: str, name: str | None = None, version: str | None = None
    ) -> DataPlugin:
        """The plugin for ``filename`` shipped inside ``package``; named after the package."""
        from importlib.resources import files

        return cls(name or package.rsplit(".", 1)[-1], files(package) / filename, version)

    @property
    def data(self) -> PluginData:
        if self._data is None:
            self._data = load_plugin_data(self.data_file, self.name)
        return self._data

    @hookimpl
    def kneerules_conditions(self) -> Sequence[ConditionInfo]:
        return self.data.conditions

    @hookimpl
    def kneerules_facts(self) -> Sequence[FactSpec]:
        return self.data.facts

    @hookimpl
    def kneerules_rules(self) -> Sequence[Rule]:
        return self.data.rules

    @hookimpl
    def kneerules_advice(self) -> Sequence[AdviceSpec]:
        return self.data.advice

    @hookimpl
    def kneerules_considerations(self) -> Sequence[ConsiderationSpec]:
        return self.data.considerations

    @hookimpl
    def kneerules_scores(self) -> Sequence[ScoreSpec]:
        return self.data.scores

    @hookimpl
    def kneerules_references(self) -> Sequence[Reference]:
        return self.data.references

    def __repr__(self) -> str:
        return f"<DataPlugin {self.name} from {self.data_file}>"


__all__ = ["DataPlugin", "load_plugin_data", "parse_plugin_data"]
