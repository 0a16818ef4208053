"""The interview without a terminal: reading answers, saving the case built, the order of
its questions, who is asked what, gates, when it stops, the library API and --replay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from kneerules import Engine, hookimpl
from kneerules.cli.interview import (
    DONT_KNOW,
    Interview,
    InterviewError,
    InterviewQuestion,
    ItemAsking,
    case_dict,
    parse_answer,
    prompt_hint,
    replay,
    save_case,
)
from kneerules.cli.main import main
from kneerules.model.converter import to_dict
from kneerules.model.records import Case
from kneerules.model.rules import AnswerChoice, FactSpec, FactTest, QuestionSpec, Rule
from kneerules.reasoning.conditions import holds
from kneerules.reasoning.settle import Settler, gate_leaks
from kneerules.testing import make_test_engine


def question(engine: Engine, fact: str) -> InterviewQuestion | ItemAsking:
    """What the terminal asks for ``fact``: its question, or its checklist item."""
    asked = engine.knowledge.questions.get(fact) or QuestionSpec(fact, "history", "patient")
    if asked.items:
        return ItemAsking(next(i for i in asked.items if i.fact == fact).answers)
    return Interview(engine, clinician=True)._put(asked)


@pytest.mark.parametrize(("fact", "typed", "expected"), [
    ("sign.fever", "y", True),
    ("sign.fever", " YES ", True),
    ("sign.fever", "n", False),
    ("sign.fever", "no", False),
    ("sign.fever", "d", DONT_KNOW),
    ("sign.fever", "", DONT_KNOW),
    ("sign.fever", "maybe", None),
    ("side", "l", "left"),
    ("side", "both", "both"),
    ("side", "x", None),
    ("onset", "s", "sudden"),
    ("patient.age", "34", 34),
    ("patient.age", "34.5", None),
    ("patient.age", "130", None),
    ("temperature_c", "38,4", 38.4),
    ("temperature_c", "38", 38),
    ("temperature_c", "20", None),
    ("calf_swelling_cm", "?", DONT_KNOW),
    # A test result is answered in its own words: never a bare yes or no.
    ("test.d_dimer_positive", "raised", "raised"),
    ("test.d_dimer_positive", "r", "raised"),
    ("test.d_dimer_positive", "NORMAL", "normal"),
    ("test.d_dimer_positive", "not", "not had one"),
    ("test.d_dimer_positive", "d", DONT_KNOW),
    ("test.d_dimer_positive", "n", None),
    ("test.d_dimer_positive", "no", None),
    ("test.d_dimer_positive", "y", None),
])
def test_answers_are_read_strictly(engine: Engine, fact: str, typed: str,
                                   expected: Any) -> None:
    """yes / no / don't know, a choice by its first letters, a number within its range."""
    got = parse_answer(typed, question(engine, fact), engine.vocabulary[fact])
    assert got is expected if expected in (DONT_KNOW, None, True, False) else got == expected


@pytest.mark.parametrize(("fact", "hint"), [
    ("sign.fever", "y = yes, n = no, d = don't know"),
    ("side", "left / right / both, or d = don't know"),
    ("patient.age", "a whole number from 0 to 120, or d = don't know"),
    ("test.d_dimer_positive", "raised / normal / not had one, or d = don't know"),
])
def test_the_prompt_says_what_may_be_typed(engine: Engine, fact: str, hint: str) -> None:
    """Each question tells the person the answers it takes."""
    assert prompt_hint(question(engine, fact), engine.vocabulary[fact]) == hint


def test_the_case_built_is_a_valid_case_that_round_trips(engine: Engine, tmp_path: Path) -> None:
    """The saved file is case JSON the engine reads back to the same case."""
    case = engine.parse({"case_id": "x", "patient": {"age": 30}, "side": "left",
                         "findings": {"pain.calf": True}, "measurements": {"temperature_c": 37}})
    path = tmp_path / "case.json"
    save_case(case, path)
    data = json.loads(path.read_text())
    assert data == case_dict(case)
    assert engine.parse(data) == case
    assert not list(tmp_path.glob(".case.json.*"))  # no temporary file left behind


