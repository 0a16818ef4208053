"""Turning untrusted input into a :class:`~kneerules.model.Case`, or a :class:`CaseError`
that lists every problem at once, each with its JSON path."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from kneerules.convert import describe, did_you_mean, key_path, structure
from kneerules.errors import CaseError, Problem
from kneerules.model import CASE_FORMAT, Case
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
    names = [name for name, spec in vocabulary.items() if spec.kind == kind]
    problems = []
    for name, value in entries.items():
        path = key_path(f"$.{section}", name)
        spec = vocabulary.get(name)
        if spec is None or spec.kind not in _SECTION_KIND.values():
            problems.append(Problem(path, f"unknown {kind} name{did_you_mean(name, names)}"))
        elif spec.kind != kind:
            other = next(s for s, k in _SECTION_KIND.items() if k == spec.kind)
            problems.append(Problem(path, f"is a {spec.kind}: put it under {other}"))
        elif kind == "measurement":
            problems += _check_number(path, value, spec)
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


def parse_case(data: Any, vocabulary: Mapping[str, FactSpec], source: str | None = None) -> Case:
    """A validated case from decoded JSON; raises :class:`CaseError` with every problem."""
    if not isinstance(data, Mapping):
        raise CaseError([Problem("$", f"expected a JSON object, got {describe(data)}")], source)
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
