"""Rendering an assessment: a small registry of renderers keyed by format and audience.

``text`` is for a person (the triage level first, plainly), ``json`` is the
assessment format. A renderer for another format or audience (a patient, a
clinician) registers itself with :func:`renderer`; the CLI offers what is
registered.
"""

from __future__ import annotations

import importlib
import json
import textwrap
from collections.abc import Callable, Sequence

import attrs

from kneerules.knowledge.policy import TIMEFRAME_WORDS
from kneerules.model.converter import to_dict
from kneerules.model.records import Assessment, TraceStep
from kneerules.model.textsafe import json_safe, one_line, terminal_safe

ANY_AUDIENCE = "any"


@attrs.frozen
class RenderOptions:
    """What a reader asked for: the trace too (``explain``), and the line width."""

    explain: bool = False
    width: int = 88
    indent: int | None = 2


Renderer = Callable[[Assessment, RenderOptions], str]
_RENDERERS: dict[tuple[str, str], Renderer] = {}

BUILTIN_RENDERERS = ("kneerules.output.patient", "kneerules.output.clinician")
"""Modules whose renderers register on first use (imported by name: they import this one)."""
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN_RENDERERS:
            importlib.import_module(module)


def renderer(output_format: str, audience: str = ANY_AUDIENCE) -> Callable[[Renderer], Renderer]:
    """Registers the decorated function as the renderer of ``output_format`` for ``audience``."""

    def register(func: Renderer) -> Renderer:
        _RENDERERS[(output_format, audience)] = func
        return func

    return register


def formats() -> list[str]:
    """The output formats that have a renderer."""
    _load_builtin()
    return sorted({fmt for fmt, _ in _RENDERERS})


def audiences(output_format: str) -> list[str]:
    """The audiences ``output_format`` has a renderer for (``any`` serves them all)."""
    _load_builtin()
    return sorted(aud for fmt, aud in _RENDERERS if fmt == output_format)


def render(assessment: Assessment, output_format: str = "text",
           audience: str = ANY_AUDIENCE, options: RenderOptions | None = None) -> str:
    """``assessment`` as ``output_format`` for ``audience`` (falling back to the renderer
    for any audience); raises ``LookupError`` naming what is registered."""
    _load_builtin()
    found = _RENDERERS.get((output_format, audience)) or _RENDERERS.get(
        (output_format, ANY_AUDIENCE))
    if found is None:
        raise LookupError(f"no renderer for format {output_format!r} and audience "
                          f"{audience!r} (formats: {', '.join(formats())})")
    text = found(assessment, options or RenderOptions())
    # Whatever a renderer wrote, no control character in it can drive a terminal (issue 16.3).
    return json_safe(text) if output_format == "json" else terminal_safe(text)



def _wrap(text: str, indent: str = "  ", width: int = 88) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_trace(trace: Sequence[TraceStep], width: int = 88) -> list[str]:
    def wrap(text: str, indent: str = "  ") -> str:
        return _wrap(text, indent, width)

    lines = ["", "Trace (rules in the order they fired):"]
    for step in trace:
        lines.append(f"  {step.step:>2}. {step.rule}  [plugin {step.plugin}, "
                     f"priority {step.priority}]")
        if step.matched:
            matched = ", ".join(f"{k}={_value(v)}" for k, v in step.matched.items())
            lines.append(wrap(f"matched: {matched}", "      "))
        if step.concluded:
            lines.append(wrap(f"concluded: {', '.join(step.concluded)}", "      "))
        lines.append(wrap(f"because: {step.because}", "      "))
    return lines


_PERSON = ("patient", "both")


