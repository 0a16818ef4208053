"""References as data: one bibliography, cited by key or alias; plugins may bring entries."""

from __future__ import annotations

from typing import Any

import pytest

from kneerules import Engine, hookimpl
from kneerules.knowledge.bibliography import cited, source_problems
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.model.errors import RuleDataError
from kneerules.model.rules import Reference


class BringsAReference:
    """A Python plugin contributing one bibliography entry through kneerules_references."""

    name = "brings_a_reference"

    def __init__(self, key: str = "demo-2030") -> None:
        self.key = key

    @hookimpl
    def kneerules_references(self) -> list[Reference]:
        return [Reference(key=self.key, title="A demo study", authors="Demo A", year=2030,
                          doi="10.0000/demo", aliases=("Demo et al.",))]


def test_a_plugin_reference_joins_the_bibliography() -> None:
    """kneerules_references adds an entry that sources can then cite by alias."""
    engine = Engine(plugin_manager=get_plugin_manager(entry_points=False,
                                                      extra=[BringsAReference()]))
    refs = engine.knowledge.references
    assert refs["demo-2030"].plugin == "brings_a_reference"
    assert source_problems("Demo et al., 2030: a finding", refs) == []


def test_a_reference_key_is_unique_across_plugins() -> None:
    """A plugin may not redefine a core entry: a duplicate key is a rule-data error."""
    pm = get_plugin_manager(entry_points=False, extra=[BringsAReference("nice-ng158")])
    with pytest.raises(RuleDataError, match="duplicate reference"):
        Engine(plugin_manager=pm)


@pytest.mark.parametrize(("source", "keys"), [
    ("Pain Behind the Knee, 8. DVT: Safety Warning", ["pain-behind-the-knee"]),
    ("Pain Behind the Knee, 1. Bakers Cyst; Treating Back of Knee Pain",
     ["pain-behind-the-knee"]),
    ("policy-v2, rule 14; Stiell et al. 1995; Stiell et al. 1996",
     ["policy-v2", "stiell-1995", "stiell-1996"]),
    ("NICE NG158 1.1.1-1.1.4", ["nice-ng158"]),
    ("Wells et al., N Engl J Med 2003;349:1227-35", ["wells-2003"]),
])
def test_sources_resolve_to_their_entries(engine: Engine, source: str, keys: list[str]) -> None:
    """Citations resolve by key or alias, with detail after them, several per source."""
    assert source_problems(source, engine.knowledge.references) == []
    assert [r.key for r in cited(source, engine.knowledge.references)] == keys


@pytest.mark.parametrize(("source", "message"), [
    ("Pain Behind the Knee", "without one of its sections"),
    ("Pain Behind the Knee, 9. Gout", "without one of its sections"),
    ("Somebody, J Unknown 2020", "neither a bibliography entry"),
    ("NICE NG1580", "neither a bibliography entry"),
    ("", "empty"),
])
def test_uncited_sources_are_refused(engine: Engine, source: str, message: str) -> None:
    """A citation that names no entry (or no section of the clinical source) is a problem."""
    problems = source_problems(source, engine.knowledge.references)
    assert problems
    assert message in problems[0]


def test_every_entry_can_be_found(engine: Engine) -> None:
    """Each entry has a DOI or URL and is cited by at least one rule, advice or condition."""
    used: set[str] = set()
    items: list[Any] = [*engine.knowledge.rules, *engine.knowledge.advice.values(),
                        *engine.knowledge.conditions.values()]
    for item in items:
        used.update(r.key for r in cited(item.source, engine.knowledge.references))
    for ref in engine.knowledge.references.values():
        assert ref.doi or ref.url, ref.key
    unused = set(engine.knowledge.references) - used
    assert unused <= {"local-rule"}, unused
