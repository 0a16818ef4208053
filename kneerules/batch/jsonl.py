"""JSON Lines in, JSON Lines out (``kneerules eval --jsonl``): one output line per input
line, in input order, a case's assessment or the error record of a line that is not one.

Each worker serialises, checks and encodes its lines (:func:`assess_line`). With more than
one worker, a chunk's output goes to a spool file that this process copies to the output
in input order (:func:`write_lines`): an assessment is ~15 KB of JSON, and passing it back
through the executor's pipe and pickles copied it about six times in the parent, which
shares a core with the workers on a 2-core machine and so capped the speed-up (measured
1.68x for --jobs 2; see bench/README.md).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, Protocol

from kneerules.batch.pool import (
    DEFAULT_CHUNKSIZE,
    Engine,
    chunks_of,
    cpu_count,
    max_jobs,
    run_ordered,
    with_deadline,
)
from kneerules.knowledge.config import DEFAULT_CASE_DEADLINE
from kneerules.model.errors import CaseError, EngineError, Problem
from kneerules.model.textsafe import json_safe


def error_record(number: int, raw: bytes, error: CaseError) -> dict[str, Any]:
    """The JSON Lines record standing for a line that is not a valid case."""
    record: dict[str, Any] = {"line": number}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("case_id"), str):
        record["case_id"] = data["case_id"]
    record["error"] = {"problems": [{"path": p.path, "message": p.message}
                                    for p in error.problems]}
    return record


def assess_line(engine: Engine, numbered: tuple[int, bytes]) -> tuple[bytes, bool]:
    """One JSON Lines input line to one output line (UTF-8, ending in a newline), and
    whether it was a valid case.

    Serialising and encoding here, in the worker, spares the parent most of the work: on
    two cores the parent shares a core with the workers, so what it spends per case caps
    the speed-up (decoding and re-checking each line there was ~15 % of its time)."""
    number, raw = numbered
    try:
        assessment = engine.evaluate_json(raw, f"line {number}")
    except CaseError as error:
        # The record echoes the line's case_id, which may hold a lone surrogate: as a \u
        # escape, the line stays valid UTF-8.
        return _line(json.dumps(error_record(number, raw, error), ensure_ascii=False)), False
    except EngineError as error:
        # The engine failed on this case alone (and cleared what it held of it): the other
        # lines are still assessed, and this one says why it was not.
        failed = CaseError([Problem("$", f"the engine could not assess this case: {error}")])
        return _line(json.dumps(error_record(number, raw, failed), ensure_ascii=False)), False
    return _line(engine.json_writer.write(assessment)), True


def _line(text: str) -> bytes:
    # json_safe escapes lone surrogates, so the text always encodes.
    return (json_safe(text) + "\n").encode("utf-8")


def assess_lines(engine: Engine, lines: Iterable[bytes], *, jobs: int | None = None,
                 chunksize: int = DEFAULT_CHUNKSIZE, method: str | None = None,
                 deadline: float | None = DEFAULT_CASE_DEADLINE,
                 ) -> Iterator[tuple[bytes, bool]]:
    """Output lines for JSON Lines input (see :func:`assess_line`), in input order
    (numbered from 1)."""
    return run_ordered(engine, assess_line, enumerate(lines, start=1), jobs=jobs,
                       chunksize=chunksize, method=method, deadline=deadline)


def read_lines(handle: IO[bytes], max_bytes: int) -> Iterator[bytes]:
    """The lines of ``handle``, each cut at ``max_bytes + 1`` bytes (so that a longer one is
    refused as too large) and the rest of it skipped: ``--jsonl /dev/zero``, or a line with
    no newline, grew memory without bound."""
    while line := handle.readline(max_bytes + 1):
        oversized = len(line) > max_bytes and not line.endswith(b"\n")
        yield line
        if oversized:
            while (rest := handle.readline(1 << 16)) and not rest.endswith(b"\n"):
                pass


def count_lines(handle: IO[bytes]) -> int:
    """Lines in a seekable file, for a progress bar's total; the file is rewound."""
    lines = 0
    last = b"\n"
    while block := handle.read(1 << 20):
        lines += block.count(b"\n")
        last = block[-1:]
    handle.seek(0)
    return lines + (last != b"\n")


