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
import multiprocessing
import os
import pickle
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from kneerules.knowledge.config import DEFAULT_CASE_DEADLINE, EngineConfig
from kneerules.model import records as model
from kneerules.model.errors import CaseError, EngineError
from kneerules.model.records import Assessment, Case

if TYPE_CHECKING:
    from kneerules.knowledge.rulesets import RulesetSpec
    from kneerules.output.assessment_json import AssessmentWriter


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

    @property
    def json_writer(self) -> AssessmentWriter: ...

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


def _run_chunk(task: Task[T, R], payload: bytes) -> bytes:
    """A chunk's results, pickled in one go so that objects they share cross once."""
    assert _engine is not None, "worker started without an engine"
    items: Sequence[T | _InParent] = pickle.loads(payload)
    timed = with_deadline(task, _task_deadline)
    results: list[R | Carried | _InParent] = []
    for item in items:
        if isinstance(item, _InParent):
            results.append(item)
            continue
        try:
            result = timed(_engine, item)
        except Exception as error:
            results.append(Carried.of(error, raised=True))
            break  # the parent raises it; the rest of the batch is abandoned
        results.append(Carried.of(result, raised=False)
                        if isinstance(result, BaseException) else result)
    return _dumps(results)


def start_method() -> str:
    """``fork`` wherever there is one, else ``spawn``.

    One start method, chosen for what it makes work: a forked worker starts in
    milliseconds with the very engine of the parent (its ``max_bytes``, its local plugin
    classes, its custom plugin manager: nothing is pickled or rebuilt), and a script
    without an ``if __name__ == "__main__"`` guard is not re-run in every worker, as
    ``spawn`` and ``forkserver`` do. The one danger of fork, a lock held by another thread
    at the moment of the fork, is answered where the lock is: the engine replaces a busy
    rules runner in the child (see :mod:`kneerules.engine`)."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def max_jobs() -> int:
    """The most worker processes a batch starts: one per core (evaluation is CPU-bound,
    more processes only cost memory; ``--jobs 1000`` forked 1,000)."""
    return cpu_count()


class CaseDeadline(Exception):
    """Raised in a case that ran past its deadline (an Exception, so that the rules runner
    still cleans up its session, and a plugin hook's failure names the plugin)."""


def _on_deadline(signum: int, frame: Any) -> None:
    raise CaseDeadline(f"the case took longer than the per-case deadline of {_deadline:g} s")


_deadline = DEFAULT_CASE_DEADLINE


def with_deadline(task: Task[T, R], deadline: float | None) -> Task[T, R]:
    """``task`` under a per-case deadline (SIGALRM), where this thread can have one."""
    global _deadline
    if (not deadline or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, _on_deadline)):
        return task  # the caller's own use of SIGALRM wins
    _deadline = deadline
    signal.signal(signal.SIGALRM, _on_deadline)

    def timed(engine: Engine, item: T) -> R:
        signal.setitimer(signal.ITIMER_REAL, deadline)
        try:
            return task(engine, item)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    return timed


