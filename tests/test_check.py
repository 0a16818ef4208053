"""`kneerules check` finds mistakes in rule data without evaluating a case."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kneerules.cli.lint import contradiction, lint
from kneerules.cli.main import main
from kneerules.knowledge.plugins import BUILTIN_PLUGINS
from kneerules.model.rules import AllOf, AnyOf, FactSpec, FactTest, NoneOf

ROOT = Path(__file__).resolve().parent.parent

GOOD_RULE = """
  - id: {id}
    priority: {priority}
    when: {when}
    then: {{evidence: {{demo: 3}}}}
    because: A reason a clinician can check.
    source: "Pain Behind the Knee, Summary"
"""

HEADER = """
conditions:
  - {id: demo, name: Demo, description: A demo condition., source: "Pain Behind the Knee"}
advice:
  - {id: demo.advice, condition: demo, kind: seek_care, text: See a doctor., source: "s"}
facts:
  - {name: demo.sign, kind: finding, meaning: a demo sign, question: Do you have the demo sign?}
  - {name: demo.derived, kind: conclusion, meaning: a demo conclusion}
rules:
"""


def rule(rule_id: str, when: str = "demo.sign", priority: int = 500) -> str:
    return GOOD_RULE.format(id=rule_id, priority=priority, when=when)


def run_check(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["check", *map(str, args)])


def write(tmp_path: Path, body: str, name: str = "demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_rule_set_is_clean() -> None:
    """With no PATH, the installed rule set is checked and has no problem (exit 0)."""
    result = run_check()
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.output


def test_clean_file_passes(tmp_path: Path) -> None:
    """A correct plugin file passes, checked together with the installed plugins."""
    path = write(tmp_path, HEADER + rule("demo.sign_rule"))
    result = run_check(path)
    assert result.exit_code == 0, result.output
    assert f"0 problems in {path}" in result.output


@pytest.mark.parametrize(("body", "where", "message"), [
    (HEADER + rule("demo.a") + rule("demo.a", "sign.locking"),
     'rule "demo.a"', "duplicate id, also in"),
    (HEADER + rule("general.locked_knee"), 'rule "general.locked_knee"',
     "duplicate id, also in"),
    (HEADER + rule("demo.uncited").replace('"Pain Behind the Knee, Summary"',
                                           '"Made Up et al., J Imag Med 2031"'),
     'rule "demo.uncited"', "neither a bibliography entry"),
    (HEADER + rule("demo.no_section").replace('"Pain Behind the Knee, Summary"',
                                              '"Pain Behind the Knee, Chapter 12"'),
     'rule "demo.no_section"', "without one of its sections"),
    (HEADER + rule("demo.typo", "sign.lockng"), 'rule "demo.typo"',
     'unknown fact "sign.lockng" (did you mean "sign.locking"'),
    (HEADER + rule("demo.contradiction", "{all: [demo.sign, {fact: demo.sign, is: false}]}"),
     'rule "demo.contradiction"',
     "can never fire: demo.sign and demo.sign is false cannot hold together"),
    (HEADER + rule("demo.empty_any", "{any: []}"), 'rule "demo.empty_any"',
     "can never fire: its condition has no alternative"),
    (HEADER + rule("demo.ages",
                   "{all: [{fact: patient.age, gte: 60}, {fact: patient.age, lt: 50}]}"),
     'rule "demo.ages"', "patient.age >= 60 and patient.age < 50 cannot hold together"),
    (HEADER + rule("demo.too_old", "{fact: patient.age, gt: 120}"), 'rule "demo.too_old"',
     "patient.age > 120 can never hold for a value of patient.age (0..120)"),
    (HEADER + rule("demo.excluded", "{all: [demo.sign, {none: [demo.sign]}]}"),
     'rule "demo.excluded"', "can never fire"),
    (HEADER + rule("demo.early", priority=10), 'rule "demo.early"',
     "priority 10 is outside 100..60000, the range of non-safety rules, which come after "
     "every safety rule"),
    (HEADER + rule("demo.a") + "    after: [demo.derived]\n", 'rule "demo.a"',
     'after: no rule derives "demo.derived", so this never fires'),
    (HEADER.replace("advice:\n  - {id: demo.advice, condition: demo,",
                    "advice:\n  - {id: demo.advice,") + rule("demo.a"),
     'condition "demo"', "no advice names this condition"),
    (HEADER, 'condition "demo"', "no rule gives it evidence"),
    (HEADER + rule("demo.a").replace("because: A reason a clinician can check.", 'because: ""'),
     'rule "demo.a"', "because is empty"),
    (HEADER + rule("demo.a").replace('    source: "Pain Behind the Knee, Summary"\n', ""),
     'rules[0] "demo.a".source', "is required"),
    (HEADER + rule("demo.long").replace(
        "then: {evidence: {demo: 3}}",
        "then: {evidence: {demo: 3}, triage: {level: urgent, message: '" + "x" * 140 + "'}}"),
     'rule "demo.long"', "triage message of 140 characters: a card summary must be under 140"),
])
def test_problem_is_reported_with_file_and_rule(tmp_path: Path, body: str, where: str,
                                                message: str) -> None:
    """Each kind of mistake exits 1 with a line naming the file, the entry and the problem."""
    path = write(tmp_path, body)
    result = run_check(path)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"{path}: {where}")]
    assert any(message in line for line in lines), result.stdout


def test_after_only_impossible_rules_derive(tmp_path: Path) -> None:
    """A rule waiting on a conclusion that only never-firing rules derive is reported too."""
    body = (HEADER
            + rule("demo.derives", "{all: [demo.sign, {fact: demo.sign, is: false}]}")
            + "    after: []\n").replace("then: {evidence: {demo: 3}}",
                                         "then: {derive: [demo.derived]}")
    body += rule("demo.waits") + "    after: [demo.derived]\n"
    result = run_check(write(tmp_path, body))
    assert result.exit_code == 1
    assert ('rule "demo.waits": can never fire: after "demo.derived", which only rules that '
            "can never fire derive (demo.derives)") in result.stdout


def test_folder_is_searched_and_file_replaces_installed_plugin(tmp_path: Path) -> None:
    """A folder's plugin files are found; a file named like an installed plugin replaces it."""
    shipped = (BUILTIN_PLUGINS / "bakers_cyst.yaml").read_text()
    project = tmp_path / "project" / "src"
    project.mkdir(parents=True)
    copy = write(project, shipped, "bakers_cyst.yaml")
    (project / "ci.yaml").write_text("jobs: {}\n")  # not plugin data: left alone
    result = run_check(tmp_path / "project")
    assert result.exit_code == 0, result.output
    assert f"0 problems in {copy} " in result.output


