"""The questions that would change the answer (issue 13), checked by evaluation.

Every listed question changes the result when answered as stated; answering all
the listed questions one way (as stated) or the other (an answer that changes
nothing) leaves no question that could still change the timeframe; a timeframe
change outranks a change of diagnosis; every fact a case records has a question.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneerules import Engine
from kneerules.cli.lint import lint
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.model.records import Case, Question
from kneerules.model.rules import TIMEFRAME_RANK
from kneerules.reasoning.questions import ASKED_KINDS, leading, timeframe_questions, with_answer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def builtin_engine() -> Engine:
    """Only the built-in plugins, so installed extras cannot change what is asked."""
    return Engine(plugin_manager=get_plugin_manager(entry_points=False))


@pytest.fixture(scope="module")
def asked(builtin_engine: Engine) -> dict[str, tuple[Case, tuple[Question, ...]]]:
    """Each example's case and its questions, computed once."""
    found = {}
    for path in EXAMPLES:
        case = builtin_engine.parse(path.read_bytes(), str(path))
        found[path.stem] = (case, builtin_engine.questions(case))
    return found


def apply(case: Case, answers: dict[str, Any]) -> Case:
    for fact, value in answers.items():
        case = with_answer(case, fact, value)
    return case


@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES])
def test_every_listed_question_changes_the_result_as_stated(
        builtin_engine: Engine, asked: dict[str, Any], name: str) -> None:
    """Answering a listed question as stated gives exactly the stated timeframe and leader."""
    case, questions = asked[name]
    base = builtin_engine.evaluate(case)
    for question in questions:
        assert question.fact not in case.facts()
        for outcome in question.outcomes:
            got = builtin_engine.evaluate(with_answer(case, question.fact, outcome.answer))
            assert (got.triage.timeframe, leading(got)) == (outcome.timeframe, outcome.leading)
            moved = {"timeframe": got.triage.timeframe != base.triage.timeframe,
                     "leading": leading(got) != leading(base)}
            assert set(outcome.changes) == {k for k, v in moved.items() if v}
            assert outcome.changes
        for answer in question.unchanged:
            got = builtin_engine.evaluate(with_answer(case, question.fact, answer))
            assert (got.triage.timeframe, leading(got)) == (base.triage.timeframe,
                                                            leading(base))


@pytest.mark.parametrize("way", ["as stated", "the other way"])
@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES])
def test_answering_all_listed_questions_leaves_the_timeframe_decided(
        builtin_engine: Engine, asked: dict[str, Any], name: str, way: str) -> None:
    """After every listed question is answered one way or the other, none is left that
    could change the timeframe."""
    case, questions = asked[name]
    answers = {}
    for question in questions:
        if way == "as stated":
            answers[question.fact] = question.outcomes[0].answer
        elif question.unchanged:
            answers[question.fact] = question.unchanged[0]
        else:  # every answer tried moves the result: take the other listed one
            answers[question.fact] = question.outcomes[-1].answer
    answered = apply(case, answers)
    assert timeframe_questions(builtin_engine.questions(answered)) == []


@pytest.mark.parametrize("name", [p.stem for p in EXAMPLES])
def test_a_change_of_timeframe_outranks_a_change_of_diagnosis(
        asked: dict[str, Any], name: str) -> None:
    """Timeframe questions come first, the more pressing result before the less."""
    _, questions = asked[name]
    kinds = [q.changes for q in questions]
    assert kinds == sorted(kinds, key=lambda k: k != "timeframe")
    pressing = [max(TIMEFRAME_RANK[o.timeframe] for o in q.outcomes)
                for q in timeframe_questions(questions)]
    base_ranks = {TIMEFRAME_RANK[o.timeframe] for q in questions for o in q.outcomes}
    if len(base_ranks) > 1 and pressing:
        assert pressing[0] == max(pressing)


def test_the_questions_from_nothing_start_with_a_threatened_leg(builtin_engine: Engine) -> None:
    """With no findings, the first question is one whose yes means go now."""
    questions = builtin_engine.questions({})
    assert questions[0].changes == "timeframe"
    assert questions[0].outcomes[0].timeframe == "now"
    assert any(q.changes == "leading" for q in questions)


