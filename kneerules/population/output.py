"""Part files of an audit's output: written whole or not at all, read back in order.

A partition's rows go to ``<table>/part-<index>.<format>`` through a temporary file and
an atomic rename, so a partition run twice (its worker died and Dask ran it again)
replaces its own part instead of adding a second one: each case is there once.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
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


UNFINISHED = "UNFINISHED.txt"


def start_run(out: Path) -> Path:
    """A fresh folder beside ``out`` for one run (``<out>.unfinished-<time>-<id>``), marked
    as unfinished until :func:`finish_run` renames it into place: an interrupted run never
    leaves its rows beside a previous run's summary and report."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = out.with_name(f"{out.name}.unfinished-{stamp}-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    (staging / UNFINISHED).write_text(
        f"This audit run did not finish (started {stamp}): its rows are not all the "
        f"cases, and it has no summary. The output of a finished run is in {out}.\n",
        encoding="utf-8")
    return staging


def finish_run(staging: Path, out: Path) -> None:
    """The finished run in ``staging`` put in the place of ``out``, and the previous run
    there removed. A rename each: a crash in between leaves either run whole; deleting
    never follows a symbolic link (``out`` itself, or a link inside it)."""
    (staging / UNFINISHED).unlink()
    if not os.path.lexists(out):
        os.rename(staging, out)
        return
    old = out.with_name(f"{out.name}.previous-{uuid.uuid4().hex[:8]}")
    os.rename(out, old)
    os.rename(staging, out)
    remove(old)


def remove(path: Path) -> None:
    """``path`` removed; a symbolic link is removed itself, never what it points to."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    # rmtree works through file descriptors here (rmtree.avoids_symlink_attacks): it
    # unlinks a link inside the tree instead of entering it.
    shutil.rmtree(path)


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
