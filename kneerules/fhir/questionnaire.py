"""The kneerules FHIR Questionnaire, generated from the installed vocabulary, and the
mapping of its QuestionnaireResponse back to a case, 1:1 (an unanswered item is unknown).

linkId = the vocabulary name; findings are boolean items, measurements decimal, age an
integer, sex, onset and side choices. Question texts: a fact's ``question`` when its
plugin gives one, else its ``meaning``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from kneerules.model.errors import Problem
from kneerules.model.records import Case, FactValue
from kneerules.model.rules import FactSpec

if TYPE_CHECKING:
    from kneerules.fhir.model import Entry, MappingRun

QUESTIONNAIRE_URL = "urn:kneerules:fhir:Questionnaire:kneerules"
CHOICE_SYSTEM = "urn:kneerules:fhir:CodeSystem:"
UNIT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
RESPONSE_WINDOW_DAYS = 7.0
"""Answers older than this are not the present complaint (expert opinion, for review)."""
RULE = "fhir.questionnaire"
_USED_STATUS = {"completed", "amended", "in-progress"}
_GROUPS = {"patient": "About you", "pain": "The pain", "worse": "What makes it worse",
           "injury": "How it started", "sign": "What you notice", "risk": "Risk factors",
           "activity": "Activities", "history": "History", "test": "Tests"}


def _text(spec: FactSpec) -> str:
    question = getattr(spec, "question", None)
    return question if isinstance(question, str) and question else spec.meaning


def _item(spec: FactSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": spec.name, "text": _text(spec)}
    if spec.choices:
        item["type"] = "choice"
        item["answerOption"] = [{"valueCoding": {"system": CHOICE_SYSTEM + spec.name,
                                                 "code": c, "display": c}}
                                for c in spec.choices]
    elif spec.kind == "finding":
        item["type"] = "boolean"
    elif spec.integer:
        item["type"] = "integer"
    else:
        item["type"] = "decimal"
    if spec.unit and item["type"] in ("integer", "decimal"):
        item["extension"] = [{"url": UNIT_EXTENSION, "valueCoding": {"display": spec.unit}}]
    return item


def askable(vocabulary: Mapping[str, FactSpec]) -> list[FactSpec]:
    """The facts a patient or clinician can answer (not scores or conclusions)."""
    return [s for s in vocabulary.values() if s.kind in ("field", "finding", "measurement")]


def build_questionnaire(vocabulary: Mapping[str, FactSpec], version: str) -> dict[str, Any]:
    """A FHIR R4 Questionnaire with one item per askable fact, grouped by its prefix."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for spec in askable(vocabulary):
        prefix = spec.name.split(".")[0] if "." in spec.name else (
            "patient" if spec.kind == "field" else "measurement")
        groups.setdefault(prefix, []).append(_item(spec))
    items = [{"linkId": f"group.{prefix}", "type": "group",
              "text": _GROUPS.get(prefix, "Measurements" if prefix == "measurement"
                                  else prefix.replace("_", " ").capitalize()),
              "item": members}
             for prefix, members in groups.items()]
    return {
        "resourceType": "Questionnaire",
        "id": "kneerules",
        "url": QUESTIONNAIRE_URL,
        "version": version,
        "name": "KneerulesPainBehindTheKnee",
        "title": "Pain behind the knee (kneerules)",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Every finding kneerules reads, generated from the installed "
                       "vocabulary. Leave a question unanswered when the answer is not known.",
        "item": items,
    }


