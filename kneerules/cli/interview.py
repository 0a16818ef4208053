"""``kneerules ask``: an interview a patient can follow, and the library object behind it.

The questions come in a clinician's order, written as data in the plugins' ``questions``
sections (:class:`~kneerules.ruledata.QuestionSpec`): where it hurts and which leg, then
age and sex, then the red-flag screen, then the history that tells the likely causes
apart, then (``clinician=True`` only) what an examination finds. Within that order a
question is asked only while its answer could still change the verdict:

1. the questions marked ``always``, in order;
2. then, while the answer is not settled (:mod:`kneerules.settle`: some way of
   answering the rest, answers taken together, would change the timeframe or the
   must-not-miss conditions), the first question that records a fact the undecided
   rules read;
3. then, up to :data:`LEADING_BUDGET` patient questions in all, the first question one answer
   to which would change the leading condition (checked by evaluating it).

A follow-up is asked only once its gate holds. "Don't know" leaves a fact unknown and
it is not asked again; a patient is never asked a clinician's question, and a fact
nobody asked stays unknown, never false. The case built so far is written after every
answer, so Ctrl-C (or a closed terminal) keeps every answer given.

An EHR or a web form drives the same interview through :class:`Interview`::

    interview = Interview(engine)
    while (question := interview.next_question()) is not None:
        interview.answer(question.id, ...)   # a value, DONT_KNOW, or {item: value} for a checklist
    assessment = interview.assessment()
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from kneerules.model.records import Assessment, Case, FactValue
from kneerules.model.rules import (
    ASKED_KINDS,
    SECTION_RANK,
    AnswerChoice,
    ChecklistItem,
    FactSpec,
    QuestionAudience,
    QuestionSpec,
    Section,
    walk_tests,
)
from kneerules.reasoning.conditions import holds
from kneerules.reasoning.questions import candidate_answers, leading, with_answer
from kneerules.reasoning.settle import Outlook

if TYPE_CHECKING:
    from kneerules.engine import Engine

DONT_KNOW = object()
"""The answer "don't know": the fact stays unknown and is not asked again."""

_YES = {"y", "yes"}
_NO = {"n", "no"}
_DONT_KNOW = {"d", "dk", "?", "don't know", "dont know", "not sure", "unknown", ""}


def case_dict(case: Case) -> dict[str, Any]:
    """``case`` as case-format JSON data (only what is recorded)."""
    data: dict[str, Any] = {"format": case.format}
    if case.case_id is not None:
        data["case_id"] = case.case_id
    if case.patient is not None:
        patient = {k: v for k, v in attrs.asdict(case.patient).items() if v is not None}
        if patient:
            data["patient"] = patient
    for name in ("onset", "side"):
        if getattr(case, name) is not None:
            data[name] = getattr(case, name)
    data["findings"] = dict(case.findings)
    if case.measurements:
        data["measurements"] = dict(case.measurements)
    return data


def save_case(case: Case, path: Path) -> None:
    """Writes ``case`` to ``path`` atomically: an interrupted write never leaves half a file."""
    text = json.dumps(case_dict(case), indent=2, ensure_ascii=False) + "\n"
    handle, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Asking(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def answers(self) -> tuple[AnswerChoice, ...]: ...


def prompt_hint(question: _Asking, spec: FactSpec) -> str:
    """What the person may type for ``question``."""
    if question.kind == "finding" and not question.answers:
        return "y = yes, n = no, d = don't know"
    if question.choices:
        return f"{' / '.join(question.choices)}, or d = don't know"
    low = f"{spec.minimum:g}" if spec.minimum is not None else None
    high = f"{spec.maximum:g}" if spec.maximum is not None else None
    span = f" from {low} to {high}" if low and high else ""
    kind = "a whole number" if spec.integer else "a number"
    return f"{kind}{span}, or d = don't know"


def parse_answer(text: str, question: _Asking, spec: FactSpec) -> FactValue | object | None:
    """The value typed (or :data:`DONT_KNOW`; for a finding with its own answer words, the
    word); None when it is not a valid answer."""
    said = text.strip().lower()
    if said in _DONT_KNOW:
        return DONT_KNOW
    if question.kind == "finding" and not question.answers:
        return True if said in _YES else False if said in _NO else None
    if question.choices:
        # A choice may be typed in full or by its first letters ("l" for left).
        found = [c for c in question.choices if c == said or (said and c.startswith(said))]
        # A finding's own answer words stay words: the interview takes them, not True or
        # False, for such a finding.
        return found[0] if len(found) == 1 else None
    try:
        number = float(said.replace(",", "."))
    except ValueError:
        return None
    if spec.minimum is not None and number < spec.minimum:
        return None
    if spec.maximum is not None and number > spec.maximum:
        return None
    if spec.integer:
        return int(number) if number.is_integer() else None
    return int(number) if number.is_integer() else number


LEADING_BUDGET = 12
"""Patient questions in all past which the interview no longer asks only to sharpen the
leading condition (the timeframe and the must-not-miss conditions are settled by then; a
question that could still change those is always asked). A clinician's examination
questions are not counted: they add to the interview, they do not shorten it."""

DEFAULT_SECTION: Section = "history"
DEFAULT_ORDER = 1000
"""Where a fact no plugin gives a question for is asked (``kneerules check`` warns)."""


@attrs.frozen
class InterviewQuestion:
    """One question as it is put: a fact (``kind`` finding, measurement or field) or a
    checklist of findings answered one by one (``kind`` checklist, ``items``)."""

    id: str
    text: str
    kind: Literal["finding", "measurement", "field", "checklist"]
    section: Section
    audience: QuestionAudience
    choices: tuple[str, ...] = ()
    unit: str | None = None
    items: tuple[ChecklistItem, ...] = ()
    """For a checklist: the findings still to answer, in order."""
    answers: tuple[AnswerChoice, ...] = ()
    """For a finding asked in its own words (``choices``): the value each records."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "text": self.text, "kind": self.kind,
                                "section": self.section, "audience": self.audience}
        if self.choices:
            data["choices"] = list(self.choices)
        if self.answers:
            data["answers"] = {a.label: a.value for a in self.answers}
        if self.unit:
            data["unit"] = self.unit
        if self.items:
            data["items"] = [_item_dict(i) for i in self.items]
        return data