# --- The interview: order, audience, gates, stopping (issue 26) ---------------------------

ROOT = Path(__file__).resolve().parent.parent
VIGNETTES = sorted((ROOT / "tests" / "vignettes").glob("*.json")) + sorted(
    (ROOT / "examples").glob("*.json"))


def vignette_case(engine: Engine, path: Path) -> Case:
    data = json.loads(path.read_text(encoding="utf-8"))
    return engine.parse(data.get("case", data))


@pytest.fixture(scope="module")
def replays(engine: Engine) -> dict[tuple[str, bool], Interview]:
    """Every vignette and example replayed, as a patient and as a clinician."""
    return {(path.name, clinician): replay(engine, vignette_case(engine, path),
                                           clinician=clinician)
            for path in VIGNETTES for clinician in (False, True)}


@pytest.mark.parametrize("clinician", [False, True])
def test_where_it_hurts_and_which_leg_come_first_then_age_and_sex(
        replays: dict[tuple[str, bool], Interview], clinician: bool) -> None:
    """Every replay: where it hurts, which leg, age, sex are questions 1 to 4."""
    for (name, mode), interview in replays.items():
        if mode is clinician:
            ids = [asked.question.id for asked in interview.asked]
            assert ids[:4] == ["where.pain", "side", "patient.age", "patient.sex"], name


def test_a_patient_is_never_asked_a_clinicians_question(
        replays: dict[tuple[str, bool], Interview]) -> None:
    """Patient mode asks only patient questions in lay words; clinician mode adds the exam."""
    examined = set()
    for (name, clinician), interview in replays.items():
        audiences = {asked.question.audience for asked in interview.asked}
        if clinician:
            examined |= {a.question.id for a in interview.asked
                         if a.question.audience == "clinician"}
            continue
        assert audiences == {"patient"}, name
        for asked in interview.asked:
            assert "(For a clinician)" not in asked.question.text, name
            assert "(cm)" not in asked.question.text, name
    assert {"sign.absent_foot_pulses", "calf_swelling_cm"} <= examined


def test_no_follow_up_is_asked_before_its_gate_holds(
        engine: Engine, replays: dict[tuple[str, bool], Interview]) -> None:
    """A gated question comes only after answers that make its gate hold."""
    specs = {spec.id: spec for spec in engine.knowledge.questions.values()}
    checked = 0
    for name, interview in ((n, i) for (n, _), i in replays.items()):
        known: dict[str, Any] = {}
        for asked in interview.asked:
            spec = specs[asked.question.id]
            if spec.gated:
                assert holds(spec.gate, known), (name, spec.id)
                checked += 1
            for fact, value in asked.items or ((asked.question.id, asked.answer),):
                if value is not None:
                    known[fact] = value
    assert checked > 10


def test_a_patient_who_does_not_know_anything_gets_the_empty_cases_verdict(
        engine: Engine) -> None:
    """"Don't know" to everything: nothing recorded (never false), the empty case's verdict."""
    interview = Interview(engine)
    while (question := interview.next_question()) is not None:
        interview.answer(question.id, {i.fact: DONT_KNOW for i in question.items}
                         if question.kind == "checklist" else DONT_KNOW)
    assert interview.case.facts() == {}
    assert interview.assessment().triage == engine.evaluate({}).triage
    asked = [a.question.id for a in interview.asked]
    assert len(asked) == len(set(asked))  # none asked twice


