"""From an assessment to CDS Hooks 2.0 cards.

The summary is the triage message of the rule that set the level, written for that rule and
reviewed with it (``kneerules check`` refuses one of 140 characters or more), never cut. The
detail is Markdown in which every piece of text is escaped: EHRs render it, some with raw
HTML, and part of it comes from the record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from kneerules.model.records import Assessment

INDICATORS = {"emergency": "critical", "urgent": "warning", "routine": "info"}
LEVEL_WORDS = {"emergency": "Emergency", "urgent": "Urgent", "routine": "Routine"}

OVERRIDE_SYSTEM = "urn:kneerules:fhir:CodeSystem:card-override-reason"
OVERRIDE_REASONS: tuple[tuple[str, str], ...] = (
    ("already-assessed", "Already assessed by a clinician today"),
    ("findings-not-current", "The recorded findings are not current"),
    ("record-incorrect", "The record is wrong or incomplete"),
    ("other-explanation", "Another diagnosis explains the findings"),
    ("patient-declined", "The patient declined the advice"),
)

UNAVAILABLE_SUMMARY = "Knee triage unavailable: assess manually."
_MAX_IGNORED = 10
_CARD_NAMESPACE = uuid.UUID("6f1d6c1e-5b8e-4d0a-9a57-2a8f0d4c9e11")

# Everything Markdown or HTML could read as markup. A backslash escape keeps the character
# visible as text; < > & become entities because CommonMark leaves a raw HTML tag alone.
# ':' and '.' too: GFM links bare "http://" and "www." text without any brackets.
_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|~^=:\"'"
_ESCAPES = str.maketrans({**{ch: "\\" + ch for ch in _MARKDOWN_SPECIAL},
                          "&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape_markdown(text: object) -> str:
    """``text`` as inert Markdown: shown as written, never markup, a link or HTML, one line."""
    return " ".join(str(text).split()).translate(_ESCAPES)


def source_label(assessment: Assessment) -> str:
    info = assessment.engine
    return f"kneerules {info.version}, rule set {info.ruleset} {info.ruleset_version}"


def versions(assessment: Assessment) -> dict[str, Any]:
    info = assessment.engine
    return {"kneerules": info.version, "ruleset": info.ruleset,
            "ruleset_version": info.ruleset_version,
            "plugins": {p.name: p.version for p in info.plugins}}


def card_uuid(service: str, hook_instance: str, level: str, rules: Sequence[str],
              label: str) -> str:
    """The same card for the same hook instance always gets the same uuid (feedback joins
    on it); a different level, rule or version gets another."""
    name = "|".join([service, hook_instance, level, label, *rules])
    return str(uuid.uuid5(_CARD_NAMESPACE, name))


def _override_reasons() -> list[dict[str, str]]:
    return [{"system": OVERRIDE_SYSTEM, "code": code, "display": display}
            for code, display in OVERRIDE_REASONS]


def _detail(assessment: Assessment, provenance: Sequence[Any],
            rule_because: Mapping[str, str]) -> str:
    e = escape_markdown
    triage = assessment.triage
    lines = [f"**{LEVEL_WORDS[triage.level]}**: {e(triage.message)}"]
    if assessment.red_flags:
        lines += ["", "**Red flags**", ""]
        lines += [f"- {e(flag.message)} (rule {e(flag.rule)})" for flag in assessment.red_flags]
    if triage.because:
        lines += ["", "**Rules that set the level**", ""]
        lines += [f"- {e(rule)}: {e(rule_because.get(rule, ''))}".rstrip(": ")
                  for rule in triage.because]
    likely = [d for d in assessment.differential if d.likelihood != "unlikely"][:3]
    if likely:
        lines += ["", "**Evidence**", ""]
        for entry in likely:
            reasons = "; ".join(e(ev.because) for ev in entry.evidence[:4])
            lines.append(f"- {e(entry.name)} ({e(entry.likelihood)}): {reasons}")
    used = [p for p in provenance if p.status == "used"]
    # A question left unanswered is simply unknown; what matters for review is a record
    # that said something and was set aside (entered in error, resolved, too old).
    ignored = [p for p in provenance if p.status != "used"
               and not (p.reason or "").startswith("unanswered")]
    if used:
        lines += ["", "**Where the inputs came from**", ""]
        lines += [f"- {_provenance_line(p)}" for p in used]
    if ignored:
        lines += ["", "**Ignored records**", ""]
        lines += [f"- {_provenance_line(p)}: {e(p.reason or 'ignored')}"
                  for p in ignored[:_MAX_IGNORED]]
        if len(ignored) > _MAX_IGNORED:
            lines.append(f"- and {len(ignored) - _MAX_IGNORED} more")
    return "\n".join(lines)


def _provenance_line(p: Any) -> str:
    e = escape_markdown
    where = f"{e(p.resource_type)}/{e(p.resource_id)}" if p.resource_id else e(p.resource_type)
    version = f" version {e(p.version)}" if p.version else ""
    return f"{e(p.field)} = {e(_value_text(p.value))} from {where}{version} " \
           f"(mapping {e(p.rule)})"


def _value_text(value: object) -> str:
    if value is None:
        return "no value"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def triage_card(assessment: Assessment, *, service: str, hook_instance: str,
                provenance: Sequence[Any] = (),
                rule_because: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The card for one assessment (every attribute filled, none empty)."""
    label = source_label(assessment)
    triage = assessment.triage
    return {
        "uuid": card_uuid(service, hook_instance, triage.level, triage.because, label),
        "summary": triage.message,
        "indicator": INDICATORS[triage.level],
        "detail": _detail(assessment, provenance, rule_because or {}),
        "source": {"label": label},
        "overrideReasons": _override_reasons(),
    }


def unavailable_card(*, service: str, hook_instance: str, label: str, reason: str
                     ) -> dict[str, Any]:
    """The warning shown when no triage can be given: never a routine card in its place."""
    return {
        "uuid": card_uuid(service, hook_instance, "unavailable", (reason,), label),
        "summary": UNAVAILABLE_SUMMARY,
        "indicator": "warning",
        "detail": "kneerules could not triage this patient's knee: "
                  f"{escape_markdown(reason)}. Assess the patient manually.",
        "source": {"label": label},
        "overrideReasons": _override_reasons(),
    }
