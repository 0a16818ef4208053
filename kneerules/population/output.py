"""Part files of an audit's output: written whole or not at all, read back in order.

A partition's rows go to ``<table>/part-<index>.<format>`` through a temporary file and
an atomic rename, so a partition run twice (its worker died and Dask ran it again)
replaces its own part instead of adding a second one: each case is there once.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from kneerules.population.rows import CHANGE_COLUMNS, COLUMNS

Format = Literal["parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "jsonl")
ASSESSMENTS = "assessments"
CHANGES = "changes"
_LISTS = ("red_flags", "must_not_miss", "level_rules", "problems")
_INTS = ("position",)


def part_path(out: Path, table: str, index: int, fmt: Format) -> Path:
    return out / table / f"part-{index:06d}.{fmt}"


def write_part(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str],
               fmt: Format) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if fmt == "parquet":
            _write_parquet(temporary, rows, columns)
        else:
            with temporary.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps({c: row[c] for c in columns}, ensure_ascii=False))
                    handle.write("\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_parquet(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = []
    for name in columns:
        kind = (pa.list_(pa.string()) if name in _LISTS else
                pa.int64() if name in _INTS else pa.string())
        fields.append(pa.field(name, kind))
    schema = pa.schema(fields)
    table = pa.table({name: [row[name] for row in rows] for name in columns}, schema=schema)
    pq.write_table(table, path)


def clear(out: Path) -> None:
    """Removes a previous audit's parts from ``out`` (its other files are left alone)."""
    for table in (ASSESSMENTS, CHANGES):
        folder = out / table
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name.startswith(("part-", ".part-")):
                    entry.unlink()


def read_rows(out: str | Path, table: str = ASSESSMENTS, status: str | None = None
              ) -> Iterator[dict[str, Any]]:
    """Every row of an audit's output table, in input order (parts in partition order);
    with ``status``, only the rows of that status (``"error"``: the cases not assessed)."""
    folder = Path(out) / table
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("part-*")):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            filters = [("status", "=", status)] if status is not None else None
            yield from pq.read_table(path, filters=filters).to_pylist()
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    row = json.loads(line)
                    if status is None or row.get("status") == status:
                        yield row


__all__ = ["ASSESSMENTS", "CHANGES", "CHANGE_COLUMNS", "COLUMNS", "FORMATS", "read_rows"]
