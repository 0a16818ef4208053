"""Turning untrusted input into a :class:`~kneerules.model.records.Case`, or a :class:`CaseError`
that lists every problem at once, each with its JSON path.

Two stages: :func:`parse_json` (bytes or text to Python values: size, encoding,
syntax, depth) and :func:`parse_case` (values to a case: shape and types by the
cattrs converter, names and ranges by the vocabulary of the loaded plugins).
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, get_args

import attrs

from kneerules.model.converter import structure
from kneerules.model.errors import CaseError, Problem
from kneerules.model.messages import describe, did_you_mean, is_number, key_path
from kneerules.model.records import CASE_FORMAT, Case, Onset, Patient, Sex, Side
from kneerules.model.rules import FactSpec

DEFAULT_MAX_BYTES = 1024 * 1024
MAX_FACT_BYTES = 8 * 1024 * 1024
"""The largest case the rules engine is handed, however it arrived: durable-rules' C core
crashes on a fact near 16 MiB (a long ``case_id`` built in Python skips ``max_bytes``)."""
MAX_PROBLEMS = 100
"""Problems listed for one case; beyond, one line says how many more. 30,000 misspelt
names would otherwise be 30,000 lines, and 50 s of looking for the closest names."""
MAX_SUGGESTIONS = 20
"""Unknown names per case for which the closest valid names are looked for."""
MAX_DEPTH = 32
"""A case is three levels deep; anything much deeper is not a case, and could exhaust the stack."""

_SECTION_KIND = {"findings": "finding", "measurements": "measurement"}
_SECTION_SHAPE = {"findings": "finding names to true or false",
                  "measurements": "measurement names to numbers"}
_FIELD_PATHS = {"patient.age": "$.patient.age", "patient.sex": "$.patient.sex",
                "onset": "$.onset", "side": "$.side"}

# Python's decoder messages, in the words of someone editing a JSON file.
_JSON_MESSAGES = (
    ("Expecting value", "expected a value"),
    ("Expecting property name enclosed in double quotes", "expected a field name in double "
     "quotes"),
    ("Expecting ',' delimiter", "expected a comma between items"),
    ("Expecting ':' delimiter", "expected a colon after the field name"),
    ("Extra data", "unexpected text after the end of the JSON value"),
    ("Unterminated string starting at", "a string is not closed"),
    ("Invalid control character at", "a control character (such as a newline or tab) inside "
     "a string; write it as \\n or \\t"),
    ("Invalid \\escape", "an invalid backslash escape in a string"),
    ("Invalid \\uXXXX escape", "an invalid \\u escape in a string"),
)


def _size(limit: int) -> str:
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if limit % unit == 0:
            return f"{limit} bytes ({limit // unit} {name})"
    return f"{limit} bytes"


class _Refused(Exception):
    """A JSON construct the case format does not allow, met while decoding."""


class _Constant(_Refused):
    """NaN, Infinity or -Infinity, which Python's decoder takes and JSON does not."""


def _reject_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON number; give a finite number or leave the field out")


# A JSON string (skipped whole), or a bare constant outside strings.
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _where_constant(text: str) -> str:
    """Where the first NaN or Infinity outside a string is, as the decoder's errors say
    it (the decoder's hook for them is not told the position)."""
    for match in _CONSTANT.finditer(text):
        if match.group(1):
            pos = match.start(1)
            return (f" at line {text.count(chr(10), 0, pos) + 1}, column "
                    f"{pos - text.rfind(chr(10), 0, pos)}")
    return ""


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # Valid JSON, but no double holds it; "got Infinity" would not be what was written.
        raise _Refused(f"the number {text[:40]} is too large to represent")
    return value


def _json_message(message: str) -> str:
    for python, ours in _JSON_MESSAGES:
        if message.startswith(python):
            return ours
    return message[:1].lower() + message[1:]


