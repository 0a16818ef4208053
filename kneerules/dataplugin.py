"""A plugin whose clinical content is one YAML data file: the usual way to write one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kneerules.datafiles import package_files
from kneerules.hookspecs import hookimpl
from kneerules.plugindata import load_plugin_data
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
        return cls(name or package.rsplit(".", 1)[-1], package_files(package) / filename,
                   version)

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

    @hookimpl
    def kneerules_questions(self) -> Sequence[QuestionSpec]:
        return self.data.questions

    def __repr__(self) -> str:
        return f"<DataPlugin {self.name} from {self.data_file}>"
