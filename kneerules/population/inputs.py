"""Inputs of an audit cut into partitions the client plans and the workers read.

The client only scans: it never sends cases over the wire. A partition names a file and
a range in it (JSON Lines: bytes; Parquet: rows of a row group), so every worker reads
its own cases, and a partition read twice (after a worker died) gives the same cases.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from kneerules.model.errors import CaseError, KneerulesError, Problem
from kneerules.model.rules import FactSpec

Kind = Literal["jsonl", "parquet", "fhir", "fhir-jsonl"]
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
FHIR_SUFFIX = ".json"  # one FHIR Bundle (or resource list) per file: one patient, one case
FHIR_JSONL_SUFFIXES = (".fhir.jsonl", ".fhir.ndjson")  # one Bundle per line
# Columns a Parquet input may have besides findings and measurements.
CASE_FIELDS = ("case_id", "patient.age", "patient.sex", "onset", "side")


class InputError(KneerulesError):
    """An input that cannot be audited at all (unreadable, unknown format, bad column)."""


@attrs.frozen
class Partition:
    """Cases ``first``, ``first + 1``... of ``path``: JSON Lines bytes ``start:stop`` (of
    cases or of FHIR Bundles), or rows ``start:stop`` of Parquet row group ``group``; or
    FHIR Bundle ``files``, one case each (at position 1). Positions count from 1 (a
    JSON Lines line number, a Parquet row number)."""

    index: int
    kind: Kind
    path: str
    start: int
    stop: int
    first: int
    group: int = 0
    files: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        if self.kind == "fhir":
            more = f" and {len(self.files) - 1} more" if len(self.files) > 1 else ""
            return f"{self.path}{more}"
        return f"{self.path} from {'row' if self.kind == 'parquet' else 'line'} {self.first}"


def kind_of(path: Path) -> Kind:
    name, suffix = path.name.lower(), path.suffix.lower()
    if name.endswith(FHIR_JSONL_SUFFIXES):
        return "fhir-jsonl"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix == FHIR_SUFFIX:
        return "fhir"
    raise InputError(f"{path}: not an input an audit reads (expected JSON Lines cases "
                     f"{'/'.join(JSONL_SUFFIXES)}, Parquet {'/'.join(PARQUET_SUFFIXES)}, a "
                     f"FHIR Bundle {FHIR_SUFFIX} or FHIR Bundles one per line "
                     f"{'/'.join(FHIR_JSONL_SUFFIXES)})")


def plan(paths: Sequence[str | Path], size: int, vocabulary: Mapping[str, FactSpec]
         ) -> list[Partition]:
    """Every input cut into partitions of at most ``size`` cases, in input order."""
    if size < 1:
        raise ValueError(f"partition size must be at least 1, got {size}")
    parts: list[Partition] = []
    bundles: list[str] = []  # FHIR Bundle files waiting to fill a partition

    def flush() -> None:
        if bundles:
            parts.append(Partition(len(parts), "fhir", bundles[0], 0, 0, 1,
                                   files=tuple(bundles)))
            bundles.clear()

    for given in paths:
        path = Path(given).resolve()
        kind = kind_of(path)
        if kind == "fhir":
            if not path.is_file():
                raise InputError(f"{given}: cannot read: no such file")
            bundles.append(str(path))
            if len(bundles) == size:
                flush()
            continue
        flush()
        try:
            if kind in ("jsonl", "fhir-jsonl"):
                spans = list(_jsonl_spans(path, size))
            else:
                spans = list(_parquet_spans(path, size, vocabulary))
        except OSError as error:
            raise InputError(f"{given}: cannot read: {error.strerror or error}") from None
        for start, stop, first, group in spans:
            parts.append(Partition(len(parts), kind, str(path), start, stop, first, group))
    flush()
    return parts


def _jsonl_spans(path: Path, size: int) -> Iterator[tuple[int, int, int, int]]:
    with path.open("rb") as handle:
        start = offset = 0
        first = line = 1
        for raw in handle:
            offset += len(raw)
            if line - first + 1 == size:
                yield start, offset, first, 0
                start, first = offset, line + 1
            line += 1
        if offset > start:
            yield start, offset, first, 0


def _parquet_spans(path: Path, size: int, vocabulary: Mapping[str, FactSpec]
                   ) -> Iterator[tuple[int, int, int, int]]:
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError...: say which file
        raise InputError(f"{path}: not a readable Parquet file: {error}") from None
    check_columns(path, handle.schema_arrow, vocabulary)
    before = 0
    metadata = handle.metadata
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        for start in range(0, rows, size):
            yield start, min(start + size, rows), before + start + 1, group
        before += rows


def check_columns(path: Path, schema: Any, vocabulary: Mapping[str, FactSpec]) -> None:
    """Refuses, before any work, a column that is not a case field, a finding or a
    measurement, or a column of the wrong type (a finding holds nullable booleans)."""
    import pyarrow.types as pt

    problems = []
    known = [*CASE_FIELDS, *(n for n, s in vocabulary.items()
                             if s.kind in ("finding", "measurement"))]
    for field in schema:
        name, kind = field.name, _column_kind(field.name, vocabulary)
        if kind is None:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f' (did you mean "{near[0]}"?)' if near else ""
            problems.append(f"column {name!r} is not a case field, finding or measurement{hint}")
            continue
        kind_ok = {"finding": pt.is_boolean, "measurement": _is_number,
                   "integer": pt.is_integer, "text": _is_text}[kind](field.type)
        if not kind_ok:
            want = {"finding": "booleans (null = unknown)", "measurement": "numbers",
                    "integer": "integers", "text": "strings"}[kind]
            problems.append(f"column {name!r} holds {field.type}; expected {want}")
    if problems:
        raise InputError(f"{path}: " + "; ".join(problems))


def _is_number(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_integer(arrow_type) or pt.is_floating(arrow_type))


def _is_text(arrow_type: Any) -> bool:
    import pyarrow.types as pt

    return bool(pt.is_string(arrow_type) or pt.is_large_string(arrow_type))


def _column_kind(name: str, vocabulary: Mapping[str, FactSpec]) -> str | None:
    if name == "patient.age":
        return "integer"
    if name in CASE_FIELDS:
        return "text"
    spec = vocabulary.get(name)
    if spec is not None and spec.kind in ("finding", "measurement"):
        return spec.kind
    return None


# One case read from an input: its file, its position, and either JSON text (a case or a
# FHIR Bundle) or a case dict.
Item = tuple[str, int, bytes | dict[str, Any]]


def read(part: Partition, vocabulary: Mapping[str, FactSpec]) -> Iterator[Item]:
    """The cases of one partition, where they are, as the worker reads them."""
    if part.kind == "fhir":
        for path in part.files:
            with open(path, "rb") as handle:
                yield path, 1, handle.read()
        return
    if part.kind in ("jsonl", "fhir-jsonl"):
        with open(part.path, "rb") as handle:
            handle.seek(part.start)
            block = handle.read(part.stop - part.start)
        lines = block.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for number, line in enumerate(lines, start=part.first):
            yield part.path, number, line
        return
    import pyarrow.parquet as pq

    table = pq.ParquetFile(part.path).read_row_group(part.group)
    rows = table.slice(part.start, part.stop - part.start).to_pylist()
    for number, row in enumerate(rows, start=part.first):
        yield part.path, number, row_case(row, vocabulary)


def row_case(row: Mapping[str, Any], vocabulary: Mapping[str, FactSpec]) -> dict[str, Any]:
    """The case a Parquet row stands for: null is unknown, so it is left out, never false."""
    case: dict[str, Any] = {}
    patient: dict[str, Any] = {}
    findings: dict[str, Any] = {}
    measurements: dict[str, Any] = {}
    for name, value in row.items():
        if value is None:
            continue
        if name.startswith("patient."):
            patient[name.removeprefix("patient.")] = value
        elif name in CASE_FIELDS:
            case[name] = value
        elif vocabulary[name].kind == "finding":
            findings[name] = value
        else:
            measurements[name] = value
    if patient:
        case["patient"] = patient
    case["findings"] = findings
    if measurements:
        case["measurements"] = measurements
    return case


_SECTION_PATH = re.compile(r'^\$\.(?:findings|measurements)(?:\["([^"]+)"\]|\.(\w+))')


def column_problems(error: CaseError) -> CaseError:
    """The same problems located by Parquet column (``column 'patient.age'``) rather than
    by the JSON path of the case the row was turned into."""
    problems = []
    for problem in error.problems:
        match = _SECTION_PATH.match(problem.path)
        if match:
            where = f"column {match.group(1) or match.group(2)!r}"
        elif problem.path.startswith("$.") and problem.path[2:] in CASE_FIELDS:
            where = f"column {problem.path[2:]!r}"
        else:
            where = problem.path
        problems.append(Problem(where, problem.message))
    return CaseError(problems, error.source)


def case_id_of(item: Any) -> str | None:
    """A bad case's id, when it has a readable one (to find it in the source system): its
    ``case_id``, or a FHIR Bundle's ``Bundle/<id>``."""
    data: Any = item
    if isinstance(item, bytes):
        try:
            data = json.loads(item)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    value = data.get("case_id")
    if isinstance(value, str):
        return value
    if data.get("resourceType") == "Bundle" and isinstance(data.get("id"), str):
        return f"Bundle/{data['id']}"
    return None


def parse_bundle(raw: bytes, source: str) -> Any:
    """A FHIR Bundle's JSON, or a CaseError as for a case that is not JSON."""
    try:
        return json.loads(raw)
    except ValueError as error:
        raise CaseError([Problem("$", f"invalid JSON: {error}")], source) from None
