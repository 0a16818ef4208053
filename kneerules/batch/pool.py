"""Many cases at once: results in input order, memory bounded, work spread over processes.

durable-rules' C core never releases the GIL and is not thread-safe (notes, trap 2),
so parallel work needs processes. Each worker evaluates with one engine for its whole
life: under ``fork`` it is the parent's engine, inherited as it is; under ``spawn`` or
``forkserver`` the worker builds the same engine (rule set, disabled and extra
plugins) once. Input is read lazily and only a few chunks per worker are in flight,
so a year of encounters streams through in constant memory.
"""

from __future__ import annotations

import contextlib
import copyreg
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import struct
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from kneerules.knowledge.config import DEFAULT_CASE_DEADLINE, EngineConfig
from kneerules.model import records as model
from kneerules.model.errors import CaseError, EngineError, Problem
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


def _run_chunk(task: Task[T, R], payload: bytes, progress: str | None = None,
               spool: str | None = None) -> bytes:
    """A chunk's results, pickled in one go so that objects they share cross once.

    ``progress``: a file where the position of the item being evaluated is kept, so that
    if this process dies the parent knows which item it was on (see :func:`_recover`).
    ``spool``: a folder where results (encoded output lines and whether each was a valid
    case) are written instead of pickled; the parent copies the file to its output."""
    assert _engine is not None, "worker started without an engine"
    items: Sequence[T | _InParent] = pickle.loads(payload)
    timed = with_deadline(task, _task_deadline)
    results: list[R | Carried | _InParent] = []
    mark = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600) if progress else -1
    try:
        for index, item in enumerate(items):
            if isinstance(item, _InParent):
                results.append(item)
                continue
            if mark >= 0:
                os.pwrite(mark, _POSITION.pack(index), 0)
            try:
                result = timed(_engine, item)
            except Exception as error:
                results.append(Carried.of(error, raised=True))
                break  # the parent raises it; the rest of the batch is abandoned
            results.append(Carried.of(result, raised=False)
                           if isinstance(result, BaseException) else result)
    finally:
        if mark >= 0:
            os.close(mark)
    if spool is not None and all(isinstance(r, tuple) for r in results):
        return _dumps([_spool(spool, results)])  # type: ignore[arg-type]
    return _dumps(results)


_POSITION = struct.Struct("<q")


@attrs.frozen
class Spooled:
    """A chunk's output lines, in a spool file, and whether each line was a valid case."""

    path: str
    oks: tuple[bool, ...]


def _spool(folder: str, results: list[tuple[bytes, bool]]) -> Spooled:
    handle, path = tempfile.mkstemp(dir=folder, suffix=".jsonl")
    with open(handle, "wb") as out:
        out.writelines(line for line, _ in results)
    return Spooled(path, tuple(ok for _, ok in results))


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


def deadline_passed(error: BaseException) -> bool:
    """Whether ``error`` is, or was caused by, a case running past its deadline (a plugin
    hook's failure wraps it in a :class:`PluginError`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, CaseDeadline):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


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
                deadline: float | None = DEFAULT_CASE_DEADLINE,
                lost: Callable[[T, str], R] | None = None,
                spool: str | None = None) -> Iterator[R]:
    """``task(engine, item)`` for every item, yielded in input order, on ``jobs`` processes.

    ``jobs`` of ``None`` or 0 means every core (and no more than :func:`max_jobs`); 1 runs
    in this process, as does a batch of at most one chunk (one chunk goes to one worker:
    nothing to share). Each item may take ``deadline`` seconds (None: no limit).

    A worker that dies does not end the batch (see :func:`_pooled`): an item that kills
    workers twice yields ``lost(item, why)``, or, without ``lost``, raises
    :class:`EngineError`. ``spool`` (a folder; results must be ``(bytes, bool)``): a
    worker's chunk comes back as one :class:`Spooled` file instead of its results.

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
    yield from _pooled(engine, task, itertools.chain(first, guarded), workers=workers,
                       chunksize=chunksize, method=method or start_method(),
                       deadline=deadline, lost=lost, spool=spool)
    guarded.reraise()


class _Slot:
    """One chunk in flight (``future``), or results already in hand (``ready``)."""

    __slots__ = ("future", "items", "kept", "lost", "mark", "ready")

    def __init__(self, items: list[Any], lost: int = 0) -> None:
        self.items = items
        self.lost = lost  # how many times a worker died with this chunk on it
        self.future: Future[bytes] | None = None
        self.kept: dict[int, Any] = {}
        self.mark = ""
        self.ready: list[Any] | None = None