def test_folder_without_plugin_data_is_a_problem(tmp_path: Path) -> None:
    """A PATH holding no plugin data is reported, not silently accepted."""
    result = run_check(tmp_path)
    assert result.exit_code == 1
    assert "no plugin data file here" in result.stdout


def test_only_given_files_are_judged(tmp_path: Path) -> None:
    """With PATHs, problems of the installed plugins are not reported against the author."""
    report = lint([write(tmp_path, HEADER + rule("demo.a"))])
    assert report.problems == ()
    assert report.files == (str(tmp_path / "demo.yaml"),)


def test_missing_path_is_a_usage_error() -> None:
    """A PATH that does not exist is a usage error (exit 2) naming it."""
    result = run_check("no/such/plugin.yaml")
    assert result.exit_code == 2
    assert "no/such/plugin.yaml" in result.output


SPECS = {
    "x": FactSpec("x", "finding", "x"),
    "age": FactSpec("age", "field", "age", minimum=0, maximum=120, integer=True),
    "side": FactSpec("side", "field", "side", choices=("left", "right")),
}


@pytest.mark.parametrize("condition", [
    AllOf((FactTest("x"), FactTest("x", is_="unknown"))),
    AllOf((FactTest("age", gt=10), FactTest("age", lt=11))),  # no whole year between
    AllOf((FactTest("side", equals="left"), FactTest("side", equals="right"))),
    AnyOf(()),
    AllOf((FactTest("x"), NoneOf((FactTest("x", is_="known"),)))),
])
def test_contradictions_found(condition: AllOf | AnyOf) -> None:
    """Conditions no case can satisfy are recognised."""
    assert contradiction(condition, SPECS) is not None


@pytest.mark.parametrize("condition", [
    AllOf((FactTest("x", is_=False), FactTest("x", is_="known"))),
    AllOf((FactTest("age", gte=10), FactTest("age", lte=10))),
    AnyOf((AllOf((FactTest("x"), FactTest("x", is_=False))), FactTest("side", equals="left"))),
    NoneOf((FactTest("x"),)),
    AllOf(()),
])
def test_satisfiable_conditions_pass(condition: AllOf | AnyOf | NoneOf) -> None:
    """Conditions some case satisfies are never reported."""
    assert contradiction(condition, SPECS) is None


def test_a_plugin_may_bring_its_own_reference(tmp_path: Path) -> None:
    """A rule citing a reference its own file declares (by alias) passes the check."""
    refs = ("references:\n  - {key: demo-2020, aliases: [Demo et al.], title: Demo,"
            " authors: A Demo, year: 2020, url: 'https://example.org/demo'}\n")
    body = refs + HEADER + rule("demo.cites_own").replace('"Pain Behind the Knee, Summary"',
                                                          '"Demo et al., 2020: the sign"')
    result = run_check(write(tmp_path, body))
    assert result.exit_code == 0, result.output
