"""Many cases at once: results in input order, memory bounded, work spread over processes.

durable-rules' C core never releases the GIL and is not thread-safe (notes, trap 2),
so parallel work needs processes. Each worker evaluates with one engine for its whole
life: under ``fork`` it is the parent's engine, inherited as it is; under ``spawn`` or
``forkserver`` the worker builds the same engine (rule set, disabled and extra
plugins) once. Input is read lazily and only a few chunks per worker are in flight,
so a year of encounters streams through in constant memory.
"""

from __future__ import annotations

import copyreg
import io
import itertools
import json
import multiprocessing
import os
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from kneerules import model
from kneerules.config import EngineConfig
from kneerules.converter import to_dict
from kneerules.errors import CaseError, EngineError
from kneerules.model import Assessment, Case

if TYPE_CHECKING:
    from kneerules.rulesets import RulesetSpec


class Engine(Protocol):
    """What batch work needs of an engine. The engine module builds on this one, so the
    worker gets the engine's class with the recipe instead of importing it."""

    config: EngineConfig
    ruleset: RulesetSpec
    custom_plugin_manager: bool

    @classmethod
    def from_config(cls, config: EngineConfig) -> Engine: ...

    def evaluate(self, case: Case | Mapping[str, Any]) -> Assessment: ...

    def evaluate_json(self, raw: bytes | str, source: str | None = None) -> Assessment: ...

T = TypeVar("T")
R = TypeVar("R")
CaseInput = Case | Mapping[str, Any] | str | bytes
Task = Callable[[Engine, T], R]

# Cases per chunk: each chunk costs the parent a fixed overhead (measured: 64 -> 256 cut
# the parent's time per case by a quarter), and a worker's chunk is ~40-70 ms of work.
DEFAULT_CHUNKSIZE = 256
# In-flight chunks per worker: enough that no worker waits for the next chunk while the
# parent writes results, few enough that memory does not grow with the input.
WINDOW_PER_JOB = 3


def cpu_count() -> int:
    """The cores this process may run on (what ``--jobs 0`` and ``jobs=None`` use)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@attrs.frozen
class Carried:
    """An exception sent back from a worker with its class, arguments and attributes.

    Exceptions pickle by their ``args`` alone: a :class:`CaseError` would lose its
    problems and a :class:`PluginError` could not even be rebuilt."""

    cls: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    raised: bool

    @classmethod
    def of(cls, error: BaseException, raised: bool) -> Carried:
        return cls(type(error), error.args, dict(vars(error)), raised)

    def rebuild(self) -> BaseException:
        error = self.cls.__new__(self.cls, *self.args)
        error.args = self.args
        error.__dict__.update(self.state)
        return error


_engine: Engine | None = None  # in a worker process: the engine every chunk uses


def _adopt(engine: Engine) -> None:
    global _engine
    _engine = engine


def _build(engine_class: type[Engine], config: EngineConfig) -> None:
    _adopt(engine_class.from_config(config))


def _by_fields(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = tuple(field.name for field in attrs.fields(cls))

    def reduce(obj: Any) -> tuple[Any, ...]:
        return cls, tuple([getattr(obj, name) for name in names])

    return reduce


# Assessments cross back to the parent, whose one core is shared with the workers: rebuilt
# through their __init__ they unpickle in half the time attrs' __setstate__ takes.
_DISPATCH = dict(copyreg.dispatch_table)
_DISPATCH.update({cls: _by_fields(cls) for cls in vars(model).values()
                  if isinstance(cls, type) and attrs.has(cls) and cls.__module__ == model.__name__})


def _dumps(results: list[Any]) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(results)
    return buffer.getvalue()


def _run_chunk(task: Task[T, R], items: Sequence[T]) -> bytes:
    """A chunk's results, pickled in one go so that objects they share cross once."""
    assert _engine is not None, "worker started without an engine"
    results: list[R | Carried] = []
    for item in items:
        try:
            result = task(_engine, item)
        except Exception as error:
            results.append(Carried.of(error, raised=True))
            break  # the parent raises it; the rest of the batch is abandoned
        results.append(Carried.of(result, raised=False)
                        if isinstance(result, BaseException) else result)
    return _dumps(results)