def test_a_known_finding_is_never_asked_and_skip_leaves_one_out(builtin_engine: Engine) -> None:
    """Recorded facts are not asked; skipped ("don't know") ones neither."""
    first = builtin_engine.questions({})[0].fact
    assert first not in {q.fact for q in builtin_engine.questions({}, skip=[first])}
    assert first not in {q.fact for q in builtin_engine.questions({"findings": {first: False}})}


def test_a_plain_evaluation_carries_no_questions(builtin_engine: Engine) -> None:
    """evaluate() never computes them (it stays fast); they are None, not empty."""
    assert builtin_engine.evaluate({}).questions is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["pain.behind_knee", "pain.calf", "sign.calf_swelling",
                                        "sign.redness", "injury.twisting", "sign.knee_swelling",
                                        "risk.long_haul_travel", "sign.locking",
                                        "sign.fever", "worse.bending_knee"]),
                       st.booleans(), max_size=5))
def test_property_each_question_of_any_case_really_changes_it(
        builtin_engine: Engine, findings: dict[str, bool]) -> None:
    """For random partial cases, the first questions each move the result as they say."""
    case = builtin_engine.parse({"findings": findings})
    for question in builtin_engine.questions(case)[:4]:
        outcome = question.outcomes[0]
        got = builtin_engine.evaluate(with_answer(case, question.fact, outcome.answer))
        assert (got.triage.timeframe, leading(got)) == (outcome.timeframe, outcome.leading)


def test_every_recorded_fact_has_a_question(builtin_engine: Engine) -> None:
    """Each finding, measurement and field of the vocabulary has a question text."""
    missing = [name for name, spec in builtin_engine.vocabulary.items()
               if spec.kind in ASKED_KINDS and not spec.question]
    assert missing == []


def test_check_flags_a_finding_without_a_question(tmp_path: Path) -> None:
    """kneerules check names a plugin finding that has no question."""
    data = tmp_path / "knee_thing.yaml"
    data.write_text(textwrap.dedent("""\
        facts:
          - name: knee_thing.sign
            kind: finding
            meaning: "a sign"
          - name: knee_thing.asked
            kind: finding
            meaning: "another sign"
            question: "Do you have another sign?"
        """), encoding="utf-8")
    problems = [str(p) for p in lint([data]).problems]
    assert any('fact "knee_thing.sign": no question' in p for p in problems)
    assert not any("knee_thing.asked" in p and "no question" in p for p in problems)


def test_json_questions_name_the_way_each_answer_moves(builtin_engine: Engine) -> None:
    """Each question in the JSON says its text, the answer and where the result goes."""
    from attrs import evolve

    from kneerules import to_dict

    case = builtin_engine.parse(json.loads((ROOT / "examples" / "calf-tear.json").read_text()))
    data = to_dict(evolve(builtin_engine.evaluate(case), questions=builtin_engine.questions(case)))
    question = data["questions"][0]
    assert question["text"].endswith("?")
    assert {"answer", "timeframe", "leading", "changes"} <= set(question["outcomes"][0])


def test_answers_that_raise_the_timeframe_only_together_are_found_and_real(
        builtin_engine: Engine) -> None:
    """A swollen left calf (today under policy v3): a tense calf alone is today, but a tense
    calf with pain out of proportion is compartment syndrome, now."""
    case = builtin_engine.parse({"side": "left", "findings": {"sign.calf_swelling": True,
                                                              "sign.cold_pale_foot": False}})
    found = builtin_engine.escalations(case)
    assert found
    for escalation in found:
        assert len(escalation.answers) >= 1
        got = builtin_engine.evaluate(apply(case, dict(escalation.answers)))
        assert got.triage.timeframe == escalation.timeframe
    pairs = [dict(e.answers) for e in found if e.timeframe == "now"]
    assert {"sign.pain_out_of_proportion": True, "sign.tense_calf": True} in pairs
