"""The assessment as a patient reads it: what to do and how soon, first and plainly.

Then why (the red flags in plain words), what to do meanwhile, what not to do, and
when to get help sooner (safety-netting). Never a rule id, a score, an internal
reference or a sentence said twice; a medical term is explained where it first
appears. Only advice meant for the patient (``audience`` patient or both).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable

from kneerules.model.records import Advice, Assessment
from kneerules.model.rules import TIMEFRAME_RANK
from kneerules.output.rendering import RenderOptions, renderer

HEADLINE = {
    "now": "Go to A&E or call 999 now.",
    "today": "See a doctor today.",
    "within_48_hours": "See a doctor within 2 days.",
    "within_2_weeks": "See a doctor within 2 weeks.",
    "routine": "Book an appointment with your GP or a physiotherapist.",
}
"""The first line: what to do and how soon, by timeframe."""

SUBLINE = {
    "now": "Do not wait to see if it settles.",
    "today": "Ask for a same-day appointment (your GP practice, an urgent care or "
             "out-of-hours service). Do not wait to see if it settles.",
    "within_48_hours": "Ask for an appointment now and say what you have noticed.",
    "within_2_weeks": "Ask for an appointment now and say what you have noticed.",
    "routine": "Any new pain behind the knee should be checked; until then you can look "
               "after it yourself.",
}

CLOT_TODAY = (
    # D7: a possible clot is a same-day pathway, said as the source's "seek immediate
    # medical attention" in NICE NG158's terms.
    "Get seen by a doctor straight away, within the next few hours, today.",
    "Go to same-day emergency care or an urgent GP appointment, or to A&E if nothing else "
    "can see you within a few hours. Do not wait for a routine appointment. Call 999 if you "
    "become breathless, have chest pain or cough up blood.")
"""The first lines when a rule names DVT and the timeframe is today (never "GP or
physiotherapist", never a routine booking)."""


def headline(assessment: Assessment) -> tuple[str, str]:
    """The first two lines: what to do and how soon."""
    timeframe = assessment.triage.timeframe
    if timeframe == "today" and any(f.condition == "dvt" for f in assessment.red_flags):
        return CLOT_TODAY
    return HEADLINE[timeframe], SUBLINE[timeframe]


TIME_WORDS = {"today": "today", "within_48_hours": "48 hours", "within_2_weeks": "2 weeks"}

GLOSSARY: tuple[tuple[str, str, str], ...] = (
    # (term, explanation, a word that means the sentence already explains it)
    ("DVT", "a blood clot in a deep vein of the leg", "clot"),
    ("D-dimer", "a blood test for clots", "blood test"),
    ("popliteal aneurysm", "a swelling of the artery behind the knee", "artery"),
    ("compartment syndrome", "dangerously raised pressure inside the calf muscles",
     "pressure"),
    ("sarcoma", "a rare cancer of bone or soft tissue", "cancer"),
    ("Baker's cyst", "a fluid-filled swelling behind the knee", "fluid"),
    ("Ottawa knee rule", "a check doctors use to decide who needs an X-ray", "doctors use"),
)
"""Medical terms the advice uses and how a patient is told what they mean, once."""

_NOT_TO_DO = re.compile(r"^(do not|don't|never|avoid)\b", re.IGNORECASE)
_FOR_PATIENT = ("patient", "both")
# What a patient must not read: internal references and numbers from a score.
_INTERNAL = re.compile(r"\b(score|summary|source|rule id)\b", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (at a full stop, ? or ! followed by a space)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _key(sentence: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", sentence.lower()).strip()


class _Writer:
    """Collects sentences, each once, and explains each glossary term once."""

    def __init__(self, width: int) -> None:
        self.width = max(width, 30)
        self.seen: set[str] = set()
        self.explained: set[str] = set()
        self.lines: list[str] = []

    def fresh(self, text: str) -> str:
        """The sentences of ``text`` not said before, with terms explained on first use."""
        kept = []
        for sentence in sentences(text):
            key = _key(sentence)
            if key in self.seen:
                continue
            self.seen.add(key)
            kept.append(self._explain(sentence))
        return " ".join(kept)

    def _explain(self, sentence: str) -> str:
        for term, meaning, marker in GLOSSARY:
            if term in self.explained or term not in sentence:
                continue
            self.explained.add(term)
            if marker.lower() not in sentence.lower():
                sentence = sentence.replace(term, f"{term} ({meaning})", 1)
        return sentence

    def paragraph(self, text: str) -> None:
        self.lines += textwrap.wrap(text, self.width) or [""]

    def section(self, title: str, items: Iterable[str]) -> None:
        said = [said for said in (self.fresh(item) for item in items) if said]
        if not said:
            return
        self.lines.append("")
        self.paragraph(title)
        for item in said:
            self.lines += textwrap.wrap(item, self.width, initial_indent="- ",
                                        subsequent_indent="  ")


ONCE_KINDS = frozenset({"rice", "medication", "exercise", "physiotherapy", "brace"})
"""Self-care said once: RICE for a sprain and RICE in general are the same advice."""


def patient_advice(assessment: Assessment) -> list[Advice]:
    """The advice a patient reads: theirs, not what the first lines already say, and each
    kind of self-care once (the leading condition's own words before the general)."""
    mine = [a for a in assessment.advice
            if a.audience in _FOR_PATIENT and a.kind != "safety_net"
            # General advice to seek care is what the headline says, by timeframe.
            and not (a.kind == "seek_care" and a.condition is None)]
    first: dict[str, Advice] = {}
    for advice in sorted(mine, key=lambda a: a.condition is None):  # stable
        if advice.kind in ONCE_KINDS:
            first.setdefault(advice.kind, advice)
    return [a for a in mine if a.kind not in ONCE_KINDS or first[a.kind] is a]


def render_patient(assessment: Assessment, options: RenderOptions) -> str:
    triage = assessment.triage
    out = _Writer(options.width)
    first, second = headline(assessment)
    out.paragraph(out.fresh(first))
    out.paragraph(out.fresh(second))
    # A red flag that names a less pressing timeframe than the result would contradict it.
    other_times = [w for tf, w in TIME_WORDS.items() if tf != triage.timeframe]
    why = [f.message for f in assessment.red_flags
           if not _INTERNAL.search(f.message) and not any(w in f.message for w in other_times)]
    if not why and triage.timeframe != "routine":
        # An urgent or emergency result always says why, in plain words: the conditions a
        # rule named, or the triage message without its timeframe.
        names = {e.condition: e.name for e in assessment.differential}
        named = dict.fromkeys(names.get(f.condition, "") for f in assessment.red_flags
                              if f.condition)
        why = ([f"These findings can be a sign of: {', '.join(n for n in named if n).lower()}."]
               if any(named) else [triage.message.split(":")[0].rstrip(".") + "."])
    out.section("Why:", why)
    do, do_not, know = [], [], []
    for advice in patient_advice(assessment):
        if advice.kind == "information":
            know.append(advice.text)
            continue
        parts = sentences(advice.text)
        do.append(" ".join(s for s in parts if not _NOT_TO_DO.match(s)))
        do_not += [s for s in parts if _NOT_TO_DO.match(s)]
    out.section({"now": "While you wait for help:", "routine": "What you can do meanwhile:"}
                .get(triage.timeframe, "Until you are seen:"), do)
    out.section("What not to do:", do_not)
    out.section("Get help sooner:", assessment.safety_net)
    out.section("Good to know:", know)
    if assessment.questions:
        rank = TIMEFRAME_RANK[triage.timeframe]
        # The yes-answers that would make it more pressing, in words a patient can answer.
        sooner = [q.text for q in assessment.questions
                  if not q.text.startswith("(For a clinician)")
                  and any(o.answer is True and TIMEFRAME_RANK[o.timeframe] > rank
                          for o in q.outcomes)]
        out.section("If the answer to any of these is yes, it changes how soon you need "
                    "to be seen; tell a doctor:", sooner)
    out.section("Please note:", [n.message for n in assessment.notes
                                        if not _INTERNAL.search(n.message)])
    return "\n".join(out.lines) + "\n"


@renderer("text", "patient")
def _patient_text(assessment: Assessment, options: RenderOptions) -> str:
    return render_patient(assessment, options)
