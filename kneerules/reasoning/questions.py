"""The questions that would change the answer: unknown facts whose answer moves the result.

For a case, every fact a case can record and this one does not is tried with each
answer it could take (yes and no; each choice of a field; numbers on either side of
every threshold the rules and scores test). The case is evaluated again with the
answer, and the fact becomes a question only if the timeframe or the leading
condition really changes: nothing here is guessed from the rules' text.

Most consequential first: a change of timeframe before a change of diagnosis, a
bigger change of timeframe before a smaller, then the more pressing result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from kneerules.model.records import Assessment, Case, FactValue, Outcome, Patient, Question
from kneerules.model.rules import TIMEFRAME_RANK, FactSpec, FactTest, Rule, ScoreSpec, walk_tests

ASKED_KINDS = ("finding", "measurement", "field")
"""The facts a case records (scores and conclusions are worked out, never asked)."""

Assess = Callable[[Case], Assessment]


def leading(assessment: Assessment) -> str | None:
    """The condition at the top of the differential, or None."""
    return assessment.differential[0].condition if assessment.differential else None


def with_answer(case: Case, fact: str, value: FactValue | None) -> Case:
    """``case`` with ``fact`` recorded as ``value`` (None: taken out again)."""
    # The values are the vocabulary's (checked again when the case is evaluated).
    changes: dict[str, Any]
    if fact in ("patient.age", "patient.sex"):
        changes = {fact.split(".", 1)[1]: value}
        return attrs.evolve(case, patient=attrs.evolve(case.patient or Patient(), **changes))
    if fact in ("onset", "side"):
        changes = {fact: value}
        return attrs.evolve(case, **changes)
    if isinstance(value, bool) or (value is None and fact in case.findings):
        findings = {k: v for k, v in case.findings.items() if k != fact}
        if value is not None:
            findings[fact] = value
        return attrs.evolve(case, findings=findings)
    measurements = {k: v for k, v in case.measurements.items() if k != fact}
    if value is not None:
        measurements[fact] = value  # type: ignore[assignment]
    return attrs.evolve(case, measurements=measurements)


def thresholds(rules: Iterable[Rule], scores: Iterable[ScoreSpec]) -> dict[str, set[float]]:
    """Every number a rule or score compares each fact with."""
    tests: list[FactTest] = [t for rule in rules for t in walk_tests(rule.when)]
    for score in scores:
        tests += [t for item in score.items for t in walk_tests(item.when)]
        tests += list(walk_tests(score.applies_when))
    found: dict[str, set[float]] = {}
    for test in tests:
        for _, bound in test.comparisons():
            found.setdefault(test.fact, set()).add(bound)
    return found


def candidate_answers(spec: FactSpec, bounds: Iterable[float]) -> list[FactValue]:
    """The answers worth trying for ``spec``: both sides of every threshold for a number."""
    if spec.kind == "finding":
        return [True, False]
    if spec.choices:
        return [c for c in spec.choices if c != "unknown"]
    step = 1.0 if spec.integer or spec.unit != "°C" else 0.5
    values: set[float] = set()
    for bound in bounds:
        values.update((bound - step, bound, bound + step))
    low = spec.minimum if spec.minimum is not None else float("-inf")
    high = spec.maximum if spec.maximum is not None else float("inf")
    kept = sorted(v for v in values if low <= v <= high)
    if spec.integer:
        return list(dict.fromkeys(int(v) for v in kept if float(v).is_integer()))
    return [int(v) if float(v).is_integer() else v for v in kept]


def _outcome(base: Assessment, answer: FactValue, result: Assessment) -> Outcome | None:
    changes: list[Literal["timeframe", "leading"]] = []
    if result.triage.timeframe != base.triage.timeframe:
        changes.append("timeframe")
    if leading(result) != leading(base):
        changes.append("leading")
    if not changes:
        return None
    return Outcome(answer, result.triage.timeframe, leading(result), tuple(changes))


def _consequence(base: Assessment, question: Question) -> tuple[int, int, int]:
    """Bigger is more consequential: changes the timeframe, by how much, to how pressing."""
    rank = TIMEFRAME_RANK[base.triage.timeframe]
    moved = [TIMEFRAME_RANK[o.timeframe] for o in question.outcomes
             if "timeframe" in o.changes]
    if not moved:
        return (0, 0, 0)
    return (1, max(abs(m - rank) for m in moved), max(moved))


def find_questions(
    assess: Assess,
    case: Case,
    vocabulary: Mapping[str, FactSpec],
    rules: Sequence[Rule],
    scores: Sequence[ScoreSpec] = (),
    skip: Iterable[str] = (),
) -> tuple[Question, ...]:
    """The questions for ``case`` (a validated case), most consequential first; ``skip``
    names facts not to ask (answered "don't know")."""
    base = assess(case)
    bounds = thresholds(rules, scores)
    known = set(case.facts()) | set(skip)
    found: list[tuple[tuple[int, int, int], int, Question]] = []
    for order, spec in enumerate(vocabulary.values()):
        if spec.kind not in ASKED_KINDS or spec.name in known:
            continue
        outcomes: list[Outcome] = []
        unchanged: list[FactValue] = []
        _try_answers(assess, case, base, spec, bounds.get(spec.name, ()), outcomes, unchanged)
        if not outcomes:
            continue
        moves_timeframe = any("timeframe" in o.changes for o in outcomes)
        question = Question(
            fact=spec.name,
            text=spec.question or spec.meaning,
            kind=spec.kind,  # type: ignore[arg-type]
            changes="timeframe" if moves_timeframe else "leading",
            outcomes=tuple(outcomes),
            unchanged=tuple(unchanged),
            unit=spec.unit,
            choices=tuple(c for c in spec.choices if c != "unknown"),
        )
        found.append((_consequence(base, question), order, question))
    found.sort(key=lambda item: (tuple(-x for x in item[0]), item[1]))
    return tuple(question for _, _, question in found)


def _try_answers(assess: Assess, case: Case, base: Assessment, spec: FactSpec,
                 bounds: Iterable[float], outcomes: list[Outcome],
                 unchanged: list[FactValue]) -> None:
    seen: set[tuple[str, str | None]] = set()
    for answer in candidate_answers(spec, bounds):
        outcome = _outcome(base, answer, assess(with_answer(case, spec.name, answer)))
        if outcome is None:
            unchanged.append(answer)
            continue
        # A number gives the first answer of each distinct result: "38" stands for
        # "38 or more" when 39 says the same.
        key = (outcome.timeframe, outcome.leading)
        if spec.kind != "finding" and key in seen:
            continue
        seen.add(key)
        outcomes.append(outcome)


def timeframe_questions(questions: Iterable[Question]) -> list[Question]:
    """Those whose answer can change the timeframe (the interview asks only these)."""
    return [q for q in questions if q.changes == "timeframe"]


__all__ = [
    "ASKED_KINDS", "candidate_answers", "find_questions", "leading", "thresholds",
    "timeframe_questions", "with_answer",
]