def _pooled(engine: Engine, task: Task[T, R], items: Iterable[T], *, workers: int,
            chunksize: int, method: str, deadline: float | None,
            lost: Callable[[T, str], R] | None, spool: str | None) -> Iterator[Any]:
    """The pool half of :func:`run_ordered`, surviving a worker that dies.

    A dead worker (``kill -9``, a crash in C) breaks the whole executor: every chunk
    not yet returned is lost. Each is resubmitted to a new pool, but the item a chunk was
    on (each worker notes it, see :func:`_run_chunk`) is first run alone in a fresh
    worker: if it kills that one too, it is the culprit and gets ``lost(item, why)`` in
    its place (it killed workers twice); if not, it was a bystander, and its result is
    used. So each break settles at least one item, and the batch goes on, in order."""
    counter = itertools.count()
    with tempfile.TemporaryDirectory(prefix="kneerules-batch-") as marks:
        pool = _pool(engine, workers, method, deadline)
        pending: deque[_Slot] = deque()

        def submit(slot: _Slot) -> _Slot:
            payload, slot.kept = _pack(slot.items)
            slot.mark = os.path.join(marks, str(next(counter)))
            try:
                slot.future = pool.submit(_run_chunk, task, payload, slot.mark, spool)
            except BrokenProcessPool:
                slot.future = None  # the pool broke meanwhile: recovered in its turn
            return slot

        def results(slot: _Slot) -> Iterator[Any]:
            nonlocal pool, pending
            while True:
                if slot.ready is not None:
                    return iter(slot.ready)
                try:
                    if slot.future is None:
                        raise BrokenProcessPool("the pool broke before the chunk was sent")
                    payload = slot.future.result()
                    with contextlib.suppress(OSError):
                        os.unlink(slot.mark)
                    return _unpack(engine, task, payload, slot.kept)
                except BrokenProcessPool:
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = _pool(engine, workers, method, deadline)
                    pending = _recover(engine, task, deque([slot, *pending]), submit,
                                       method, deadline, lost)
                    slot = pending.popleft()

        try:
            for chunk in chunks_of(items, chunksize):
                pending.append(submit(_Slot(chunk)))
                if len(pending) >= workers * WINDOW_PER_JOB:
                    yield from results(pending.popleft())
            while pending:
                yield from results(pending.popleft())
        finally:
            for slot in pending:
                if slot.future is not None:
                    slot.future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def _position(mark: str) -> int | None:
    """The item a lost chunk was on (None: it had not started, or it had finished)."""
    try:
        with open(mark, "rb") as handle:
            data = handle.read(_POSITION.size)
    except OSError:
        return None
    return _POSITION.unpack(data)[0] if len(data) == _POSITION.size else None


def _recover(engine: Engine, task: Task[T, R], pending: deque[_Slot],
             submit: Callable[[_Slot], _Slot], method: str, deadline: float | None,
             lost: Callable[[T, str], R] | None) -> deque[_Slot]:
    """The chunks of a broken pool, in order, resubmitted to the new one (see
    :func:`_pooled`); chunks that had already returned keep their results."""
    recovered: deque[_Slot] = deque()
    for slot in pending:
        future = slot.future
        if slot.ready is not None or (future is not None and future.done()
                                      and not future.cancelled()
                                      and future.exception() is None):
            recovered.append(slot)
            continue
        at = _position(slot.mark)
        if at is None or not 0 <= at < len(slot.items):
            if not os.path.exists(slot.mark):
                # Never started (queued when the pool broke): nothing of it is suspect.
                recovered.append(submit(_Slot(slot.items, slot.lost)))
            elif slot.lost == 0:
                # Started, but on no item yet (unpickling it): once more, whole.
                recovered.append(submit(_Slot(slot.items, 1)))
            else:
                # Lost twice with no item to blame: item by item, each alone.
                for item in slot.items:
                    done = _Slot([])
                    done.ready = [_alone(engine, task, item, method, deadline, lost)]
                    recovered.append(done)
            continue
        before, suspect, after = slot.items[:at], slot.items[at], slot.items[at + 1:]
        if before:
            recovered.append(submit(_Slot(before, slot.lost + 1)))
        done = _Slot([])
        done.ready = [_alone(engine, task, suspect, method, deadline, lost)]
        recovered.append(done)
        if after:
            recovered.append(submit(_Slot(after, slot.lost + 1)))
    return recovered


def _alone(engine: Engine, task: Task[T, R], item: T, method: str, deadline: float | None,
           lost: Callable[[T, str], R] | None) -> R:
    """``item`` run again, alone, in a fresh worker: the second chance of an item a worker
    died on. Dying again, it is ``lost(item, why)`` (or an :class:`EngineError`)."""
    pool = _pool(engine, 1, method, deadline)
    try:
        payload, kept = _pack([item])
        results = list(_unpack(engine, task, pool.submit(_run_chunk, task, payload).result(),
                               kept))
        return results[0]
    except BrokenProcessPool:
        why = ("a worker process died on this case twice (it was run again alone, in a new "
               "process): it was not assessed")
        if lost is None:
            raise EngineError(why) from None
        return lost(item, why)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def chunks_of(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def assess(engine: Engine, case: CaseInput) -> Assessment | CaseError:
    """One case's assessment, or its :class:`CaseError`; a case past its deadline (a plugin
    hook that never returns) is a :class:`CaseError` saying so, and the batch goes on.
    Other errors raise."""
    try:
        if isinstance(case, str | bytes):
            return engine.evaluate_json(case)
        return engine.evaluate(case)
    except CaseError as error:
        return error
    except Exception as error:
        if not deadline_passed(error):
            raise
        return _not_assessed(case, str(error))


def _not_assessed(case: CaseInput, why: str) -> CaseError:
    source = None
    if isinstance(case, Case):
        source = case.case_id
    elif isinstance(case, Mapping) and isinstance(case.get("case_id"), str):
        source = case["case_id"]
    return CaseError([Problem("$", f"the engine could not assess this case: {why}")], source)


def evaluate_many(engine: Engine, cases: Iterable[CaseInput], *, jobs: int | None = None,
                  chunksize: int = DEFAULT_CHUNKSIZE, method: str | None = None,
                  deadline: float | None = DEFAULT_CASE_DEADLINE,
                  ) -> Iterator[Assessment | CaseError]:
    """See :meth:`kneerules.engine.Engine.evaluate_many`."""
    return run_ordered(engine, assess, cases, jobs=jobs, chunksize=chunksize, method=method,
                       deadline=deadline, lost=_not_assessed)
