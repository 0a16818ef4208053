"""`kneerules book`: the rule book is generated from the loaded rule set (every rule,
condition, score, advice, hazard), and `--diff` shows exactly what changed between two
releases. The page in a real browser is tested in test_pages.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.book.build import make_book, read_book, write_book
from kneerules.book.data import book_data, content_hash, fact_test_words, flat_text
from kneerules.book.diff import diff_books, diff_text, is_empty
from kneerules.book.page import render_book
from kneerules.cli.main import main
from kneerules.knowledge.base import KnowledgeBase
from kneerules.model.rules import TIMEFRAMES, FactSpec, FactTest, Rule, TriageSpec

ROOT = Path(__file__).resolve().parent.parent
HAZARD_LOG = ROOT / "docs" / "safety" / "hazard-log.yaml"
KNEERULES = str(Path(sys.executable).parent / "kneerules")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    """The installed default rule set, loaded."""
    return Engine().knowledge


@pytest.fixture(scope="module")
def book(kb: KnowledgeBase) -> dict[str, Any]:
    """The book's data for the installed rule set and the repository's hazard log."""
    return make_book(kb, HAZARD_LOG)


def moved_copy(kb: KnowledgeBase) -> tuple[KnowledgeBase, Rule, str]:
    """A copy of the rule set with one rule's timeframe changed (to another of the same
    level, and then to one of another level), the rule, and its new timeframe."""
    rule = next(r for r in kb.rules if r.then.triage is not None
                and r.then.triage.timeframe == "today")
    moved = attrs.evolve(rule, then=attrs.evolve(
        rule.then, triage=TriageSpec(timeframe="within_48_hours",
                                     message=rule.then.triage.message)))  # type: ignore[union-attr]
    rules = tuple(moved if r.id == rule.id else r for r in kb.rules)
    return attrs.evolve(kb, rules=rules), rule, "within_48_hours"


def test_the_book_holds_everything_loaded(kb: KnowledgeBase, book: dict[str, Any]) -> None:
    """Every rule, condition, score, advice, plugin and hazard of the loaded data is in it."""
    assert [r["id"] for r in book["rules"]] == [r.id for r in kb.rules]
    assert {c["id"] for c in book["conditions"]} == set(kb.conditions)
    assert [s["id"] for s in book["scores"]] == [s.id for s in kb.scores]
    assert {a["id"] for a in book["advice"]} == set(kb.advice)
    assert [p["name"] for p in book["plugins"]] == [p.name for p in kb.plugins]
    import yaml

    log = yaml.safe_load(HAZARD_LOG.read_text(encoding="utf-8"))["hazards"]
    assert [h["id"] for h in book["hazards"]] == [h["id"] for h in log]
    assert all(book["tests"][t] for h in log for t in h["controls"]["tests"]), \
        "every test a hazard names is found with its docstring"


def test_every_rule_reads_in_words_with_its_source_resolved(book: dict[str, Any]) -> None:
    """Each rule has its condition in words, its because, priority, and each citation of its
    source resolved to a bibliography entry."""
    for rule in book["rules"]:
        assert flat_text(rule["when"]), rule["id"]
        assert rule["because"]
        assert isinstance(rule["priority"], int)
        assert all(c["ref"] for c in rule["citations"]), (rule["id"], rule["citations"])


def test_hazards_link_to_rules_and_rules_back(book: dict[str, Any]) -> None:
    """A rule that controls a hazard lists it, and the hazard lists the rule."""
    by_id = {r["id"]: r for r in book["rules"]}
    for hazard in book["hazards"]:
        assert not hazard["missing_rules"], hazard["id"]
        for rule in hazard["rules"]:
            assert hazard["id"] in by_id[rule]["hazards"]


def test_advice_says_what_it_is_unsafe_with(book: dict[str, Any]) -> None:
    """Advice that compresses is never given while DVT is named (policy)."""
    compressing = [a for a in book["advice"] if "compression" in a["treatments"]]
    assert compressing
    assert all("dvt" in a["unsafe_while_named"] for a in compressing)


FACTS = {
    "pain.calf": FactSpec("pain.calf", "finding", "pain lower down, in the calf"),
    "patient.age": FactSpec("patient.age", "field", "age in years", unit="years"),
    "side": FactSpec("side", "field", "which leg", choices=("left", "right", "both")),
}


@pytest.mark.parametrize(("test", "words"), [
    (FactTest("pain.calf"), "pain lower down, in the calf"),
    (FactTest("pain.calf", is_=False), "recorded absent: pain lower down, in the calf"),
    (FactTest("pain.calf", is_="unknown"), "not recorded: pain lower down, in the calf"),
    (FactTest("patient.age", gte=55), "age at least 55 years"),
    (FactTest("patient.age", gt=17, lt=25), "age more than 17 years and less than 25 years"),
    (FactTest("side", equals="both"), "side is both"),
    (FactTest("side", in_=("left", "right")), "side is left or right"),
])
def test_fact_tests_in_plain_words(test: FactTest, words: str) -> None:
    """A fact test reads as words: meanings, 'at least', 'recorded absent'."""
    assert fact_test_words(test, FACTS)["text"] == words


def test_the_content_hash_follows_the_content(kb: KnowledgeBase) -> None:
    """The same rule set gives the same hash; one timeframe moved gives another."""
    assert content_hash(kb) == content_hash(Engine().knowledge)
    assert content_hash(moved_copy(kb)[0]) != content_hash(kb)


def test_a_moved_timeframe_is_exactly_the_change(kb: KnowledgeBase) -> None:
    """The diff of the rule set against a copy with one rule's timeframe changed shows that
    change and nothing else."""
    copy, rule, timeframe = moved_copy(kb)
    diff = diff_books(book_data(kb), book_data(copy))
    assert diff["rules"]["changed"] == [
        {"id": rule.id, "fields": {"timeframe": ["today", timeframe]}}]
    assert diff["timeframes_moved"] == [{"id": rule.id, "from": "today", "to": timeframe}]
    assert not diff["rules"]["added"]
    assert not diff["rules"]["removed"]
    assert not diff["sources_changed"]
    for section in ("conditions", "scores", "advice", "hazards", "plugins"):
        assert diff[section] == {"added": [], "removed": [], "changed": []}, section
    assert diff_text(diff).splitlines()[1:] == [
        f"rule changed: {rule.id}: timeframe: today -> {timeframe}"]


def test_the_same_release_diffs_empty(book: dict[str, Any]) -> None:
    """A book against itself: no change, said so."""
    diff = diff_books(book, book)
    assert is_empty(diff)
    assert "no change" in diff_text(diff)


def test_cli_book_and_diff_against_an_earlier_book(kb: KnowledgeBase, tmp_path: Path) -> None:
    """`kneerules book --out NEW --diff OLD` (OLD: the book of the copy with one timeframe
    moved) writes the book and a diff naming exactly that rule's timeframe."""
    copy, rule, timeframe = moved_copy(kb)
    write_book(book_data(copy), tmp_path / "old")
    done = subprocess.run([KNEERULES, "book", "--out", str(tmp_path / "new"), "--hazard-log",
                           str(HAZARD_LOG), "--diff", str(tmp_path / "old")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"rule changed: {rule.id}: timeframe: {timeframe} -> today" in done.stdout
    assert len([line for line in done.stdout.splitlines() if "changed:" in line]) == 1
    new = read_book(tmp_path / "new")
    assert new["content_hash"] == content_hash(kb)
    html = (tmp_path / "new" / "diff.html").read_text(encoding="utf-8")
    assert html.count('<article class="card changed"') == 1
    assert f'data-rule="{rule.id}"' in html
    page = (tmp_path / "new" / "index.html").read_text(encoding="utf-8")
    assert new["content_hash"] in page
    assert not re.search(r"<(script|img|iframe)[^>]* src=|<link", page), "nothing fetched"


def test_cli_diff_against_another_rule_set(tmp_path: Path) -> None:
    """--diff with a rule-set file: a release that drops a plugin lists its rules added."""
    other = ROOT / "tests" / "data" / "rulesets" / "posterior-knee-next.yaml"
    result = CliRunner().invoke(main, ["book", "--out", str(tmp_path), "--diff", str(other),
                                       "--hazard-log", str(HAZARD_LOG)])
    assert result.exit_code == 0, result.output
    assert "rule added: bakers_cyst." in result.output
    assert "plugin added: bakers_cyst" in result.output


def test_without_a_hazard_log_the_book_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """Outside a checkout and without --hazard-log, the book is written and says there is
    no hazard log."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["book", "--out", "book"])
    assert result.exit_code == 0, result.output
    assert "no hazard log found" in result.output
    assert "No hazard log was given" in (tmp_path / "book" / "index.html").read_text()


@pytest.mark.parametrize(("text", "message"), [
    ("hazards: [", "not YAML"),
    ("hazards: 3", "$.hazards: expected a list"),
    ("hazards: [{title: x}]", "$.hazards[0]: expected a hazard with an id"),
])
def test_a_bad_hazard_log_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """A hazard log that is not one: exit 1, the file and the JSON path named."""
    log = tmp_path / "log.yaml"
    log.write_text(text)
    result = CliRunner().invoke(main, ["book", "--out", str(tmp_path / "b"),
                                       "--hazard-log", str(log)])
    assert result.exit_code == 1
    assert message in result.output
    assert str(log) in result.output
    assert "Traceback" not in result.output


def test_a_hazard_naming_a_missing_rule_is_flagged(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A hazard whose control rule is not in the rule set shows it as missing."""
    log = tmp_path / "docs" / "safety" / "hazard-log.yaml"
    log.parent.mkdir(parents=True)
    shutil.copy(HAZARD_LOG, log)
    text = log.read_text().replace("dvt.d_dimer_positive,", "dvt.no_such_rule,", 1)
    log.write_text(text)
    book = make_book(kb, log)
    assert book["hazards"][0]["missing_rules"] == ["dvt.no_such_rule"]
    assert all(doc is None for doc in book["tests"].values()), "no tests/ beside this log"
    write_book(book, tmp_path / "book")
    page = (tmp_path / "book" / "index.html").read_text()
    assert re.search(r"dvt\.no_such_rule \(not in this rule set\)", page)


def test_an_earlier_book_of_another_format_is_refused(tmp_path: Path) -> None:
    """--diff OLD_DIR whose book.json is not a rule book: exit 1, naming $.format."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "book.json").write_text(json.dumps({"format": "other"}))
    result = CliRunner().invoke(main, ["book", "--out", str(tmp_path / "new"),
                                       "--diff", str(tmp_path / "old")])
    assert result.exit_code == 1
    assert "$.format" in result.output


def test_docs_screenshots_are_pages_at_1280() -> None:
    """docs/ holds a 1280 px wide PNG of the audit report and of the rule book
    (tools/page_screenshots.py makes them)."""
    for name in ("audit-report.png", "rule-book.png"):
        data = (ROOT / "docs" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == 1280, name


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.slow
def test_any_one_timeframe_moved_is_exactly_the_diff(kb: KnowledgeBase, data: st.DataObject
                                                    ) -> None:
    """Whichever rule's timeframe moves, to whichever other timeframe, the diff lists that
    rule's timeframe and nothing else."""
    setting = [r for r in kb.rules if r.then.triage is not None]
    rule = data.draw(st.sampled_from(setting))
    old = rule.then.triage.timeframe  # type: ignore[union-attr]
    new = data.draw(st.sampled_from([t for t in TIMEFRAMES if t != old]))
    triage = TriageSpec(timeframe=new, message=rule.then.triage.message)  # type: ignore[union-attr]
    moved = attrs.evolve(rule, then=attrs.evolve(rule.then, triage=triage))
    copy = attrs.evolve(kb, rules=tuple(moved if r.id == rule.id else r for r in kb.rules))
    diff = diff_books(BASE_BOOKS.setdefault("base", book_data(kb)), book_data(copy))
    assert diff["timeframes_moved"] == [{"id": rule.id, "from": old, "to": new}]
    assert diff_text(diff).splitlines()[1:] == [
        f"rule changed: {rule.id}: timeframe: {old} -> {new}"]


BASE_BOOKS: dict[str, dict[str, Any]] = {}


def test_without_chromium_the_page_tests_say_why(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """No chromium (or no driver): the reason the page tests are skipped names the package."""
    import browser

    monkeypatch.setattr(browser, "CHROMIUM", str(tmp_path / "chromium"))
    assert browser.missing() == (f"{tmp_path / 'chromium'} not found: apt-get install chromium "
                                 "(make test does, when it can)")
    monkeypatch.setattr(browser, "CHROMIUM", sys.executable)
    monkeypatch.setattr(browser, "CHROMEDRIVER", str(tmp_path / "chromedriver"))
    assert "apt-get install chromium-driver" in str(browser.missing())


def test_a_hazard_log_v2_shows_why_measured_by_and_actions(kb: KnowledgeBase, tmp_path: Path
                                                           ) -> None:
    """A log that gives the residual risk's reasons, the tests that measure it and the actions
    left (hazard log v2) has them in the book, the measuring tests among the tests."""
    log = tmp_path / "log.yaml"
    log.write_text(
        "hazards:\n"
        "  - id: H99\n    title: A hazard\n    cause: c\n    effect: e\n"
        "    initial: {severity: major, likelihood: low, risk: 3}\n"
        "    controls: {rules: [dvt.d_dimer_positive], tests: [tests/test_book.py::"
        "test_the_content_hash_follows_the_content]}\n"
        "    residual: {severity: major, likelihood: very low, risk: 2, why: Measured so.,\n"
        "               measured_by: [tests/test_book.py::test_fact_tests_in_plain_words]}\n"
        "    actions: Review before use.\n")
    book = make_book(kb, log)
    hazard = book["hazards"][0]
    assert hazard["residual"]["why"] == "Measured so."
    assert hazard["actions"] == "Review before use."
    assert "tests/test_book.py::test_fact_tests_in_plain_words" in book["tests"]
    write_book(book, tmp_path / "book")
    page = (tmp_path / "book" / "index.html").read_text()
    assert "Measured so." in page
    assert "Review before use." in page
    assert 'href="#test-tests-test_book.py--test_fact_tests_in_plain_words"' in page


def test_a_field_the_book_does_not_know_is_shown_and_diffed(book: dict[str, Any]) -> None:
    """A field a later release adds to rules (or advice) is listed under "more" and a change
    to it is in the diff: the book never hides content it does not know."""
    from kneerules.book.data import RULE_SHOWN, _more

    @attrs.frozen
    class LaterRule:
        id: str
        note: tuple[str, ...] = ()

    assert _more(LaterRule("r", ("see the leaflet",)), RULE_SHOWN) == {
        "note": '["see the leaflet"]'}
    assert _more(LaterRule("r"), RULE_SHOWN) == {}
    later = json.loads(json.dumps(book))
    later["rules"][0]["more"] = {"note": '["see the leaflet"]'}
    later["advice"][0]["more"] = {"when": "pain.calf"}
    diff = diff_books(book, later)
    assert diff["rules"]["changed"] == [{"id": book["rules"][0]["id"], "fields": {
        "note": [None, '["see the leaflet"]']}}]
    assert [c["id"] for c in diff["advice"]["changed"]] == [book["advice"][0]["id"]]
    page = render_book(later)
    assert "see the leaflet" in page


@pytest.mark.parametrize(("content", "message"), [
    ('{"format": "kneerules.rule-book/1", "format": "x"}', "given more than once"),
    ('[' * 100_000 + ']' * 100_000, "not JSON"),
])
def test_an_earlier_book_is_read_as_strictly_as_a_case(tmp_path: Path, content: str,
                                                        message: str) -> None:
    """--diff OLD_DIR reads book.json with the case reader's rules: a duplicate key or
    deep nesting is a clear error (exit 1), never last-wins or a traceback."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "book.json").write_text(content)
    result = CliRunner().invoke(main, ["book", "--out", str(tmp_path / "new"),
                                       "--diff", str(tmp_path / "old")])
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_earlier_book_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    """A FIFO where book.json should be is refused at once, not waited on."""
    import os

    (tmp_path / "old").mkdir()
    os.mkfifo(tmp_path / "old" / "book.json")
    result = CliRunner().invoke(main, ["book", "--out", str(tmp_path / "new"),
                                       "--diff", str(tmp_path / "old")])
    assert result.exit_code == 1
    assert "not a regular file" in result.output
