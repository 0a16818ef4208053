"""The assessment for a person to read: the triage level first, plainly."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from kneerules.model import Assessment, TraceStep
from kneerules.policy import TIMEFRAME_WORDS



def _wrap(text: str, indent: str = "  ", width: int = 88) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_trace(trace: Sequence[TraceStep]) -> list[str]:
    lines = ["", "Trace (rules in the order they fired):"]
    for step in trace:
        lines.append(f"  {step.step:>2}. {step.rule}  [plugin {step.plugin}, "
                     f"priority {step.priority}]")
        if step.matched:
            matched = ", ".join(f"{k}={_value(v)}" for k, v in step.matched.items())
            lines.append(_wrap(f"matched: {matched}", "      "))
        if step.concluded:
            lines.append(_wrap(f"concluded: {', '.join(step.concluded)}", "      "))
        lines.append(_wrap(f"because: {step.because}", "      "))
    return lines


def render_text(assessment: Assessment, explain: bool = False) -> str:
    triage = assessment.triage
    lines = [f"{triage.level.upper()}: {TIMEFRAME_WORDS[triage.timeframe]}", f"  {triage.message}"]
    if assessment.case_id:
        lines.append(f"  case: {assessment.case_id}")
    if triage.because:
        lines.append(f"  because of: {', '.join(triage.because)}")
    if assessment.red_flags:
        lines += ["", "Red flags:"]
        lines += [_wrap(f"! {f.message} ({f.rule})") for f in assessment.red_flags]
    lines += ["", "Differential (most likely first):"]
    if not assessment.differential:
        lines.append("  no condition has evidence from these findings")
    for rank, entry in enumerate(assessment.differential, start=1):
        lines.append(f"  {rank}. {entry.name} [{entry.condition}]: {entry.likelihood}, "
                     f"score {entry.score:g}")
        for ev in entry.evidence:
            lines.append(_wrap(f"{ev.weight:+g} {ev.because} ({ev.rule})", "       "))
    if assessment.considerations:
        lines += ["", "Also consider:"]
        lines += [_wrap(f"- {c.name}: {c.description}") for c in assessment.considerations]
    checks = {a.id for a in assessment.advice if a.kind == "check"}
    for score in assessment.scores:
        # The JSON always carries every score; a person sees one that counts or needs checking.
        if not score.score and f"{score.id}.check_unknown_items" not in checks:
            continue
        lines += ["", f"{score.name}: {score.score:g} ({score.text})"]
        counted = [i.label for i in score.items if i.status == "counted"]
        unknown = [i.label for i in score.items if i.status == "unknown"]
        if counted:
            lines.append(_wrap(f"counted: {'; '.join(counted)}"))
        if unknown:
            lines.append(_wrap(f"not recorded: {'; '.join(unknown)}"))
        lines += [_wrap(note) for note in score.notes]
    lines += ["", "Advice:"]
    lines += [_wrap(f"- {a.text}") for a in assessment.advice]
    if assessment.notes:
        lines += ["", "Notes:"] + [_wrap(f"- {n}") for n in assessment.notes]
    if explain:
        lines += render_trace(assessment.trace)
        engine = assessment.engine
        plugins = ", ".join(f"{p.name} {p.version}" for p in engine.plugins)
        lines += ["", f"kneerules {engine.version}, rule set {engine.ruleset} "
                  f"{engine.ruleset_version}; plugins: {plugins}"]
    return "\n".join(lines) + "\n"