def _syntax_problem(exc: json.JSONDecodeError) -> Problem:
    where = f"invalid JSON at line {exc.lineno}, column {exc.colno}"
    before = exc.doc[:exc.pos].rstrip()
    if not exc.doc[exc.pos:].strip():
        return Problem("$", f"{where}: the text ends before the JSON value is complete")
    if before.endswith(",") and exc.msg.startswith(("Expecting property name", "Expecting value")):
        return Problem("$", f"{where}: a trailing comma; remove the last comma")
    word = re.match(r"[A-Za-z_]+", exc.doc[exc.pos:])
    if word and word.group().lower() in ("true", "false", "null", "none", "yes", "no"):
        return Problem("$", f"{where}: {word.group()} is not a JSON value; write true, false "
                       "or null, in lower case")
    return Problem("$", f"{where}: {_json_message(exc.msg)}")


def _decode(raw: bytes, source: str | None) -> str:
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if raw.startswith(bom):
            raise CaseError([Problem("$", f"the text is {name}, not UTF-8: save it as UTF-8")],
                            source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CaseError([Problem("$", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line "
                                 f"{line} (offset {exc.start}) is not valid UTF-8; save the "
                                 "file as UTF-8")], source) from None


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


def _duplicates(value: Any, repeated: Mapping[int, list[str]], path: str = "$",
                ) -> Iterator[Problem]:
    """Where the decoder met a key twice; json keeps only the last, which would drop data."""
    if isinstance(value, dict):
        for key in repeated.get(id(value), ()):
            yield Problem(key_path(path, key), "given more than once; give each name once")
        for key, item in value.items():
            yield from _duplicates(item, repeated, key_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _duplicates(item, repeated, key_path(path, index))


def parse_json(raw: bytes | str, source: str | None = None,
               max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """JSON text to Python values; raises :class:`CaseError` for anything that is not
    one well-formed JSON value of at most ``max_bytes`` bytes of UTF-8."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise CaseError([Problem("$", f"the input is larger than the limit of "
                                 f"{_size(max_bytes)}")], source)
    text = _decode(raw, source) if isinstance(raw, bytes) else raw
    # RFC 8259 lets a parser ignore a byte order mark; Windows editors write one.
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CaseError([Problem("$", "the input is empty: expected a JSON object")], source)
    repeated: dict[int, list[str]] = {}
    # Holding each such object keeps its id from being reused by a later one, should the
    # decoder drop it (a duplicate key's earlier value).
    held: list[dict[str, Any]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            counts = Counter(key for key, _ in items)
            repeated[id(obj)] = [key for key in obj if counts[key] > 1]
            held.append(obj)
        return obj

    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float,
                          object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise CaseError([_syntax_problem(exc)], source) from None
    except _Constant as exc:
        raise CaseError([Problem("$", f"invalid JSON{_where_constant(text)}: {exc}")],
                        source) from None
    except _Refused as exc:
        raise CaseError([Problem("$", str(exc))], source) from None
    except RecursionError:
        raise CaseError([Problem("$", f"JSON nested more than {MAX_DEPTH} levels deep")],
                        source) from None
    except ValueError as exc:
        # Python refuses integers of more than 4300 digits (CVE-2020-10735).
        if re.search(r"\bdigits\b", str(exc)):
            message = "a number has too many digits"
        else:
            message = _json_message(str(exc))
        raise CaseError([Problem("$", f"invalid JSON: {message}")], source) from None
    if _depth(data, MAX_DEPTH) > MAX_DEPTH:
        raise CaseError([Problem("$", f"JSON nested more than {MAX_DEPTH} levels deep")], source)
    if repeated:
        raise CaseError(list(_duplicates(data, repeated)), source)
    return data


def read_limited(path: str, max_bytes: int = DEFAULT_MAX_BYTES, *,
                 regular_only: bool = True) -> bytes:
    """The bytes of the file ``path``, at most ``max_bytes + 1`` of them (one past the
    limit is enough for :func:`parse_json` to refuse it); a :class:`CaseError` for a file
    that cannot be read. ``regular_only`` refuses, before reading, anything but a regular
    file: a ``*.json`` link to ``/dev/zero`` or a FIFO found in a folder is not a file
    someone meant (it reached 17 GB of memory, or hung)."""
    import os
    import stat

    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if regular_only:
        flags |= getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer
    try:
        fd = os.open(path, flags)
    except OSError as error:
        raise CaseError([Problem("$", f"cannot read: {error.strerror or error}")],
                        path) from None
    try:
        if regular_only and not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CaseError([Problem("$", "not a regular file (a device, a FIFO or a "
                                     "folder): only JSON files are read")], path)
        with open(fd, "rb", closefd=False) as handle:
            return handle.read(max_bytes + 1)
    except OSError as error:
        raise CaseError([Problem("$", f"cannot read: {error.strerror or error}")],
                        path) from None
    finally:
        os.close(fd)


def _value_problem(kind: str, value: Any, spec: FactSpec | None) -> str | None:
    """What is wrong with a finding's or measurement's value, or None."""
    if kind == "finding":
        if not isinstance(value, bool):
            return f"expected true or false, got {describe(value)}"
        return None
    if not is_number(value):
        return f"expected a number, got {describe(value)}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {describe(value)}"
    return _range_problem(value, spec) if spec is not None else None


def _range_problem(value: int | float, spec: FactSpec) -> str | None:
    low = -math.inf if spec.minimum is None else spec.minimum
    high = math.inf if spec.maximum is None else spec.maximum
    if low <= value <= high:
        return None
    what = "a whole number" if spec.integer else "a number"
    if spec.minimum is not None and spec.maximum is not None:
        bounds = f"from {spec.minimum:g} to {spec.maximum:g}"
    elif spec.minimum is not None:
        bounds = f"of at least {spec.minimum:g}"
    else:
        bounds = f"of at most {spec.maximum:g}"
    # A unit such as "0-10" (for a pain score) only repeats the range.
    unit = f" {spec.unit}" if spec.unit and not spec.unit[0].isdigit() else ""
    return f"expected {what} {bounds}{unit}, got {describe(value)}"


def _check_section(section: str, entries: Mapping[Any, Any],
                   vocabulary: Mapping[str, FactSpec]) -> tuple[dict[str, Any], list[Problem]]:
    """The valid entries of ``findings`` or ``measurements``, and one problem per bad entry
    (the first :data:`MAX_PROBLEMS` of them; the caller says how many more)."""
    kind = _SECTION_KIND[section]
    valid: dict[str, Any] = {}
    problems = []
    finding = kind == "finding"
    unknown = 0
    for name, value in entries.items():
        # The usual entry, a known name with a value of its type, is taken at once; the
        # path, the candidate names and the messages are worked out only for a problem.
        spec = vocabulary.get(name) if type(name) is str else None
        if spec is not None and spec.kind == kind and (
                type(value) is bool if finding else _value_problem(kind, value, spec) is None):
            valid[name] = value
            continue
        path = key_path(f"$.{section}", name)
        if not isinstance(name, str):
            problems.append(Problem(path, f"{kind} names must be strings, got {describe(name)}"))
            continue
        spec = vocabulary.get(name)
        messages = []
        if spec is None or spec.kind not in (*_SECTION_KIND.values(), "field"):
            unknown += 1
            hint = ""
            if unknown <= MAX_SUGGESTIONS:
                names = [known for known, item in vocabulary.items() if item.kind == kind]
                hint = did_you_mean(name, names)
            messages.append(f"unknown {kind} name{hint}")
            spec = None
        elif spec.kind == "field":
            messages.append(f"is not a {kind}: give it as {_FIELD_PATHS.get(name, name)}")
        elif spec.kind != kind:
            other = next(s for s, k in _SECTION_KIND.items() if k == spec.kind)
            messages.append(f"is a {spec.kind}, not a {kind}: move it to {other}")
        if spec is None or spec.kind != "field":
            wrong = _value_problem(spec.kind if spec else kind, value, spec)
            if wrong:
                messages.append(wrong)
        if messages:
            # One line per entry: a misspelt name with a bad value is one thing to fix there.
            problems.append(Problem(path, "; ".join(messages)))
        else:
            valid[name] = value
    return valid, problems


def _capped(problems: list[Problem], uncounted: int = 0) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS` problems, then one line saying how many were left out
    (``uncounted``: problems past the cap that were only counted, never made)."""
    left_out = max(0, len(problems) - MAX_PROBLEMS) + uncounted
    shown = problems[:MAX_PROBLEMS]
    if left_out > 0:
        shown.append(Problem("$", f"... and {left_out} more problem{'s' * (left_out != 1)} "
                             "not listed"))
    return shown


cap_problems = _capped


def _check_patient(patient: Any, vocabulary: Mapping[str, FactSpec]) -> list[Problem]:
    if not isinstance(patient, Mapping) or "age" not in patient:
        return []  # a wrong shape is reported by structuring
    age = patient["age"]
    spec = vocabulary.get("patient.age")
    if spec is None or isinstance(age, bool) or not isinstance(age, int):
        return []  # a wrong type is reported by structuring
    wrong = _range_problem(age, spec)
    return [Problem("$.patient.age", wrong)] if wrong else []


def case_data(case: Case) -> dict[str, Any]:
    """A :class:`Case` built in Python back to plain data, without trusting its types.

    attrs does not check types, so an EHR integration can hand over a ``Case``
    holding anything; this keeps whatever is there for :func:`parse_case` to judge.
    """
    data = {field.name: getattr(case, field.name) for field in attrs.fields(Case)}
    patient = data["patient"]
    if isinstance(patient, Patient):
        data["patient"] = {field.name: getattr(patient, field.name)
                           for field in attrs.fields(Patient)
                           if getattr(patient, field.name) is not None}
    return data




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
    plain, patient = _plain_patient(data.get("patient"), None)
    if not plain:
        return None
    return Case(format=fmt, case_id=case_id, patient=patient, onset=onset, side=side,
                findings=dict(findings), measurements=dict(measurements))


def _plain_name(name: Any) -> bool:
    return type(name) is str and name.isascii()


def fast_case(data: dict[str, Any], vocabulary: Mapping[str, FactSpec]) -> Case | None:
    """The :class:`Case` :func:`parse_case` gives for ``data`` when it is a plainly valid
    case (plain types, ASCII text, names in the vocabulary, values in range, as nearly
    every case is); ``None`` sends it through the full checks, which say what is wrong.

    The full path normalises every value, checks each section and builds the case in
    stages: more than the rules cost for a small case. Tested to agree with it."""
    if not _CASE_FIELDS.issuperset(data):
        return None
    fmt = data.get("format", CASE_FORMAT)
    case_id, onset, side = data.get("case_id"), data.get("onset"), data.get("side")
    if (fmt != CASE_FORMAT or type(fmt) is not str
            or (case_id is not None and not _plain_name(case_id))
            or not _choice(onset, _ONSETS) or not _choice(side, _SIDES)):
        return None
    findings, measurements = data.get("findings", {}), data.get("measurements", {})
    if type(findings) is not dict or type(measurements) is not dict:
        return None
    for name, value in findings.items():
        spec = vocabulary.get(name) if _plain_name(name) else None
        if spec is None or spec.kind != "finding" or type(value) is not bool:
            return None
    for name, value in measurements.items():
        spec = vocabulary.get(name) if _plain_name(name) else None
        kind = type(value)
        if (spec is None or spec.kind != "measurement" or (kind is not int and kind is not float)
                or not _in_range(value, spec)):
            return None
    plain, patient = _plain_patient(data.get("patient"), vocabulary.get("patient.age"))
    if not plain:
        return None
    return Case(format=fmt, case_id=case_id, patient=patient, onset=onset, side=side,
                findings=dict(findings), measurements=dict(measurements))


def _plain_patient(raw: Any, age: FactSpec | None) -> tuple[bool, Patient | None]:
    """Whether ``raw`` is plainly a well-typed patient (its age in the range of ``age``, if
    given), and the :class:`Patient`."""
    if raw is None:
        return True, None
    if type(raw) is not dict or not _PATIENT_FIELDS.issuperset(raw):
        return False, None
    years, sex = raw.get("age"), raw.get("sex")
    if years is not None and (type(years) is not int
                              or (age is not None and not _in_range(years, age))):
        return False, None
    if not _choice(sex, _SEXES):
        return False, None
    return True, Patient(age=years, sex=sex)


def _in_range(value: int | float, spec: FactSpec) -> bool:
    # An int is always finite (and math.isfinite cannot take 10**400).
    return (type(value) is int or math.isfinite(value)) and (
        spec.minimum is None or value >= spec.minimum) and (
        spec.maximum is None or value <= spec.maximum)


_CASE_KEYS = {field.name for field in attrs.fields(Case)}


def parse_case(data: Any, vocabulary: Mapping[str, FactSpec], source: str | None = None) -> Case:
    """A validated case from decoded JSON (or a :class:`Case` built in Python);
    raises :class:`CaseError` listing every problem, each once."""
    if type(data) is dict:
        case = fast_case(data, vocabulary)
        if case is not None:
            return case
    if isinstance(data, Case):
        data = case_data(data)
    if not isinstance(data, Mapping):
        raise CaseError([Problem("$", f"expected a JSON object, got {describe(data)}")], source)
    if {"case", "expect"} <= data.keys() and not _CASE_KEYS & data.keys():
        # A vignette's unknown fields would each get a misleading "did you mean" instead.
        raise CaseError([Problem("$", 'a vignette ("case" and "expect"), not a case: '
                                 "`kneerules validate FOLDER` scores vignettes and "
                                 "`kneerules ask --replay FILE` replays one; its \"case\" "
                                 "object is the case")], source)
    problems: list[Problem] = []
    data = plain_data(data, "$", problems)
    if problems:
        raise CaseError(problems[:MAX_PROBLEMS], source)
    shell = dict(data)
    sections: dict[str, dict[str, Any]] = {}
    for section in _SECTION_KIND:
        entries = data.get(section)
        if isinstance(entries, Mapping):
            sections[section], found = _check_section(section, entries, vocabulary)
            problems += found
            shell[section] = {}  # its entries are checked above, against the vocabulary
        elif section in data:
            problems.append(Problem(f"$.{section}", f"expected an object of "
                                    f"{_SECTION_SHAPE[section]}, got {describe(entries)}"))
            del shell[section]
    case = quick_case(shell) if not problems else None
    if case is None:
        case, found = structure(shell, Case)
        problems += found
    form = data.get("format", CASE_FORMAT)
    if isinstance(form, str) and form != CASE_FORMAT:
        problems.append(Problem("$.format", f'expected "{CASE_FORMAT}", got {describe(form)}'))
    problems += _check_patient(data.get("patient"), vocabulary)
    if problems or case is None:
        raise CaseError(_capped(_in_document_order(problems, data)), source)
    return attrs.evolve(case, findings=sections.get("findings", {}),
                        measurements=sections.get("measurements", {}))


def _plain_str(value: str, path: str, problems: list[Problem]) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # A JSON "\ud800" escape decodes to a lone surrogate: not a character, and no UTF-8
        # holds it; durable-rules refuses the whole batch it is in.
        bad = value[exc.start]
        problems.append(Problem(path, f"contains \\u{ord(bad):04x}, half of a UTF-16 surrogate "
                                "pair, which is not a character; fix the text's encoding"))
    return value if type(value) is str else str.__str__(value)


def plain_data(value: Any, path: str, problems: list[Problem]) -> Any:
    """``value`` with every number a plain ``int`` or ``float`` and every string a plain
    ``str``; a string holding a lone surrogate is a problem at its path.

    A float subclass (numpy's ``float64``) can compare or print as it likes: its repr
    reached durable-rules' fact JSON and crashed it, and its comparisons gave a DVT case
    a routine answer. Only what JSON itself can hold goes further."""
    kind = type(value)
    if kind is bool or kind is int or kind is float or value is None:
        return value
    if kind is str:
        # Checked only when it may hold a surrogate; encoding every string costs time.
        return _plain_str(value, path, problems) if not value.isascii() else value
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            # Most entries are a plain name and a plain value: kept as they are, without
            # working out a path (a json.dumps for every dotted name) no problem needs.
            item_kind = type(item)
            if type(key) is str and key.isascii() and (
                    item_kind is bool or item_kind is int or item_kind is float or item is None
                    or (item_kind is str and item.isascii())):
                plain[key] = item
                continue
            where = key_path(path, key)
            if isinstance(key, str):
                key = _plain_str(key, where, problems)
            plain[key] = plain_data(item, where, problems)
            if len(problems) >= MAX_PROBLEMS:
                break
        return plain
    if isinstance(value, list | tuple):
        return [plain_data(item, key_path(path, index), problems)
                for index, item in enumerate(value)]
    if isinstance(value, bool):  # bool cannot be subclassed, but numpy's bool_ is no bool
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return _plain_str(value, path, problems)
    return value  # not JSON: the checks below say what was expected


def plain_fact(value: Any) -> Any:
    """A fact value a plugin computed, as :func:`plain_data` makes a case's values."""
    problems: list[Problem] = []
    plain = plain_data(value, "$", problems)
    if problems:
        raise ValueError(problems[0].message)
    return plain


def check_fact_size(facts: Mapping[str, Any], case_id: str | None,
                    source: str | None = None) -> None:
    """Refuses a case whose fact would be too large for durable-rules (:data:`MAX_FACT_BYTES`)."""
    # Every character is at most 4 bytes of UTF-8 (and a few of JSON's escaping): a cheap
    # bound first, as almost every case is tiny.
    texts = [case_id or "", *facts, *(v for v in facts.values() if isinstance(v, str))]
    bound = sum(len(text) for text in texts) * 6 + 32 * len(facts)
    if bound <= MAX_FACT_BYTES:
        return
    size = len(json.dumps({"case_id": case_id, **facts}, ensure_ascii=False).encode())
    if size > MAX_FACT_BYTES:
        raise CaseError([Problem("$", f"the case is too large for the rules engine: {size} "
                                 f"bytes once its facts are gathered, at most "
                                 f"{_size(MAX_FACT_BYTES)}")], source)


def _in_document_order(problems: list[Problem], data: Mapping[Any, Any]) -> list[Problem]:
    """Each problem once, grouped by the top-level field it is in, in the order of the input."""
    # A lookup by the path's first step, not a scan of every field per problem: 30,000
    # unknown fields took minutes that way.
    roots = {key_path("$", key): index for index, key in enumerate(data)}

    def position(problem: Problem) -> int:
        return roots.get(_root(problem.path), -1)  # -1: the input as a whole

    return sorted(dict.fromkeys(problems), key=position)


_DECODER = json.JSONDecoder()
_FIRST_STEP = re.compile(r"\$(\.[^.\[]*|\[\d+\])")


def _root(path: str) -> str:
    """The first step of a JSON path (``$.findings`` of ``$.findings["a.b"]``)."""
    if path.startswith('$["'):
        try:
            _, end = _DECODER.raw_decode(path, 2)
        except ValueError:
            return path
        return path[:end + 1]
    match = _FIRST_STEP.match(path)
    return match.group() if match else path