def _answers(items: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """(linkId, its answer list, JSON path) of every non-group item, nested or not."""
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        where = f"{path}.item[{index}]"
        if not isinstance(item, Mapping):
            continue
        link = item.get("linkId")
        if "item" in item:
            yield from _answers(item["item"], where)
        if isinstance(link, str) and not link.startswith("group."):
            yield link, item.get("answer"), where


def _value(spec: FactSpec, answer: Mapping[str, Any]) -> FactValue | str | None:
    """The answer's value for ``spec``, or a message (prefixed ``!``) saying what is wrong."""
    if spec.choices:
        coding = answer.get("valueCoding")
        code = coding.get("code") if isinstance(coding, Mapping) else answer.get("valueString")
        if code in spec.choices:
            return str(code)
        return f"!expected one of {', '.join(spec.choices)}, got {code!r}"
    if spec.kind == "finding":
        value = answer.get("valueBoolean")
        return value if isinstance(value, bool) else "!expected valueBoolean (true or false)"
    for key in ("valueDecimal", "valueInteger"):
        value = answer.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                return f"!expected a finite number, got {value}"
            if spec.integer and value != int(value):
                return f"!expected a whole number, got {value}"
            if ((spec.minimum is not None and value < spec.minimum)
                    or (spec.maximum is not None and value > spec.maximum)):
                return (f"!expected a number from {spec.minimum:g} to {spec.maximum:g} "
                        f"{spec.unit or ''}, got {value}").rstrip()
            return int(value) if spec.integer else value
    return "!expected valueDecimal or valueInteger"


def map_response(mapper: MappingRun, entry: Entry) -> None:
    """Offer every answer of a kneerules QuestionnaireResponse to ``mapper``."""
    from kneerules.fhir.elements import clinical_time
    from kneerules.fhir.timing import window_verdict
    from kneerules.model.messages import did_you_mean

    resource = entry.resource
    canonical = resource.get("questionnaire")
    if not isinstance(canonical, str) or canonical.split("|")[0] != QUESTIONNAIRE_URL:
        return  # another questionnaire: nothing kneerules can read in it
    status = resource.get("status")
    skip = None if status in _USED_STATUS else f"status {status}"
    if skip is None:
        skip = window_verdict(clinical_time(resource), mapper.at, RESPONSE_WINDOW_DAYS)
    names = [s.name for s in askable(mapper.vocabulary)]
    for link, answers, where in _answers(resource.get("item"), entry.path):
        spec = mapper.vocabulary.get(link)
        if spec is None or spec.kind not in ("field", "finding", "measurement"):
            mapper.refusals.append(Problem(f"{where}.linkId", f"{link!r} is not a question of "
                                           f"the installed vocabulary{did_you_mean(link, names)}"))
            continue
        if skip is not None:
            mapper.ignore(entry, link, RULE, skip)
            continue
        if not isinstance(answers, list) or not answers:
            mapper.ignore(entry, link, RULE, "unanswered: left unknown")
            continue
        if len(answers) > 1:
            mapper.refusals.append(Problem(f"{where}.answer", "expected one answer, got "
                                           f"{len(answers)}"))
            continue
        answer = answers[0] if isinstance(answers[0], Mapping) else {}
        value = _value(spec, answer)
        if isinstance(value, str) and value.startswith("!"):
            mapper.refusals.append(Problem(f"{where}.answer[0]", value[1:]))
        elif value is not None:
            mapper.offer(entry, link, value, RULE, latest_wins=True)


def case_to_response(case: Case, vocabulary: Mapping[str, FactSpec], *,
                     subject: str = "Patient/example", authored: str,
                     version: str | None = None) -> dict[str, Any]:
    """A completed QuestionnaireResponse that says what ``case`` says (unknowns unanswered)."""
    facts = case.facts()
    questionnaire = build_questionnaire(vocabulary, version or "")
    groups = []
    for group in questionnaire["item"]:
        items = []
        for question in group["item"]:
            item: dict[str, Any] = {"linkId": question["linkId"], "text": question["text"]}
            value = facts.get(question["linkId"])
            if value is not None:
                spec = vocabulary[question["linkId"]]
                item["answer"] = [_answer(spec, value)]
            items.append(item)
        groups.append({"linkId": group["linkId"], "text": group["text"], "item": items})
    canonical = QUESTIONNAIRE_URL + (f"|{version}" if version else "")
    return {"resourceType": "QuestionnaireResponse", "questionnaire": canonical,
            "status": "completed", "subject": {"reference": subject}, "authored": authored,
            "item": groups}


def _answer(spec: FactSpec, value: FactValue) -> dict[str, Any]:
    if spec.choices:
        return {"valueCoding": {"system": CHOICE_SYSTEM + spec.name, "code": value,
                                "display": value}}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if spec.integer:
        return {"valueInteger": int(value)}
    return {"valueDecimal": value}
