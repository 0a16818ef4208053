"""``kneerules ask``: a terminal interview that asks what would change the answer.

One question at a time, always the most consequential next (the first of
:meth:`Engine.questions` that can change the timeframe). "Don't know" leaves a
fact unknown and is not asked again. The interview stops when no remaining
question can change the timeframe. The case built so far is written after every
answer, so Ctrl-C (or a closed terminal) keeps every answer given.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from kneerules.model.records import Case, FactValue, Question
from kneerules.model.rules import FactSpec
from kneerules.reasoning.lookahead import Escalation
from kneerules.reasoning.questions import timeframe_questions, with_answer

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


def prompt_hint(question: Question, spec: FactSpec) -> str:
    """What the person may type for ``question``."""
    if question.kind == "finding":
        return "y = yes, n = no, d = don't know"
    if question.choices:
        return f"{' / '.join(question.choices)}, or d = don't know"
    low = f"{spec.minimum:g}" if spec.minimum is not None else None
    high = f"{spec.maximum:g}" if spec.maximum is not None else None
    span = f" from {low} to {high}" if low and high else ""
    kind = "a whole number" if spec.integer else "a number"
    return f"{kind}{span}, or d = don't know"


def parse_answer(text: str, question: Question, spec: FactSpec) -> FactValue | object | None:
    """The value typed (or :data:`DONT_KNOW`); None when it is not a valid answer."""
    said = text.strip().lower()
    if said in _DONT_KNOW:
        return DONT_KNOW
    if question.kind == "finding":
        return True if said in _YES else False if said in _NO else None
    if question.choices:
        # A choice may be typed in full or by its first letters ("l" for left).
        found = [c for c in question.choices if c == said or (said and c.startswith(said))]
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


CLINICIAN_QUESTION = "(For a clinician)"
"""How the vocabulary marks a question only a clinician can answer."""


def is_for_clinician(question: str) -> bool:
    """Whether a vocabulary question is one only a clinician can answer."""
    return question.lstrip().startswith(CLINICIAN_QUESTION)


QuestionsOf = Callable[[Case, set[str]], Sequence[Question]]
EscalationsOf = Callable[[Case, set[str]], Sequence[Escalation]]


def next_question(questions_of: QuestionsOf, case: Case, skipped: set[str],
                  escalations_of: EscalationsOf | None = None,
                  vocabulary: Mapping[str, FactSpec] | None = None) -> Question | None:
    """The most consequential question that can still change the timeframe, or None.

    First a question whose answer alone changes the timeframe; when there is none, the
    first fact of the most pressing set of answers that raise it only together (its
    ``outcomes`` are then empty: the answer matters with the others)."""
    # The interview is a patient's: a question only a clinician can answer (pulses, pain on
    # passive stretch, an alternative diagnosis) is never put to them.
    left = [q for q in timeframe_questions(questions_of(case, skipped))
            if not is_for_clinician(q.text)]
    if left:
        return left[0]
    if escalations_of is None or vocabulary is None:
        return None
    for escalation in escalations_of(case, skipped):
        for fact in escalation.answers:
            spec = vocabulary[fact]
            if is_for_clinician(spec.question or ""):
                continue
            return Question(fact=fact, text=spec.question or spec.meaning,
                            kind=spec.kind,  # type: ignore[arg-type]
                            changes="timeframe", outcomes=(), unit=spec.unit,
                            choices=tuple(c for c in spec.choices if c != "unknown"))
    return None


def run_interview(
    questions_of: QuestionsOf,
    vocabulary: Mapping[str, FactSpec],
    case: Case,
    ask: Callable[[int, Question, FactSpec], FactValue | object],
    saved: Callable[[Case], None] = lambda case: None,
    escalations_of: EscalationsOf | None = None,
) -> Case:
    """Asks until no answer, alone or (with ``escalations_of``) together with others,
    can change the timeframe; returns the case built.

    ``ask(number, question, spec)`` returns the answer (or :data:`DONT_KNOW`);
    ``saved`` is called with the case after every answer. An interrupt inside
    ``ask`` propagates after everything answered so far was saved."""
    skipped: set[str] = set()
    number = 0
    while (question := next_question(questions_of, case, skipped, escalations_of,
                                     vocabulary)) is not None:
        number += 1
        answer = ask(number, question, vocabulary[question.fact])
        if answer is DONT_KNOW:
            skipped.add(question.fact)
            continue
        case = with_answer(case, question.fact, answer)  # type: ignore[arg-type]
        saved(case)
    return case


__all__ = [
    "CLINICIAN_QUESTION", "DONT_KNOW", "case_dict", "is_for_clinician", "next_question",
    "parse_answer", "prompt_hint", "run_interview", "save_case",
]