def _item_dict(item: ChecklistItem) -> dict[str, Any]:
    data: dict[str, Any] = {"id": item.fact, "text": item.label}
    if item.answers:
        data["choices"] = [a.label for a in item.answers]
        data["answers"] = {a.label: a.value for a in item.answers}
    return data


@attrs.frozen
class Asked:
    """A question put and its answer (``None``: don't know); a checklist's per item."""

    question: InterviewQuestion
    answer: FactValue | None = None
    items: tuple[tuple[str, FactValue | None], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.question.kind == "checklist":
            return {"id": self.question.id, "text": self.question.text,
                    "items": [{"id": fact, "answer": value} for fact, value in self.items]}
        return {"id": self.question.id, "text": self.question.text, "answer": self.answer}


class InterviewError(ValueError):
    """An answer the interview cannot take (not the question asked, or not a valid value)."""


class Interview:
    """One interview: :meth:`next_question`, then :meth:`answer` it, until None.

    ``clinician`` adds the questions only a clinician can answer (an examination, a
    test result); ``case`` is what is already known (never asked again)."""

    def __init__(self, engine: Engine, *, clinician: bool = False,
                 case: Case | None = None) -> None:
        self.engine = engine
        self.clinician = clinician
        self.case: Case = case if case is not None else engine.parse({})
        self.asked: list[Asked] = []
        self._done: set[str] = set()
        """Facts answered or answered "don't know" in this interview."""
        self._pending: InterviewQuestion | None = None
        self.leading_budget = LEADING_BUDGET
        knowledge = engine.knowledge
        self._vocabulary = knowledge.facts
        self._specs = _question_specs(knowledge.questions, knowledge.facts)
        self._settler = engine.settler
        self._bounds = engine.answer_thresholds

    # --- what is asked ------------------------------------------------------------------

    def can_ask(self, spec: QuestionSpec) -> bool:
        """Whether this interview's audience may be asked ``spec`` at all."""
        return self.clinician or spec.audience == "patient"

    def _unasked(self, spec: QuestionSpec) -> list[str]:
        known = self.case.facts()
        return [f for f in spec.facts if f not in known and f not in self._done]

    def open_facts(self) -> set[str]:
        """Facts still to be asked, or that may be once a gate holds: any value possible."""
        reachable = {name for spec in self._specs if self.can_ask(spec)
                     for name in self._unasked(spec)}
        gated = [spec for spec in self._specs if spec.gated and self.can_ask(spec)]
        if not gated:
            return reachable
        known = self.case.facts()
        outlook_state = self._settler.state(known, reachable)
        for spec in gated:
            if True not in outlook_state.condition(spec.gate):
                reachable -= set(spec.facts)
        return reachable

    def outlook(self) -> Outlook:
        """What the answers so far settle, whatever the rest (:mod:`kneerules.settle`)."""
        facts, _ = self.engine.case_facts(self.case)
        return self._settler.outlook(facts, self.open_facts())

    def _askable(self) -> list[QuestionSpec]:
        known = self.case.facts()
        return [spec for spec in self._specs
                if self.can_ask(spec) and self._unasked(spec)
                and (not spec.gated or holds(spec.gate, known))]

    def next_question(self) -> InterviewQuestion | None:
        """The question to put now, or None when the verdict is settled."""
        if self._pending is not None:
            return self._pending
        askable = self._askable()
        chosen = next((spec for spec in askable if spec.always), None)
        if chosen is None:
            outlook = self.outlook()
            if not outlook.settled:
                relevant = set(outlook.relevant)
                relevant |= self._gate_facts(relevant)
                chosen = next((spec for spec in askable
                               if relevant.intersection(spec.facts)), None)
        if chosen is None and self._interviewed() < self.leading_budget:
            chosen = self._sharpens_leading(askable)
        if chosen is None:
            return None
        self._pending = self._put(chosen)
        return self._pending

    def _interviewed(self) -> int:
        """Questions put to the patient so far: the leading budget bounds how long a person
        is interviewed, so a clinician's examination findings (asked last, and only of a
        clinician) do not use it up."""
        return sum(1 for a in self.asked if a.question.audience == "patient")

    def _gate_facts(self, relevant: set[str]) -> set[str]:
        """The facts of the gates in front of relevant follow-ups: asked to open them."""
        more: set[str] = set()
        for spec in self._specs:
            if spec.gated and relevant.intersection(spec.facts) and self.can_ask(spec):
                more |= {t.fact for t in walk_tests(spec.gate)}
        return more

    def _sharpens_leading(self, askable: list[QuestionSpec]) -> QuestionSpec | None:
        assess = self.engine._assess
        base = leading(assess(self.case))
        for spec in askable:
            for name in self._unasked(spec):
                vocabulary = self._vocabulary[name]
                for value in candidate_answers(vocabulary, self._bounds.get(name, ())):
                    if leading(assess(with_answer(self.case, name, value))) != base:
                        return spec
        return None

    def _put(self, spec: QuestionSpec) -> InterviewQuestion:
        if spec.items:
            left = set(self._unasked(spec))
            items = tuple(i for i in spec.items if i.fact in left)
            return InterviewQuestion(spec.id, spec.text or spec.id, "checklist", spec.section,
                                     spec.audience, items=items)
        fact = self._vocabulary[spec.id]
        choices = (tuple(a.label for a in spec.answers) if spec.answers
                   else tuple(c for c in fact.choices if c != "unknown"))
        return InterviewQuestion(
            spec.id, spec.text or fact.question or fact.meaning,
            fact.kind,  # type: ignore[arg-type]
            spec.section, spec.audience, choices=choices, unit=fact.unit,
            answers=spec.answers)

    def still_to_examine(self) -> list[InterviewQuestion]:
        """In a patient's interview: the clinician's questions (an examination, a test)
        whose answers could still change the verdict, to say so with it."""
        if self.clinician:
            return []
        examiner = Interview(self.engine, clinician=True, case=self.case)
        examiner._done = set(self._done)
        outlook = examiner.outlook()
        if outlook.settled:
            return []
        relevant = set(outlook.relevant)
        return [examiner._put(spec) for spec in examiner._askable()
                if spec.audience == "clinician" and relevant.intersection(spec.facts)]

    # --- answers ------------------------------------------------------------------------

    def answer(self, question_id: str, value: object) -> None:
        """Answers the question :meth:`next_question` gave: a value of the fact (True or
        False for a finding), :data:`DONT_KNOW` (or None), or for a checklist a mapping of
        each item's fact to its answer (an item left out is "don't know")."""
        question = self._pending
        if question is None or question.id != question_id:
            raise InterviewError(f"{question_id!r} is not the question being asked"
                                 + (f" ({question.id!r} is)" if question else ""))
        if question.kind == "checklist":
            if not isinstance(value, Mapping):
                raise InterviewError(f"{question_id}: a checklist is answered with a mapping "
                                     "of each item to yes, no or don't know")
            unknown = [k for k in value if k not in {i.fact for i in question.items}]
            if unknown:
                raise InterviewError(f"{question_id}: no item {unknown[0]!r}")
            items = [(item.fact, _item_value(item, value.get(item.fact, DONT_KNOW)))
                     for item in question.items]
            for fact, given in items:
                self._record(fact, given)
            self.asked.append(Asked(question, items=tuple(items)))
        else:
            if question.answers:
                value = _in_own_words(question.id, question.answers, value)
            given = _plain(value)
            if given is not None:
                self._check(question, given)
            self._record(question.id, given)
            self.asked.append(Asked(question, answer=given))
        self._pending = None

    def _check(self, question: InterviewQuestion, value: object) -> None:
        spec = self._vocabulary[question.id]
        if question.kind == "finding":
            ok = isinstance(value, bool)
        elif question.choices:
            # A case may record a field as "unknown" (a value of the vocabulary).
            ok = value in spec.choices
        else:
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and (spec.minimum is None or value >= spec.minimum)
                  and (spec.maximum is None or value <= spec.maximum)
                  and (not spec.integer or float(value).is_integer()))
        if not ok:
            raise InterviewError(f"{question.id}: {value!r} is not an answer "
                                 f"({prompt_hint(question, spec)})")

    def _record(self, fact: str, value: FactValue | None) -> None:
        self._done.add(fact)
        if value is not None:
            self.case = with_answer(self.case, fact, value)

    # --- the result ---------------------------------------------------------------------

    def assessment(self) -> Assessment:
        """The assessment of the answers given (unanswered facts unknown)."""
        return self.engine.evaluate(self.case)

    def transcript(self) -> list[dict[str, Any]]:
        """Every question put and its answer, as ``kneerules ask --replay`` prints them."""
        return [asked.to_dict() for asked in self.asked]