def render_text(assessment: Assessment, explain: bool = False, width: int = 88) -> str:
    """The assessment for a person: the level first, the red flags and the differential in
    words, the advice. Rule ids, scores and clinician-only items are for ``explain`` (with
    the trace): the default view holds nothing a patient should not act on."""

    def wrap(text: str, indent: str = "  ") -> str:
        return _wrap(text, indent, width)

    def rule(rule_id: str) -> str:
        return f" ({rule_id})" if explain else ""

    triage = assessment.triage
    lines = [f"{triage.level.upper()}: {TIMEFRAME_WORDS[triage.timeframe]}", f"  {triage.message}"]
    if assessment.case_id:
        lines.append(f"  case: {one_line(assessment.case_id)}")
    if triage.because and explain:
        lines.append(f"  because of: {', '.join(triage.because)}")
    if assessment.red_flags:
        lines += ["", "Red flags:"]
        lines += [wrap(f"! {f.message}{rule(f.rule)}") for f in assessment.red_flags]
    lines += ["", "Differential (most likely first):"]
    if not assessment.differential:
        lines.append("  no condition has evidence from these findings")
    for rank, entry in enumerate(assessment.differential, start=1):
        if explain:
            lines.append(f"  {rank}. {entry.name} [{entry.condition}]: {entry.likelihood}, "
                         f"score {entry.score:g}")
        else:
            lines.append(f"  {rank}. {entry.name}: {entry.likelihood}")
        for ev in entry.evidence:
            weight = f"{ev.weight:+g} " if explain else ""
            lines.append(wrap(f"{weight}{ev.because}{rule(ev.rule)}", "       "))
    if assessment.considerations:
        lines += ["", "Also consider:"]
        lines += [wrap(f"- {c.name}: {c.description}") for c in assessment.considerations]
    checks = {a.id for a in assessment.advice if a.kind == "check"}
    for score in assessment.scores if explain else ():
        # The JSON always carries every score; a reader sees one that counts or needs checking.
        if not score.score and f"{score.id}.check_unknown_items" not in checks:
            continue
        if score.interpretation == "indeterminate":
            lines += ["", f"{score.name}: {score.text}"]
        else:
            lines += ["", f"{score.name}: {score.score:g} ({score.text})"]
        counted = [i.label for i in score.items if i.status == "counted"]
        unknown = [i.label for i in score.items if i.status == "unknown"]
        if counted:
            lines.append(wrap(f"counted: {'; '.join(counted)}"))
        if unknown:
            lines.append(wrap(f"not recorded: {'; '.join(unknown)}"))
        lines += [wrap(note) for note in score.notes]
    lines += ["", "Advice:"]
    lines += [wrap(f"- {a.text}") for a in assessment.advice if a.audience in _PERSON]
    clinician = [a for a in assessment.advice if a.audience not in _PERSON]
    if clinician and explain:
        lines += ["", "For the clinician:"]
        lines += [wrap(f"- {a.text}") for a in clinician]
    if assessment.questions is not None:  # asked for (eval --questions): said even when none
        lines += ["", "Questions that would change the result (each answer checked by "
                  "evaluating it), most consequential first:"]
        if not assessment.questions:
            lines.append("  none: no single answer would change the timeframe or the "
                         "leading condition")
        names = {e.condition: e.name for e in assessment.differential}
        for question in assessment.questions:
            moves = []
            for outcome in question.outcomes:
                said = ("yes" if outcome.answer is True else "no" if outcome.answer is False
                        else str(outcome.answer))
                parts = []
                if "timeframe" in outcome.changes:
                    parts.append(TIMEFRAME_WORDS[outcome.timeframe])
                if "leading" in outcome.changes:
                    lead = outcome.leading or ""
                    parts.append(f"leading {names.get(lead, lead or 'none')}")
                moves.append(f"{said} -> {', '.join(parts)}")
            lines.append(wrap(f"- {question.text} [{question.fact}: {'; '.join(moves)}]"))
    if assessment.notes:
        lines += ["", "Notes:"] + [wrap(f"- {n.message}") for n in assessment.notes]
    if explain:
        lines += render_trace(assessment.trace, width)
        engine = assessment.engine
        plugins = ", ".join(f"{p.name} {p.version}" for p in engine.plugins)
        lines += ["", f"kneerules {engine.version}, rule set {engine.ruleset} "
                  f"{engine.ruleset_version}; plugins: {plugins}"]
    return "\n".join(lines) + "\n"


@renderer("text")
def _text(assessment: Assessment, options: RenderOptions) -> str:
    return render_text(assessment, explain=options.explain, width=options.width)


@renderer("json")
def _json(assessment: Assessment, options: RenderOptions) -> str:
    return json.dumps(to_dict(assessment), indent=options.indent, ensure_ascii=False) + "\n"