class Progress:
    """A one-line progress counter, redrawn at most ten times a second."""

    def __init__(self, stream: IO[str], total: int | None = None) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        if self.total:
            width = 30
            filled = width * self.done // self.total
            bar = "#" * filled + "-" * (width - filled)
            text = f"[{bar}] {self.done}/{self.total} cases, {rate:,.0f}/s"
        else:
            text = f"{self.done} cases, {rate:,.0f}/s"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()


class BinaryOut(Protocol):
    """Where output lines go: a binary stream (``sys.stdout.buffer``, an open file)."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class _SpooledChunk:
    """A worker's task: one chunk of numbered lines assessed into a spool file; returns the
    file's path and whether each line was a valid case. The deadline is per line, as for
    every batch (a chunk is one task here)."""

    def __init__(self, folder: str, deadline: float | None) -> None:
        self.folder = folder
        self.deadline = deadline

    def __call__(self, engine: Engine, chunk: list[tuple[int, bytes]]) -> tuple[str, list[bool]]:
        timed = with_deadline(assess_line, self.deadline)
        handle, path = tempfile.mkstemp(dir=self.folder, suffix=".jsonl")
        oks = []
        with open(handle, "wb") as out:
            for numbered in chunk:
                line, ok = timed(engine, numbered)
                out.write(line)
                oks.append(ok)
        return path, oks


def write_lines(engine: Engine, lines: Iterable[bytes], out: BinaryOut, *,
                jobs: int | None = None, chunksize: int = DEFAULT_CHUNKSIZE,
                method: str | None = None, deadline: float | None = DEFAULT_CASE_DEADLINE,
                live: bool = False) -> Iterator[bool]:
    """Writes the output line of every input line to ``out`` (binary), in input order, and
    yields whether each was a valid case once its line is written. ``live``: flush after
    every line (or chunk), for a feed that wants each answer when it is ready."""
    workers = min(jobs or cpu_count(), max_jobs())
    numbered = enumerate(lines, start=1)
    first = list(itertools.islice(numbered, chunksize + 1))
    if workers == 1 or len(first) <= chunksize:
        for line, ok in run_ordered(engine, assess_line, itertools.chain(first, numbered),
                                    jobs=1, chunksize=chunksize, deadline=deadline):
            out.write(line)
            if live:
                out.flush()
            yield ok
        return
    chunks = chunks_of(itertools.chain(first, numbered), chunksize)
    with tempfile.TemporaryDirectory(prefix="kneerules-jsonl-") as folder:
        task = _SpooledChunk(folder, deadline)
        # One chunk is one task: the executor's own chunking is by task.
        for path, oks in run_ordered(engine, task, chunks, jobs=workers, chunksize=1,
                                     method=method, deadline=None):
            _copy(path, out)
            if live:
                out.flush()
            yield from oks


def _copy(path: str, out: BinaryOut) -> None:
    """The spool file's bytes onto ``out``, by the kernel where it can (no copy through
    Python), and the file removed."""
    try:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            try:
                target = out.fileno()  # type: ignore[attr-defined]
            except (AttributeError, OSError, ValueError):  # a BytesIO, a test's capture
                shutil.copyfileobj(source, out)
                return
            out.flush()
            sent = 0
            try:
                while sent < size:
                    done = os.sendfile(target, source.fileno(), sent, size - sent)
                    if done == 0:
                        break
                    sent += done
            except OSError:
                if sent:
                    raise  # part of the chunk went out: copying the rest again would repeat it
                source.seek(0)
                shutil.copyfileobj(source, out)
    finally:
        os.unlink(path)