@attrs.frozen
class ItemAsking:
    """A checklist item as it is typed: a finding, yes / no / don't know, or its own words."""

    answers: tuple[AnswerChoice, ...] = ()
    kind: str = "finding"

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(a.label for a in self.answers)


def _item_value(item: ChecklistItem, value: object) -> FactValue | None:
    """An item's answer as the value it records: True, False, or None for don't know (one
    of its own words for an item that has them); InterviewError for anything else."""
    if item.answers:
        return _in_own_words(item.fact, item.answers, value)
    given = _plain(value)
    if given is not None and not isinstance(given, bool):
        raise InterviewError(f"{item.fact}: expected yes, no or don't know")
    return given


def _in_own_words(fact: str, answers: tuple[AnswerChoice, ...],
                  value: object) -> bool | None:
    """The value one of a finding's own answer words records. A bare True or False is
    refused: False would be "normal", which a form's "no" must never record by default."""
    if _plain(value) is None:
        return None
    recorded = {a.label: a.value for a in answers}
    if not isinstance(value, str) or value not in recorded:
        raise InterviewError(f"{fact}: {value!r} is not an answer (one of "
                             f"{' / '.join(recorded)}, or don't know)")
    return recorded[value]


def words_for(answers: tuple[AnswerChoice, ...], value: FactValue | None) -> object:
    """The answer word that records ``value`` (don't know when none does)."""
    return next((a.label for a in answers if a.value is value and value is not None),
                DONT_KNOW)


