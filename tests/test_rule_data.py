"""The clinical content as data: ids, reasons, sources, and no rule on an undeclared fact."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kneerules import Engine
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.model.errors import RuleDataError
from kneerules.model.rules import walk_tests

CONDITIONS = {
    # id: commonness rank (Summary: "The most common causes ... are a bakers cyst, meniscus
    # tear, ligament sprain and hamstring injuries", then the order of the source's listing)
    "bakers_cyst": 1,
    "meniscus_tear": 2,
    "ligament_sprain": 3,
    "hamstring_injury": 4,
    "calf_tear": 5,
    "knee_arthritis": 6,
    "hyperextended_knee": 7,
    "dvt": 8,
}
CONDITION_PLUGINS = sorted(set(CONDITIONS) - {"dvt"})

def test_every_rule_has_id_because_and_source(engine: Engine) -> None:
    """Every rule of every plugin has an id, a plain-language because and a source."""
    rules = engine.knowledge.rules
    assert len(rules) > 100
    for rule in rules:
        assert re.fullmatch(r"[a-z_]+\.[a-z0-9_]+", rule.id), rule.id
        assert rule.id.startswith(rule.plugin + "."), f"{rule.id} is not named after {rule.plugin}"
        assert len(rule.because.split()) >= 5, f"{rule.id}: because too short to explain"
        assert rule.source.strip(), f"{rule.id}: no source"


def test_every_source_cites_the_bibliography(engine: Engine) -> None:
    """Rule, advice and condition sources cite a bibliography entry or a clinical section."""
    from kneerules.knowledge.bibliography import source_problems

    sources = [(r.id, r.source) for r in engine.knowledge.rules]
    sources += [(a.id, a.source) for a in engine.knowledge.advice.values()]
    sources += [(c.id, c.source) for c in engine.knowledge.conditions.values()]
    bad = [(item, problems) for item, source in sources
           if (problems := source_problems(source, engine.knowledge.references))]
    assert not bad, bad


def test_every_reference_has_a_doi_or_url(engine: Engine) -> None:
    """Each bibliography entry names its authors, title and a DOI or URL (a year where known)."""
    for ref in engine.knowledge.references.values():
        assert ref.title, ref.key
        assert ref.authors, ref.key
        assert ref.doi or ref.url, ref.key


def test_every_rule_reads_only_declared_facts(engine: Engine) -> None:
    """Every fact a rule tests, and every conclusion it builds on, is declared by some plugin."""
    facts = engine.knowledge.facts
    derived = {name for rule in engine.knowledge.rules for name in rule.then.derive}
    for rule in engine.knowledge.rules:
        for test in walk_tests(rule.when):
            assert test.fact in facts, f"{rule.id} tests undeclared {test.fact}"
        for name in rule.after:
            assert facts[name].kind == "conclusion", f"{rule.id}: {name} is not a conclusion"
            assert name in derived, f"{rule.id}: nothing derives {name}"


def test_the_eight_conditions_with_their_commonness(engine: Engine) -> None:
    """Each of the eight conditions is contributed by its own plugin with the source's rank."""
    conditions = engine.knowledge.conditions
    for condition, rank in CONDITIONS.items():
        assert conditions[condition].plugin == condition
        assert conditions[condition].commonness == rank, condition


@pytest.mark.parametrize("plugin", CONDITION_PLUGINS)
def test_condition_plugin_has_evidence_for_and_against(engine: Engine, plugin: str) -> None:
    """Each condition plugin weighs findings both for and against its condition."""
    weights = [w for r in engine.knowledge.rules if r.plugin == plugin
               for c, w in r.then.evidence if c == plugin]
    assert any(w > 0 for w in weights), weights
    assert any(w < 0 for w in weights), weights
    recorded_absent = [r.id for r in engine.knowledge.rules if r.plugin == plugin
                       and any(t.is_ is False for t in walk_tests(r.when))]
    assert recorded_absent, f"{plugin}: no rule counts a finding recorded absent"


@pytest.mark.parametrize("plugin", CONDITION_PLUGINS)
def test_condition_plugins_never_set_triage(engine: Engine, plugin: str) -> None:
    """Evidence rules leave the triage level to the policy of the general and dvt plugins."""
    assert not [r.id for r in engine.knowledge.rules if r.plugin == plugin and r.then.triage]


@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_every_condition_has_advice(engine: Engine, condition: str) -> None:
    """Every condition has advice of its own, each piece with a source."""
    advice = [a for a in engine.knowledge.advice.values() if a.condition == condition]
    assert advice
    assert all(a.source.strip() and a.text.strip() for a in advice)


BAD_RULE = """
conditions:
  - {id: bad_condition, name: Bad, description: A test condition., source: "Test"}
rules:
  - id: bad_rules.swollen
    priority: 500
    when: {RULE_WHEN}
    then:
      evidence: {bad_condition: 1}
    because: {BECAUSE}
    source: "Test source"
"""


@pytest.fixture
def bad_plugin(tmp_path: Path) -> Callable[..., DataPlugin]:
    """A factory for a one-rule plugin written to a temporary YAML file."""

    def make(when: str = "sign.knee_swelling", because: str = "A reason in plain words.") -> Any:
        path = tmp_path / "bad_rules.yaml"
        path.write_text(BAD_RULE.replace("{RULE_WHEN}", when).replace("{BECAUSE}", because),
                        encoding="utf-8")
        return DataPlugin("bad_rules", path)

    return make


def test_good_one_rule_plugin_loads(make_engine: Any, bad_plugin: Any) -> None:
    """The one-rule test plugin loads when its rule is sound (so the failures below mean it)."""
    engine = make_engine(plugins=[bad_plugin()])
    assert "bad_rules.swollen" in {r.id for r in engine.knowledge.rules}


def test_rule_on_undeclared_fact_is_refused(make_engine: Any, bad_plugin: Any) -> None:
    """A rule testing a fact that no plugin declares stops the engine, naming rule and fact."""
    with pytest.raises(RuleDataError) as caught:
        make_engine(plugins=[bad_plugin(when="sign.knee_sweling")])
    message = str(caught.value)
    assert "bad_rules.swollen" in message
    assert 'unknown fact "sign.knee_sweling"' in message
    assert "sign.knee_swelling" in message  # the closest valid name


def test_rule_after_undeclared_conclusion_is_refused(make_engine: Any, bad_plugin: Any) -> None:
    """A rule building on a conclusion no plugin declares stops the engine."""
    plugin = bad_plugin(when="sign.knee_swelling\n    after: [bad_rules.nothing]")
    with pytest.raises(RuleDataError, match="not a declared conclusion"):
        make_engine(plugins=[plugin])


def test_rule_with_empty_because_is_refused(make_engine: Any, bad_plugin: Any) -> None:
    """A rule whose because is blank stops the engine."""
    with pytest.raises(RuleDataError, match="because is empty"):
        make_engine(plugins=[bad_plugin(because='"  "')])


def test_rule_without_source_is_refused(make_engine: Any, tmp_path: Path) -> None:
    """A rule that lacks a source stops the engine, naming the missing field."""
    path = tmp_path / "no_source.yaml"
    path.write_text(
        "rules:\n"
        "  - id: no_source.rule\n"
        "    priority: 500\n"
        "    when: sign.knee_swelling\n"
        "    then: {consider: [referred_pain]}\n"
        "    because: A reason in plain words.\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleDataError, match="source"):
        make_engine(plugins=[DataPlugin("no_source", path)])