def test_answers_that_change_the_timeframe_only_together_keep_the_interview_going(
        engine: Engine) -> None:
    """Lowered immunity alone or a swollen knee alone leaves it routine; together: today."""
    case = engine.parse({"side": "left"})
    single = {q.fact: q.changes for q in engine.questions(case)}
    assert single.get("risk.immunosuppressed") is None
    assert single.get("sign.knee_swelling") != "timeframe"
    facts, _ = engine.case_facts(case)
    settler = Settler(engine.knowledge)
    both = settler.outlook(facts, {"sign.knee_swelling", "risk.immunosuppressed"})
    assert (both.settled, both.highest) == (False, "today")
    assert {"sign.knee_swelling", "risk.immunosuppressed"} <= both.relevant
    alone = settler.outlook(facts, {"risk.immunosuppressed"})
    assert alone.settled


def test_the_interview_stops_only_when_settled_and_asks_what_could_raise_it(
        engine: Engine) -> None:
    """A swollen knee "don't know": redness, warmth and fever are still asked."""
    interview = Interview(engine, case=engine.parse(
        {"side": "right", "patient": {"age": 40, "sex": "male"},
         "findings": {"pain.behind_knee": True, "sign.knee_swelling": True}}))
    asked: list[str] = []
    while (question := interview.next_question()) is not None:
        asked += [i.fact for i in question.items] or [question.id]
        interview.answer(question.id, {i.fact: DONT_KNOW for i in question.items}
                         if question.kind == "checklist" else DONT_KNOW)
    assert {"sign.redness", "sign.warmth", "sign.fever"} <= set(asked)
    assert interview.outlook().settled


def test_the_library_api_takes_only_the_question_asked_and_valid_answers(
        engine: Engine) -> None:
    """An EHR drives it: the same question until answered; a wrong id or value is refused."""
    interview = Interview(engine)
    first = interview.next_question()
    assert first is not None
    assert first.kind == "checklist"
    assert interview.next_question() is first
    with pytest.raises(InterviewError, match="side"):
        interview.answer("side", "left")
    with pytest.raises(InterviewError, match="no item"):
        interview.answer(first.id, {"sign.fever": True})
    with pytest.raises(InterviewError, match="yes, no or don't know"):
        interview.answer(first.id, {"pain.calf": "often"})
    interview.answer(first.id, {"pain.calf": True})
    side = interview.next_question()
    assert side is not None
    assert side.id == "side"
    assert side.choices == ("left", "right", "both")
    with pytest.raises(InterviewError, match="not an answer"):
        interview.answer("side", "up")
    interview.answer("side", "left")
    age = interview.next_question()
    assert age is not None
    assert age.to_dict()["kind"] == "field"
    with pytest.raises(InterviewError, match="not an answer"):
        interview.answer("patient.age", 130)
    interview.answer("patient.age", 70)
    assert interview.case.facts() == {"pain.calf": True, "side": "left", "patient.age": 70}
    assert interview.transcript()[0] == {
        "id": "where.pain", "text": first.text,
        "items": [{"id": i.fact, "answer": True if i.fact == "pain.calf" else None}
                  for i in first.items]}