def _die_with_parent() -> None:
    """Asks Linux to end this worker when its parent dies: SIGTERM to the parent of
    ``--jsonl --jobs 2`` left the workers orphaned."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _worker_init(engine: Engine | None, engine_class: type[Engine] | None,
                 config: EngineConfig | None, deadline: float | None) -> None:
    _die_with_parent()
    # The parent's handlers (a CLI's SIGTERM handler) are not the worker's.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and shuts us down
    global _task_deadline
    _task_deadline = deadline
    if engine is not None:
        _adopt(engine)
    else:
        assert engine_class is not None
        assert config is not None
        _build(engine_class, config)


_task_deadline: float | None = None


def _pool(engine: Engine, jobs: int, method: str, deadline: float | None
          ) -> ProcessPoolExecutor:
    context = multiprocessing.get_context(method)
    if method == "fork":
        # A forked child gets the Process object, arguments included, without pickling.
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                                   initargs=(engine, None, None, deadline))
    if engine.custom_plugin_manager:
        raise EngineError("an engine built with plugin_manager= cannot be rebuilt in a worker "
                          f"process started by {method!r}; evaluate with jobs=1")
    config = attrs.evolve(engine.config, ruleset=engine.ruleset)
    try:
        pickle.dumps((type(engine), config))
    except Exception as error:  # a plugin class defined in a function, a lambda...
        raise EngineError(f"the engine cannot be rebuilt in a worker process started by "
                          f"{method!r}: {error}; define plugin classes at module level, or "
                          "evaluate with jobs=1") from error
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                               initargs=(None, type(engine), config, deadline))


@attrs.frozen
class _InParent:
    """Stands for an item that could not be pickled: the parent evaluates it itself, so
    that the results are the same whatever ``jobs`` (issue 16.8)."""

    index: int


def _pack(chunk: list[T]) -> tuple[bytes, dict[int, T]]:
    """The chunk pickled for a worker, and the items kept back because they cannot be."""
    try:
        return pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL), {}
    except Exception:  # any item's __reduce__ may raise anything
        kept: dict[int, T] = {}
        sendable: list[Any] = []
        for index, item in enumerate(chunk):
            try:
                pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                sendable.append(item)
            except Exception:
                kept[index] = item
                sendable.append(_InParent(index))
        return pickle.dumps(sendable, protocol=pickle.HIGHEST_PROTOCOL), kept


def _unpack(engine: Engine, task: Task[T, R], pickled: bytes, kept: dict[int, T]
            ) -> Iterator[R]:
    results: list[R | Carried] = pickle.loads(pickled)
    for result in results:
        if isinstance(result, _InParent):
            yield task(engine, kept[result.index])
        elif isinstance(result, Carried):
            error = result.rebuild()
            if result.raised:
                raise error
            yield error  # type: ignore[misc]  # a returned error, e.g. a CaseError
        else:
            yield result


class _Guarded(Iterator[T]):
    """The input, stopping where it raises; the error is raised once every result before
    it has been yielded, as evaluating one by one would (issue 16.8: half the cases done
    were dropped when a generator raised)."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self.error: BaseException | None = None

    def __iter__(self) -> _Guarded[T]:
        return self

    def __next__(self) -> T:
        if self.error is not None:
            raise StopIteration
        try:
            return next(self._items)
        except StopIteration:
            raise
        except Exception as error:
            self.error = error
            raise StopIteration from None

    def reraise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def run_ordered(engine: Engine, task: Task[T, R], items: Iterable[T], *, jobs: int | None,
                chunksize: int, method: str | None = None,
                deadline: float | None = DEFAULT_CASE_DEADLINE) -> Iterator[R]:
    """``task(engine, item)`` for every item, yielded in input order, on ``jobs`` processes.

    ``jobs`` of ``None`` or 0 means every core (and no more than :func:`max_jobs`); 1 runs
    in this process, as does a batch of at most one chunk (one chunk goes to one worker:
    nothing to share). Each item may take ``deadline`` seconds (None: no limit).

    This process only hands out chunks and reads results: evaluating here too was
    measured slower, as the executor's feeder threads then wait for the GIL, which
    durable-rules never releases, and the workers go idle."""
    if chunksize < 1:
        raise ValueError(f"chunksize must be at least 1, got {chunksize}")
    if jobs is not None and jobs < 0:
        raise ValueError(f"jobs must be 0 (every core) or more, got {jobs}")
    workers = min(jobs or cpu_count(), max_jobs())
    guarded = _Guarded(items)
    first = list(itertools.islice(guarded, 1 if workers == 1 else chunksize + 1))
    if workers == 1 or len(first) <= chunksize:
        handler = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
        timed = with_deadline(task, deadline)
        try:
            for item in itertools.chain(first, guarded):
                yield timed(engine, item)
        finally:
            if timed is not task:  # this process's SIGALRM is its own again
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, handler)
        guarded.reraise()
        return
    pool = _pool(engine, workers, method or start_method(), deadline)
    pending: deque[tuple[Future[bytes], dict[int, T]]] = deque()
    try:
        for chunk in chunks_of(itertools.chain(first, guarded), chunksize):
            payload, kept = _pack(chunk)
            pending.append((pool.submit(_run_chunk, task, payload), kept))
            if len(pending) >= workers * WINDOW_PER_JOB:
                future, kept = pending.popleft()
                yield from _unpack(engine, task, future.result(), kept)
        while pending:
            future, kept = pending.popleft()
            yield from _unpack(engine, task, future.result(), kept)
    except BrokenProcessPool as error:
        raise EngineError(f"a worker process died: {error}") from error
    finally:
        for future, _ in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    guarded.reraise()


def chunks_of(items: Iterable[T], size: int) -> Iterator[list[T]]:
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
                  chunksize: int = DEFAULT_CHUNKSIZE, method: str | None = None,
                  deadline: float | None = DEFAULT_CASE_DEADLINE,
                  ) -> Iterator[Assessment | CaseError]:
    """See :meth:`kneerules.engine.Engine.evaluate_many`."""
    return run_ordered(engine, assess, cases, jobs=jobs, chunksize=chunksize, method=method,
                       deadline=deadline)