def _plain(value: object) -> FactValue | None:
    if value is DONT_KNOW or value is None:
        return None
    return value  # type: ignore[return-value]


def _question_specs(questions: Mapping[str, QuestionSpec],
                    vocabulary: Mapping[str, FactSpec]) -> list[QuestionSpec]:
    """Every question in interview order; a fact no plugin asks for comes last in its
    default section, so that nothing a rule reads is out of reach."""
    specs = {id(spec): spec for spec in questions.values()}.values()
    found = list(specs)
    for name, fact in vocabulary.items():
        if fact.kind in ASKED_KINDS and name not in questions:
            found.append(QuestionSpec(name, DEFAULT_SECTION, "patient", DEFAULT_ORDER))
    return sorted(found, key=lambda s: (SECTION_RANK[s.section], s.order, s.id))


def why(interview: Interview, assessment: Assessment) -> list[str]:
    """The verdict's reasons in plain words: the red flags (or the rules' reasons) behind
    the timeframe, the answers they rest on, and the most likely cause."""
    knowledge = interview.engine.knowledge
    rules = {rule.id: rule for rule in knowledge.rules}
    steps = {step.rule: step for step in assessment.trace}
    labels = {item.fact: item.label for spec in interview._specs for item in spec.items}
    timeframe = assessment.triage.timeframe
    lines: list[str] = []
    for rule_id in assessment.triage.because:
        flag = rules[rule_id].then.red_flag
        if flag is not None and flag.message not in lines:
            lines.append(flag.message)
    if not lines:
        lines += [rules[r].because for r in assessment.triage.because
                  if rules[r].then.triage is not None and timeframe != "routine"]
    said: dict[str, None] = {}
    for rule_id in assessment.triage.because:
        step = steps.get(rule_id)
        for name, value in (step.matched.items() if step else ()):
            spec = knowledge.facts.get(name)
            if spec is None or spec.kind not in ASKED_KINDS or value is False:
                continue
            label = labels.get(name) or spec.meaning
            said[label if value is True else f"{label}: {value}"] = None
    if said:
        lines.append("From your answers: " + "; ".join(said) + ".")
    if timeframe == "routine":
        lines.append("None of your answers points to something that needs a doctor sooner.")
    if assessment.differential:
        first = assessment.differential[0]
        lines.append(f"The most likely cause from your answers: {first.name} "
                     f"({first.likelihood}).")
    return lines


def replay(engine: Engine, case: Case, *, clinician: bool = False) -> Interview:
    """The interview answered from ``case``: each question gets the case's value, and a
    fact the case does not record is "don't know"."""
    interview = Interview(engine, clinician=clinician)
    facts = case.facts()
    def said(fact: str, answers: tuple[AnswerChoice, ...]) -> object:
        value = facts.get(fact)
        if answers:
            return words_for(answers, value)
        return DONT_KNOW if value is None else value

    while (question := interview.next_question()) is not None:
        if question.kind == "checklist":
            interview.answer(question.id, {i.fact: said(i.fact, i.answers)
                                           for i in question.items})
        else:
            interview.answer(question.id, said(question.id, question.answers))
    return interview

__all__ = [
    "DONT_KNOW",
    "LEADING_BUDGET",
    "Asked",
    "Interview",
    "InterviewError",
    "InterviewQuestion",
    "ItemAsking",
    "case_dict",
    "parse_answer",
    "prompt_hint",
    "replay",
    "save_case",
    "why",
]
