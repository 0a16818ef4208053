"""Fuzz target: bytes -> a plugin data file or a rule-set file -> a built engine.

A file is refused with a :class:`KneerulesError` (a located problem) or loads; loaded
plugin data is then checked with the shipped plugins and compiled into durable-rules.
Any other exception, a crash, a hang or runaway memory is a finding.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import atheris

from fuzz.instrument import instrument_kneerules

instrument_kneerules()

from kneerules import Engine, KneerulesError, hookimpl  # noqa: E402
from kneerules.knowledge.dataplugin import parse_plugin_data  # noqa: E402
from kneerules.knowledge.loading import read_yaml  # noqa: E402
from kneerules.knowledge.plugins import get_plugin_manager  # noqa: E402
from kneerules.knowledge.rulesets import load_ruleset  # noqa: E402
from kneerules.model.rules import PluginData  # noqa: E402

FOLDER = Path(tempfile.mkdtemp(prefix="kneerules-fuzz-"))


class FuzzedPlugin:
    """A plugin contributing whatever the fuzzed file held."""

    name = "fuzzed"

    def __init__(self, data: PluginData) -> None:
        self.data = data

    @hookimpl
    def kneerules_facts(self) -> Sequence[Any]:
        return self.data.facts

    @hookimpl
    def kneerules_conditions(self) -> Sequence[Any]:
        return self.data.conditions

    @hookimpl
    def kneerules_rules(self) -> Sequence[Any]:
        return self.data.rules

    @hookimpl
    def kneerules_advice(self) -> Sequence[Any]:
        return self.data.advice

    @hookimpl
    def kneerules_considerations(self) -> Sequence[Any]:
        return self.data.considerations

    @hookimpl
    def kneerules_scores(self) -> Sequence[Any]:
        return self.data.scores


def check(raw: bytes) -> None:
    if not raw:
        return
    as_ruleset, body = raw[0] % 4 == 0, raw[1:]
    text = body.decode("utf-8", "replace")
    try:
        if as_ruleset:
            path = FOLDER / "fuzzed.yaml"
            path.write_bytes(body)
            load_ruleset(path)
            return
        data = parse_plugin_data(read_yaml(text, "fuzzed.yaml"), "fuzzed", "fuzzed.yaml")
        engine = Engine(plugin_manager=get_plugin_manager(
            entry_points=False, extra=[FuzzedPlugin(data)]))
        engine.evaluate({"findings": {"pain.behind_knee": True}})
    except KneerulesError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