def start_method() -> str:
    """``fork`` when it is safe (this process runs no other thread), else a fresh interpreter.

    Forking starts workers in milliseconds with the engine already built, but a fork
    taken while another thread holds a lock copies that lock held, forever."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _pool(engine: Engine, jobs: int, method: str) -> ProcessPoolExecutor:
    context = multiprocessing.get_context(method)
    if method == "fork":
        # A forked child gets the Process object, arguments included, without pickling.
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_adopt,
                                   initargs=(engine,))
    if engine.custom_plugin_manager:
        raise EngineError("an engine built with plugin_manager= cannot be rebuilt in a worker "
                          f"process started by {method!r}; evaluate with jobs=1")
    config = attrs.evolve(engine.config, ruleset=engine.ruleset)
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_build,
                               initargs=(type(engine), config))


def _unpack(pickled: bytes) -> Iterator[R]:
    results: list[R | Carried] = pickle.loads(pickled)
    for result in results:
        if isinstance(result, Carried):
            error = result.rebuild()
            if result.raised:
                raise error
            yield error  # type: ignore[misc]  # a returned error, e.g. a CaseError
        else:
            yield result


def run_ordered(engine: Engine, task: Task[T, R], items: Iterable[T], *, jobs: int | None,
                chunksize: int, method: str | None = None) -> Iterator[R]:
    """``task(engine, item)`` for every item, yielded in input order, on ``jobs`` processes.

    ``jobs`` of ``None`` or 0 means every core; 1 runs in this process, as does a
    batch of at most one chunk (one chunk goes to one worker: nothing to share).

    This process only hands out chunks and reads results: evaluating here too was
    measured slower, as the executor's feeder threads then wait for the GIL, which
    durable-rules never releases, and the workers go idle."""
    workers = jobs or cpu_count()
    if chunksize < 1:
        raise ValueError(f"chunksize must be at least 1, got {chunksize}")
    iterator = iter(items)
    first = list(itertools.islice(iterator, 1 if workers == 1 else chunksize + 1))
    if workers == 1 or len(first) <= chunksize:
        for item in itertools.chain(first, iterator):
            yield task(engine, item)
        return
    pool = _pool(engine, workers, method or start_method())
    pending: deque[Future[bytes]] = deque()
    try:
        for chunk in _chunks(itertools.chain(first, iterator), chunksize):
            pending.append(pool.submit(_run_chunk, task, chunk))
            if len(pending) >= workers * WINDOW_PER_JOB:
                yield from _unpack(pending.popleft().result())
        while pending:
            yield from _unpack(pending.popleft().result())
    except BrokenProcessPool as error:
        raise EngineError(f"a worker process died: {error}") from error
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def assess(engine: Engine, case: CaseInput) -> Assessment | CaseError:
    """One case's assessment, or its :class:`CaseError` (other errors raise)."""
    try:
        if isinstance(case, str | bytes):
            return engine.evaluate_json(case)
        return engine.evaluate(case)
    except CaseError as error:
        return error


def evaluate_many(engine: Engine, cases: Iterable[CaseInput], *, jobs: int | None = None,
                  chunksize: int = DEFAULT_CHUNKSIZE, method: str | None = None
                  ) -> Iterator[Assessment | CaseError]:
    """See :meth:`kneerules.engine.Engine.evaluate_many`."""
    return run_ordered(engine, assess, cases, jobs=jobs, chunksize=chunksize, method=method)


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


def assess_line(engine: Engine, numbered: tuple[int, bytes]) -> tuple[str, bool]:
    """One JSON Lines input line to one output line, and whether it was a valid case.

    Serialising here, in the worker, spares the parent (and the pipe) most of the work."""
    number, raw = numbered
    try:
        assessment = engine.evaluate_json(raw, f"line {number}")
    except CaseError as error:
        return json.dumps(error_record(number, raw, error), ensure_ascii=False), False
    return json.dumps(to_dict(assessment), ensure_ascii=False), True


def assess_lines(engine: Engine, lines: Iterable[bytes], *, jobs: int | None = None,
                 chunksize: int = DEFAULT_CHUNKSIZE, method: str | None = None
                 ) -> Iterator[tuple[str, bool]]:
    """Output lines for JSON Lines input, in input order (numbered from 1)."""
    return run_ordered(engine, assess_line, enumerate(lines, start=1), jobs=jobs,
                       chunksize=chunksize, method=method)


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
