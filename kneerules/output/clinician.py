"""The assessment as a clinician reads it: what was decided, on what, and what to do next.

The level and timeframe with the rules that set them (and why), the must-not-miss
conditions, the differential with the evidence for and against each condition,
heaviest first, the scores with their unrecorded items, what to examine or ask
next, then the advice: the clinician's, and what the patient was told.
"""

from __future__ import annotations

import textwrap

from kneerules.model.records import Assessment, DifferentialEntry, Question
from kneerules.output.rendering import RenderOptions, render_trace, renderer

TIMEFRAME_TEXT = {
    "now": "now (emergency)",
    "today": "today",
    "within_48_hours": "within 48 hours",
    "within_2_weeks": "within 2 weeks",
    "routine": "routine review",
}


class _Lines:
    def __init__(self, width: int) -> None:
        self.width = max(width, 30)
        self.lines: list[str] = []

    def add(self, text: str, indent: str = "", hang: str = "  ") -> None:
        self.lines += textwrap.wrap(text, self.width, initial_indent=indent,
                                    subsequent_indent=indent + hang) or [""]

    def heading(self, title: str) -> None:
        self.lines.append("")
        self.add(title)


def _answer(value: object) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _question_line(question: Question, names: dict[str, str]) -> str:
    moves = []
    for outcome in question.outcomes:
        leading = names.get(outcome.leading or "", outcome.leading or "no candidate")
        parts = []
        if "timeframe" in outcome.changes:
            parts.append(TIMEFRAME_TEXT[outcome.timeframe])
        if "leading" in outcome.changes:
            parts.append(f"leading: {leading}")
        moves.append(f"{_answer(outcome.answer)} -> {', '.join(parts)}")
    return f"{question.fact}: {question.text} [{'; '.join(moves)}]"


def _evidence(entry: DifferentialEntry, out: _Lines) -> None:
    heaviest = sorted(entry.evidence, key=lambda e: (-abs(e.weight), e.rule))
    for label, items in (("for", [e for e in heaviest if e.weight > 0]),
                         ("against", [e for e in heaviest if e.weight < 0])):
        for ev in items:
            out.add(f"{label} {ev.weight:+g}: {ev.because} ({ev.rule})", "       ", "    ")


def render_clinician(assessment: Assessment, options: RenderOptions) -> str:
    triage = assessment.triage
    out = _Lines(options.width)
    out.add(f"{triage.level.upper()}, {TIMEFRAME_TEXT[triage.timeframe]}: {triage.message}")
    because = {step.rule: step.because for step in assessment.trace}
    if triage.because:
        out.heading("Set by:")
        for rule in triage.because:
            out.add(f"- {rule}: {because.get(rule, '')}".rstrip(": "), "  ")
    if assessment.case_id:
        out.add(f"case: {assessment.case_id}")
    if assessment.red_flags:
        out.heading("Red flags:")
        for flag in assessment.red_flags:
            out.add(f"! {flag.message} ({flag.rule})", "  ")
    must = [e for e in assessment.differential if e.must_not_miss]
    if must:
        out.heading("Must not miss (named by a red flag; exclude before anything else):")
        for entry in must:
            out.add(f"- {entry.name} [{entry.condition}]: {entry.likelihood}, "
                    f"score {entry.score:g}", "  ")
    out.heading("Differential (by evidence; evidence heaviest first):")
    if not assessment.differential:
        out.add("no condition has evidence from these findings", "  ")
    for rank, entry in enumerate(assessment.differential, start=1):
        mark = " (must not miss)" if entry.must_not_miss else ""
        out.add(f"{rank}. {entry.name} [{entry.condition}]: {entry.likelihood}, "
                f"score {entry.score:g}{mark}", "  ")
        _evidence(entry, out)
    for score in assessment.scores:
        if not score.score and not score.unknown:
            continue
        out.heading(f"{score.name}: {score.score:g} ({score.text})")
        counted = [i.label for i in score.items if i.status == "counted"]
        unknown = [i.label for i in score.items if i.status == "unknown"]
        if counted:
            out.add(f"counted: {'; '.join(counted)}", "  ")
        if unknown:
            out.add(f"not recorded: {'; '.join(unknown)}", "  ")
        for note in score.notes:
            out.add(note, "  ")
    checks = [a.text for a in assessment.advice
              if a.audience == "clinician" and a.kind == "check"]
    names = {e.condition: e.name for e in assessment.differential}
    asked = list(assessment.questions or ())
    if checks or asked:
        out.heading("Examine or ask next:")
        for text in checks:
            out.add(f"- {text}", "  ")
        if asked:
            out.add("Findings not recorded that would change the result (checked by "
                    "evaluating each answer), most consequential first:", "  ", "")
        for question in asked:
            out.add(f"- {_question_line(question, names)}", "  ")
    # Only what was written for a clinician: text written for the patient (audience both
    # included) is under what the patient is told.
    own = [a for a in assessment.advice if a.audience == "clinician" and a.kind != "check"]
    if own:
        out.heading("For the clinician:")
        for advice in own:
            out.add(f"- {advice.text} ({advice.id})", "  ")
    told = [a for a in assessment.advice if a.audience in ("patient", "both")]
    if told:
        out.heading("The patient is told:")
        for advice in told:
            out.add(f"- {advice.text} ({advice.id})", "  ")
    if assessment.considerations:
        out.heading("Also consider:")
        for item in assessment.considerations:
            out.add(f"- {item.name}: {item.description} ({item.rule})", "  ")
    if assessment.notes:
        out.heading("Notes:")
        for input_note in assessment.notes:
            out.add(f"- {input_note.message}", "  ")
    if options.explain:
        out.lines += render_trace(assessment.trace, out.width)
    return "\n".join(out.lines) + "\n"


@renderer("text", "clinician")
def _clinician_text(assessment: Assessment, options: RenderOptions) -> str:
    return render_clinician(assessment, options)
