"""A plugin's faulty rule file is refused at load time, naming the file, the rule and the fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kneerules import Engine
from kneerules.cli.main import main
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.model.errors import RuleDataError

HEAD = """\
conditions:
  - {id: extra_cond, name: Extra condition, description: d, source: "s", commonness: 50}
"""

GOOD_RULE = """\
  - id: extra.red_knee
    priority: 500
    when: sign.redness
    then: {evidence: {extra_cond: 1}}
    because: The skin is red.
    source: "Pain Behind the Knee, 2. Baker's Cyst"
"""


def _rule(**fields: str | None) -> str:
    """GOOD_RULE with some lines replaced (value "") or removed (value None)."""
    lines = GOOD_RULE.splitlines()
    out = []
    for line in lines:
        key = line.strip().removeprefix("- ").split(":", 1)[0]
        if key in fields:
            if fields[key] is None:
                continue
            prefix = "  - " if line.startswith("  - ") else "    "
            line = f"{prefix}{key}: {fields[key]}"
        out.append(line)
    return "\n".join(out) + "\n"


def _plugin(tmp_path: Path, body: str, name: str = "extra") -> DataPlugin:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body)
    return DataPlugin(name, path)


def _refusal(tmp_path: Path, body: str) -> RuleDataError:
    with pytest.raises(RuleDataError) as caught:
        Engine(plugins=[_plugin(tmp_path, body)])
    return caught.value


BROKEN: list[tuple[str, str, str]] = [
    ("unknown fact", HEAD + "rules:\n" + _rule(when="sign.redess"),
     'rule "extra.red_knee": unknown fact "sign.redess" (did you mean "sign.redness"?)'),
    ("unknown fact deep in a group",
     HEAD + "rules:\n" + _rule(when="{all: [sign.redness, {any: [sign.warmth, pain.calff]}]}"),
     'rule "extra.red_knee": unknown fact "pain.calff" (did you mean "pain.calf"?)'),
    ("unknown operator", HEAD + "rules:\n" + _rule(when="{fact: calf_swelling_cm, greater: 3}"),
     'rules[0] "extra.red_knee".when.greater: unknown operator "greater" (did you mean "gte"?)'),
    ("is: maybe", HEAD + "rules:\n" + _rule(when="{fact: sign.redness, is: maybe}"),
     'rules[0] "extra.red_knee".when.is: expected true, false, unknown or known, got "maybe"'),
    ("comparison on a finding", HEAD + "rules:\n" + _rule(when="{fact: sign.redness, gt: 1}"),
     'rule "extra.red_knee": "sign.redness" is not a number; gt/gte/lt/lte cannot apply'),
    ("two operators", HEAD + "rules:\n" + _rule(when="{fact: side, equals: left, is: known}"),
     'rules[0] "extra.red_knee".when: use only one of is, equals, in, or comparisons'),
    ("missing because", HEAD + "rules:\n" + _rule(because=None),
     'rules[0] "extra.red_knee".because: is required'),
    ("missing source", HEAD + "rules:\n" + _rule(source=None),
     'rules[0] "extra.red_knee".source: is required'),
    ("blank because", HEAD + "rules:\n" + _rule(because='"  "'),
     'rule "extra.red_knee": because is empty: say why, in plain language'),
    ("empty source", HEAD + "rules:\n" + _rule(source='""'),
     'rule "extra.red_knee": source is empty: name the section or guideline'),
    ("duplicate id across plugins", HEAD + "rules:\n" + _rule(id="general.new_pain_review"),
     'rule "general.new_pain_review": duplicate rule id: plugin "general" ('),
    ("duplicate id in one file", HEAD + "rules:\n" + GOOD_RULE + GOOD_RULE,
     'rule "extra.red_knee": duplicate rule id: this plugin already defines it'),
    ("priority in the safety range", HEAD + "rules:\n" + _rule(priority="50"),
     'rule "extra.red_knee": priority 50 is outside 100..'),
    ("evidence for an unknown condition", HEAD + "rules:\n" + _rule(then="{evidence: {dvtt: 1}}"),
     'rule "extra.red_knee": evidence for unknown condition "dvtt"'),
    ("a policy rule number outside the message precedence",
     HEAD + "rules:\n" + GOOD_RULE + '    policy: "1x"\n',
     'rule "extra.red_knee": policy: "1x" is not a rule of the triage policy\'s message'),
    ("an R1 lead for an unknown condition",
     HEAD + "rules:\n" + _rule(then="{leads: {rank: 1, conditions: [dvtt]}}"),
     'rule "extra.red_knee": leads: unknown condition "dvtt"'),
    ("triage a string", HEAD + "rules:\n" + _rule(then="{triage: urgent}"),
     'rules[0] "extra.red_knee".then.triage: expected an object, got "urgent"'),
    ("unknown rule field", HEAD + "rules:\n" + GOOD_RULE + "    sources: x\n",
     'rules[0] "extra.red_knee".sources: unknown field (did you mean "source"?)'),
    ("rule a string", HEAD + "rules:\n  - extra.red_knee\n",
     'rules[0]: expected an object, got "extra.red_knee"'),
    ("rules not a list", HEAD + "rules: {id: x}\n", 'rules: expected a list, got {"id": "x"}'),
    ("unknown section", HEAD + "rulez: []\n", 'rulez: unknown section (did you mean "rules"?)'),
    ("invalid YAML", HEAD + "rules:\n  - id: [unclosed\n",
     "line 5, column 1: not valid YAML: did not find expected ',' or ']'"),
]


@pytest.mark.parametrize(("body", "fragment"), [row[1:] for row in BROKEN],
                         ids=[row[0] for row in BROKEN])
def test_broken_rule_file_is_refused_naming_file_and_rule(tmp_path: Path, body: str,
                                                          fragment: str) -> None:
    """Loading fails with a RuleDataError whose line names the file, the rule and the fault."""
    error = _refusal(tmp_path, body)
    source = str(tmp_path / "extra.yaml")
    assert error.source == source
    assert f"  {source}: {fragment}" in str(error)


def test_every_fault_in_a_file_is_listed(tmp_path: Path) -> None:
    """Several faulty rules in one file: all are reported in one error, none dropped."""
    body = (HEAD + "rules:\n" + GOOD_RULE
            + _rule(id="extra.two", because=None, source=None)
            + _rule(id="extra.three", when="{fact: bmi, above: 30}"))
    error = _refusal(tmp_path, body)
    found = [str(p) for p in error.problems]
    assert found == [
        'rules[1] "extra.two".because: is required',
        'rules[1] "extra.two".source: is required',
        'rules[2] "extra.three".when.above: unknown operator "above"',
    ]


def test_cross_plugin_checks_run_once_the_file_parses(tmp_path: Path) -> None:
    """An unknown fact and a duplicate id in one file are reported together."""
    body = (HEAD + "rules:\n" + _rule(when="sign.redess")
            + _rule(id="general.new_pain_review"))
    messages = [p.message for p in _refusal(tmp_path, body).problems]
    assert len(messages) == 2
    assert messages[0].startswith('duplicate rule id: plugin "general"')
    assert messages[1].startswith('unknown fact "sign.redess"')


def test_good_rule_file_loads_and_its_rule_fires(tmp_path: Path) -> None:
    """The fixture rule file itself is valid: its rule fires on a matching case."""
    engine = Engine(plugins=[_plugin(tmp_path, HEAD + "rules:\n" + GOOD_RULE)])
    assessment = engine.evaluate({"findings": {"pain.behind_knee": True, "sign.redness": True}})
    assert "extra_cond" in [e.condition for e in assessment.differential]


def test_cli_refuses_a_broken_plugin_without_traceback(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """kneerules eval with an installed plugin whose rule file is broken exits 1, naming it."""
    broken = _plugin(tmp_path, HEAD + "rules:\n" + _rule(when="sign.redess"))

    def with_broken(**kwargs: Any) -> Any:
        return get_plugin_manager(**{**kwargs, "extra": [broken]})

    # As if the broken plugin were installed: the engine discovers it with the others.
    monkeypatch.setattr("kneerules.engine.get_plugin_manager", with_broken)
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"findings": {"pain.behind_knee": True}}))
    result = CliRunner().invoke(main, ["eval", str(case)])
    assert result.exit_code == 1
    assert f'{tmp_path / "extra.yaml"}: rule "extra.red_knee": unknown fact "sign.redess"' in (
        result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
