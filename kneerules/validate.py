"""Turning untrusted input into a :class:`~kneerules.model.Case`, or a :class:`CaseError`
that lists every problem at once, each with its JSON path."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, get_args

import attrs

from kneerules.convert import describe, did_you_mean, key_path, structure
from kneerules.errors import CaseError, Problem
from kneerules.model import CASE_FORMAT, Case, Onset, Patient, Sex, Side
from kneerules.ruledata import FactSpec

DEFAULT_MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
_SECTION_KIND = {"findings": "finding", "measurements": "measurement"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value``, counting no further than ``limit + 1``."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def parse_json(raw: bytes | str, source: str | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """JSON text to Python values, refusing what JSON does not allow (NaN, Infinity)."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise CaseError([Problem("$", f"the input is {size} bytes, over the limit of "
                                 f"{max_bytes} bytes")], source)
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaseError([Problem("$", f"not UTF-8 text (byte {exc.start}: "
                                     f"{raw[exc.start:exc.start + 1]!r})")], source) from None
    else:
        text = raw
    if not text.strip():
        raise CaseError([Problem("$", "empty input: expected a JSON object")], source)
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise CaseError([Problem("$", f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                 f"{exc.msg}")], source) from None
    except ValueError as exc:
        raise CaseError([Problem("$", f"invalid JSON: {exc}")], source) from None
    except RecursionError:
        raise CaseError([Problem("$", "JSON nested too deeply")], source) from None
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise CaseError([Problem("$", f"JSON nested more than {MAX_DEPTH} levels deep")], source)
    return data


def _check_section(data: Mapping[str, Any], section: str,
                   vocabulary: Mapping[str, FactSpec]) -> list[Problem]:
    entries = data.get(section)
    if not isinstance(entries, Mapping):
        return []  # the type error is reported by structuring
    kind = _SECTION_KIND[section]
    problems = []
    # Paths and candidate names are built only for an entry with a problem: this runs
    # for every entry of every case.
    for name, value in entries.items():
        spec = vocabulary.get(name)
        if spec is None or spec.kind not in _SECTION_KIND.values():
            names = [known for known, s in vocabulary.items() if s.kind == kind]
            problems.append(Problem(key_path(f"$.{section}", name),
                                    f"unknown {kind} name{did_you_mean(name, names)}"))
        elif spec.kind != kind:
            other = next(s for s, k in _SECTION_KIND.items() if k == spec.kind)
            problems.append(Problem(key_path(f"$.{section}", name),
                                    f"is a {spec.kind}: put it under {other}"))
        elif kind == "measurement":
            problems += _check_number(key_path(f"$.{section}", name), value, spec)
    return problems


def _check_number(path: str, value: Any, spec: FactSpec) -> list[Problem]:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return []  # reported by structuring
    unit = f" {spec.unit}" if spec.unit else ""
    low = -math.inf if spec.minimum is None else spec.minimum
    high = math.inf if spec.maximum is None else spec.maximum
    if not low <= value <= high:
        return [Problem(path, f"expected a number from {spec.minimum:g} to {spec.maximum:g}"
                        f"{unit}, got {describe(value)}")]
    return []


_CASE_FIELDS = frozenset(field.name for field in attrs.fields(Case))
_PATIENT_FIELDS = frozenset(field.name for field in attrs.fields(Patient))
_SEXES, _ONSETS, _SIDES = get_args(Sex), get_args(Onset), get_args(Side)


def _choice(value: Any, allowed: tuple[str, ...]) -> bool:
    return value is None or (type(value) is str and value in allowed)


def _numbers(value: Any) -> bool:
    return type(value) is dict and all(
        type(k) is str and type(v) in (int, float) and math.isfinite(v) for k, v in value.items())


def quick_case(data: Mapping[str, Any]) -> Case | None:
    """The :class:`Case` cattrs would build from ``data``, built directly when every field is
    plainly well typed; ``None`` leaves the decision, and the report, to cattrs.

    cattrs' general machinery is most of the time a small case takes to parse."""
    if not _CASE_FIELDS.issuperset(data):
        return None
    fmt = data.get("format", CASE_FORMAT)
    case_id, onset, side = data.get("case_id"), data.get("onset"), data.get("side")
    findings, measurements = data.get("findings", {}), data.get("measurements", {})
    if (type(fmt) is not str or (case_id is not None and type(case_id) is not str)
            or not _choice(onset, _ONSETS) or not _choice(side, _SIDES)):
        return None
    if type(findings) is not dict or not all(
            type(k) is str and type(v) is bool for k, v in findings.items()):
        return None
    if not _numbers(measurements):
        return None
    raw_patient = data.get("patient")
    patient = None
    if raw_patient is not None:
        if type(raw_patient) is not dict or not _PATIENT_FIELDS.issuperset(raw_patient):
            return None
        age, sex = raw_patient.get("age"), raw_patient.get("sex")
        if (age is not None and type(age) is not int) or not _choice(sex, _SEXES):
            return None
        patient = Patient(age=age, sex=sex)
    return Case(format=fmt, case_id=case_id, patient=patient, onset=onset, side=side,
                findings=dict(findings), measurements=dict(measurements))


def parse_case(data: Any, vocabulary: Mapping[str, FactSpec], source: str | None = None) -> Case:
    """A validated case from decoded JSON; raises :class:`CaseError` with every problem."""
    if not isinstance(data, Mapping):
        raise CaseError([Problem("$", f"expected a JSON object, got {describe(data)}")], source)
    case = quick_case(data)
    problems: list[Problem] = []
    if case is None:
        case, problems = structure(data, Case)
    if "format" in data and isinstance(data["format"], str) and data["format"] != CASE_FORMAT:
        problems.append(Problem("$.format", f'expected "{CASE_FORMAT}", got '
                                f"{describe(data['format'])}"))
    patient = data.get("patient")
    if isinstance(patient, Mapping) and "age" in patient:
        age_spec = vocabulary["patient.age"]
        problems += _check_number("$.patient.age", patient["age"], age_spec)
    for section in _SECTION_KIND:
        problems += _check_section(data, section, vocabulary)
    if problems or case is None:
        raise CaseError(sorted(set(problems), key=lambda p: (p.path, p.message)), source)
    return case