def test_replay_prints_the_questions_and_the_usual_assessment(engine: Engine) -> None:
    """ask --replay: one JSON object, ids as facts, checklists by item, the assessment JSON."""
    path = ROOT / "examples" / "dvt-same-day.json"
    result = CliRunner().invoke(main, ["ask", "--replay", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"questions", "assessment"}
    first = data["questions"][0]
    assert first["id"] == "where.pain"
    assert {"id": "pain.calf", "answer": True} in first["items"]
    assert data["questions"][1] == {"id": "side", "text": "Which leg hurts: left, right or both?",
                                    "answer": "left"}
    built = replay(engine, vignette_case(engine, path))
    assert data["assessment"] == to_dict(engine.evaluate(built.case))
    # Policy v3: a calf DVT without a sign of a clot in the lung is the same-day pathway.
    assert data["assessment"]["triage"]["timeframe"] == "today"


def test_replay_keeps_a_field_recorded_as_unknown(engine: Engine) -> None:
    """A case's sex "unknown" (a value of the vocabulary) is replayed as it is."""
    case = engine.parse({"patient": {"sex": "unknown"}, "findings": {"pain.calf": True}})
    interview = replay(engine, case)
    assert interview.case.facts()["patient.sex"] == "unknown"
    assert interview.assessment().triage == engine.evaluate(case).triage


@pytest.mark.parametrize("args", [["x.json", "--replay", "y.json"], ["--replay", "y.json",
                                                                       "--save", "z.json"]])
def test_replay_takes_no_other_case(tmp_path: Path, args: list[str]) -> None:
    """--replay with a CASE or --save is a usage error (exit 2)."""
    for name in ("x.json", "y.json"):
        (tmp_path / name).write_text("{}")
    with_paths = [str(tmp_path / a) if a.endswith(".json") else a for a in args]
    result = CliRunner().invoke(main, ["ask", *with_paths])
    assert result.exit_code == 2
    assert "--replay" in result.output


def test_replay_takes_a_vignette_and_replays_its_case(tmp_path: Path) -> None:
    """A vignette file ({"case", "expect"}) replays as its case: the raised D-dimer a
    patient reports reaches the vignette's "today"; a problem names the case's field."""
    vignette = {"case": {"side": "both", "patient": {"age": 63, "sex": "male"},
                         "findings": {"pain.calf": True, "test.d_dimer_positive": True}},
                "expect": {"timeframe": "today"}}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(vignette), encoding="utf-8")
    result = CliRunner().invoke(main, ["ask", "--replay", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["assessment"]["triage"]["timeframe"] == "today"
    items = [i for q in out["questions"] for i in q.get("items", ())]
    assert {"id": "test.d_dimer_positive", "answer": True} in items
    vignette["case"]["findings"]["sign.fevr"] = True
    path.write_text(json.dumps(vignette), encoding="utf-8")
    result = CliRunner().invoke(main, ["ask", "--replay", str(path)])
    assert result.exit_code == 1
    assert 'its "case"' in result.output
    assert 'did you mean "sign.fever"' in result.output


def test_questions_show_in_the_default_text_view() -> None:
    """eval --questions lists the questions in the default text view too (issue 26.5)."""
    path = ROOT / "examples" / "ligament-sprain.json"
    result = CliRunner().invoke(main, ["eval", "--questions", str(path)])
    assert result.exit_code == 0
    assert "Questions that would change the result" in result.output
    # Lines wrap at the terminal's width: compare the words, not the line breaks.
    assert "[sign.cold_pale_foot: yes" in " ".join(result.output.split())
    plain = CliRunner().invoke(main, ["eval", str(path)])
    assert "Questions that would change" not in plain.output


class AsksAboutASign:
    """A Python plugin: a new finding that makes it within 2 weeks, and its question."""

    name = "demo_sign"

    def __init__(self, audience: str = "patient", gate: Any = None,
                 answers: tuple[AnswerChoice, ...] = ()) -> None:
        self.audience = audience
        self.gate = gate
        self.answers = answers

    @hookimpl
    def kneerules_facts(self) -> list[FactSpec]:
        return [FactSpec("demo_sign.lump", "finding", "a demo lump",
                         question="Is there a demo lump?")]

    @hookimpl
    def kneerules_rules(self) -> list[Rule]:
        return [structure_rule({
            "id": "demo_sign.lump", "priority": 5000, "when": "demo_sign.lump",
            "then": {"triage": {"timeframe": "within_2_weeks", "message": "See a doctor."}},
            "because": "A demo lump needs a look.", "source": "Pain Behind the Knee, Summary"})]

    @hookimpl
    def kneerules_questions(self) -> list[QuestionSpec]:
        extra = {} if self.gate is None else {"gate": self.gate}
        return [QuestionSpec("demo_sign.lump", "red_flags", self.audience,  # type: ignore[arg-type]
                             order=1, answers=self.answers, **extra)]


SCAN_WORDS = (AnswerChoice("shows a lump", True), AnswerChoice("clear", False),
              AnswerChoice("no scan", None))


@pytest.mark.parametrize(("said", "recorded"), [
    ("shows a lump", True), ("clear", False), ("no scan", None), (DONT_KNOW, None)])
def test_a_question_of_its_own_is_answered_in_its_own_words(said: object,
                                                             recorded: bool | None) -> None:
    """A plugin's question (not a checklist item) with answer words: put with those words as
    its choices, each recording its value; a bare True is refused; replay uses the words."""
    engine = make_test_engine([AsksAboutASign(answers=SCAN_WORDS)])
    interview = Interview(engine)
    while (question := interview.next_question()) is not None:
        if question.id == "demo_sign.lump":
            assert question.choices == ("shows a lump", "clear", "no scan")
            assert question.to_dict()["answers"] == {"shows a lump": True, "clear": False,
                                                     "no scan": None}
            with pytest.raises(InterviewError, match="shows a lump / clear / no scan"):
                interview.answer(question.id, True)
            interview.answer(question.id, said)
            break
        interview.answer(question.id, {} if question.kind == "checklist" else DONT_KNOW)
    assert interview.case.facts().get("demo_sign.lump") is recorded
    if recorded is not None:
        case = engine.parse({"findings": {"demo_sign.lump": recorded}})
        asked = {q["id"]: q for q in replay(engine, case).transcript()}
        assert asked["demo_sign.lump"]["answer"] is recorded


def structure_rule(data: dict[str, Any]) -> Rule:
    from kneerules.model.converter import structure

    rule, problems = structure(data, Rule, path="rule")
    assert not problems
    assert rule is not None
    return rule


def first_red_flag_question(engine: Engine, clinician: bool = False) -> list[str]:
    interview = Interview(engine, clinician=clinician)
    asked = []
    while (question := interview.next_question()) is not None:
        asked.append(question.id)
        interview.answer(question.id, {i.fact: DONT_KNOW if i.answers else False
                                       for i in question.items}
                         if question.kind == "checklist" else DONT_KNOW)
    return asked


def test_a_plugins_question_finds_its_place_from_its_data() -> None:
    """kneerules_questions: section red_flags, order 1 puts it first of the red flags."""
    engine = make_test_engine([AsksAboutASign()])
    asked = first_red_flag_question(engine)
    assert asked.index("demo_sign.lump") == 4  # after where, which leg, age and sex
    assert engine.knowledge.questions["demo_sign.lump"].plugin == "demo_sign"


def test_a_clinicians_question_is_asked_only_in_a_clinicians_interview() -> None:
    """audience clinician: never in a patient's interview; with clinician=True, asked."""
    engine = make_test_engine([AsksAboutASign("clinician")])
    assert "demo_sign.lump" not in first_red_flag_question(engine)
    assert "demo_sign.lump" in first_red_flag_question(engine, clinician=True)


def test_a_gated_question_waits_for_its_gate() -> None:
    """A gate that never holds (the answers are all no) keeps the question back."""
    gate = FactTest("sign.fever")
    engine = make_test_engine([AsksAboutASign(gate=gate)])
    assert "demo_sign.lump" not in first_red_flag_question(engine)


@pytest.mark.parametrize(("entry", "message"), [
    ("{id: sign.fever, audience: patient}", "section"),
    ("{id: sign.fever, section: history}", "audience"),
    ("{id: sign.fever, section: somewhere, audience: patient}", "section"),
    ("{id: sign.fevr, section: history, audience: patient}", 'did you mean "sign.fever"'),
    ("{id: dvt.wells_score, section: history, audience: patient}", "worked out, never asked"),
    ("{id: sign.fever, section: history, audience: patient, gate: sign.nope}", "unknown fact"),
    ("{id: demo.list, section: history, audience: patient, items: [{fact: temperature_c, "
     "label: t}]}", "only findings"),
    ("{id: sign.fever, section: history, audience: patient}", "already asked"),
    # Answer words: a word for true and for false, none the start of another, findings only.
    ("{id: demo.list, section: history, audience: patient, items: [{fact: sign.fever, "
     "label: t, answers: [{label: raised, value: true}, {label: unsure, value: null}]}]}",
     "needs a word for true and one for false"),
    ("{id: demo.list, section: history, audience: patient, items: [{fact: sign.fever, "
     "label: t, answers: [{label: norm, value: false}, {label: normal, value: null}, "
     "{label: raised, value: true}]}]}", '"norm" is also the start of another answer'),
    ("{id: patient.age, section: about, audience: patient, answers: [{label: old, "
     "value: true}, {label: young, value: false}]}", "only a finding takes answer words"),
    ("{id: demo.list, section: history, audience: patient, items: [{fact: sign.fever, "
     "label: t}], answers: [{label: hot, value: true}, {label: cold, value: false}]}",
     "a checklist's answer words go on its items"),
])
def test_check_flags_a_question_it_cannot_place(tmp_path: Path, entry: str,
                                               message: str) -> None:
    """kneerules check: no section or audience, an unknown fact, a fact asked twice..."""
    path = tmp_path / "demo.yaml"
    path.write_text(f"questions:\n  - {entry}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert message in result.output


def test_check_flags_a_fact_a_rule_reads_with_no_question(tmp_path: Path) -> None:
    """A plugin's new finding that a rule reads needs a questions entry."""
    path = tmp_path / "demo.yaml"
    path.write_text(
        "facts:\n  - {name: demo.sign, kind: finding, meaning: a sign, question: A sign?}\n"
        "rules:\n  - {id: demo.r, priority: 500, when: demo.sign, then: {advise: []},\n"
        "     because: A reason., source: \"Pain Behind the Knee, Summary\"}\n",
        encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert 'fact "demo.sign": no interview question' in result.output


def test_an_ehr_imports_the_interview_from_the_package(engine: Engine) -> None:
    """kneerules.Interview is the library API; None is "don't know", as DONT_KNOW is."""
    import kneerules

    interview = kneerules.Interview(engine)
    assert isinstance(interview, Interview)
    first = interview.next_question()
    assert first is not None
    interview.answer(first.id, {i.fact: None for i in first.items})
    side = interview.next_question()
    assert side is not None
    interview.answer(side.id, None)
    assert interview.case.facts() == {}
    assert interview.transcript()[1]["answer"] is None


GATED_PLUGIN = """
conditions:
  - {id: demo, name: Demo, description: A demo condition., source: "Pain Behind the Knee"}
advice:
  - {id: demo.advice, condition: demo, kind: seek_care, text: See a doctor., source: "s"}
facts:
  - {name: demo.lump, kind: finding, meaning: a demo lump, question: Is there a demo lump?}
rules:
  - id: demo.lump
    priority: 5000
    when: %s
    then: {triage: {timeframe: within_2_weeks, message: "See a doctor."}, evidence: {demo: 3}}
    because: A demo lump needs a look.
    source: "Pain Behind the Knee, Summary"
questions:
  - {id: demo.lump, section: red_flags, audience: patient, gate: sign.fever%s}
"""


@pytest.mark.parametrize(("when", "why", "leaks"), [
    ("demo.lump", "", True),  # the rule fires without a fever: the gate hides it
    ("{all: [demo.lump, sign.fever]}", "", False),  # the gate is the rule's own
    ("demo.lump", ", gate_why: 'Only with a fever, by definition.'", False),
])
def test_check_flags_a_gate_that_hides_what_a_rule_needs(tmp_path: Path, when: str, why: str,
                                                         leaks: bool) -> None:
    """A gate must be implied by every verdict rule reading the question (or say why not)."""
    path = tmp_path / "demo.yaml"
    path.write_text(GATED_PLUGIN % (when, why), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert ('its gate can fail while rule "demo.lump" still depends on the answer'
            in result.output) is leaks
    assert result.exit_code == (1 if leaks else 0), result.output


def test_no_built_in_gate_hides_what_a_rule_needs(engine: Engine) -> None:
    """Every built-in gate is implied by the rules that read its question (pregnancy: said why)."""
    assert gate_leaks(engine.knowledge) == []
    pregnancy = engine.knowledge.questions["risk.pregnancy"]
    assert pregnancy.gate_why
    unexplained = attrs.evolve(pregnancy, gate_why=None)
    knowledge = attrs.evolve(engine.knowledge, questions={
        **engine.knowledge.questions, "risk.pregnancy": unexplained})
    assert [(leak.question, leak.rule) for leak in gate_leaks(knowledge)] == [
        ("risk.pregnancy", "dvt.pregnancy_leg_symptoms"),
        ("risk.pregnancy", "general.pregnancy_both_legs_swollen")]


def answer_all(interview: Interview, d_dimer: object, other: object = DONT_KNOW) -> list[
        InterviewQuestion]:
    """Answers every question ``other`` (a checklist: each item) and the D-dimer
    ``d_dimer``; returns the questions put."""
    put: list[InterviewQuestion] = []
    while (question := interview.next_question()) is not None:
        put.append(question)
        if question.kind == "checklist":
            interview.answer(question.id, {
                i.fact: d_dimer if i.fact == "test.d_dimer_positive" else other
                for i in question.items})
        else:
            interview.answer(question.id, other if question.kind == "finding" else DONT_KNOW)
    return put


CALF_AFTER_FLIGHT = {"side": "left", "patient": {"age": 58, "sex": "male"}, "onset": "gradual",
                     "findings": {"pain.calf": True, "sign.calf_swelling": True,
                                  "risk.long_haul_travel": True}}
BOTH_LEGS_AFTER_FLIGHT = {"side": "both", "patient": {"age": 63, "sex": "male"},
                          "onset": "gradual",
                          "findings": {"pain.calf": True, "risk.long_haul_travel": True}}


def test_a_patient_who_says_no_to_everything_records_no_negative_d_dimer(
        engine: Engine) -> None:
    """A swollen calf after a flight, "no" to every yes-or-no question and "not had one" to
    the D-dimer (answered in its own words, never yes or no): no normal result is recorded,
    so the DVT is not excluded: today."""
    interview = Interview(engine, case=engine.parse(CALF_AFTER_FLIGHT))
    put = answer_all(interview, "not had one", other=False)
    d_dimer = next(i for q in put for i in q.items if i.fact == "test.d_dimer_positive")
    assert [a.label for a in d_dimer.answers] == ["raised", "normal", "not had one"]
    assert all(q.audience == "patient" for q in put)
    assert "test.d_dimer_positive" not in interview.case.facts()
    assert interview.assessment().triage.timeframe == "today"


def test_a_patient_who_was_told_the_d_dimer_result_can_report_it(engine: Engine) -> None:
    """Both legs after a flight at 63: a raised D-dimer the patient was told of makes it
    today; a normal one is recorded as the known negative result the format allows."""
    results = {}
    for said in ("raised", "normal", "not had one"):
        interview = Interview(engine, case=engine.parse(BOTH_LEGS_AFTER_FLIGHT))
        answer_all(interview, said)
        results[said] = (interview.case.findings.get("test.d_dimer_positive"),
                         interview.assessment().triage.timeframe)
    assert results["raised"] == (True, "today")
    assert results["normal"][0] is False
    assert results["not had one"][0] is None
    assert "today" not in (results["normal"][1], results["not had one"][1])


@pytest.mark.parametrize("given", [True, False, "yes", "no", 1])
def test_a_d_dimer_is_answered_only_in_its_own_words(engine: Engine, given: object) -> None:
    """The library API refuses a bare yes or no (or True, False) for the D-dimer: a form's
    default "no" must never record a normal result."""
    interview = Interview(engine, case=engine.parse(BOTH_LEGS_AFTER_FLIGHT))
    with pytest.raises(InterviewError, match="raised / normal / not had one"):
        answer_all(interview, given)
