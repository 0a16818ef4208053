"""The library call: ``audit(inputs, out)`` on a Dask cluster, its own or one given."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kneerules.batch.pool import cpu_count
from kneerules.knowledge.config import EngineConfig
from kneerules.model.errors import EngineError, KneerulesError
from kneerules.population import inputs, output

# Imported with the module, not when the report is written: that moment falls while Dask's
# client threads are live, and a first import there (parsed afresh under pytest's
# assertion rewriting) once failed with CPython 3.11's "AST constructor recursion depth
# mismatch", its parser's depth counter being shared between threads.
from kneerules.population.report import render_report
from kneerules.population.summary import PartResult, names, summarise

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from kneerules.engine import Engine

DEFAULT_PARTITION_SIZE = 2000  # cases per task: ~1 s of work, so Dask's ~ms per task is noise
SUMMARY = "summary.json"
REPORT = "report.html"
MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"


class OutputNotEmpty(KneerulesError):
    """The audit's output folder already holds something, and ``overwrite`` was not given."""


@attrs.frozen
class AuditResult:
    """Where an audit wrote its output, and its summary (the content of summary.json)."""

    out: Path
    summary: dict[str, Any]

    @property
    def report(self) -> Path:
        return self.out / REPORT

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every assessment or error row, in input order."""
        return output.read_rows(self.out, output.ASSESSMENTS)

    def changes(self) -> Iterator[dict[str, Any]]:
        """With ``compare``: every case whose timeframe or leading condition changed."""
        return output.read_rows(self.out, output.CHANGES)


def audit(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    config: EngineConfig | None = None,
    compare: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    output_format: output.Format = "parquet",
    at: datetime | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> AuditResult:
    """Assesses every case of ``paths`` (JSON Lines, Parquet, FHIR) on a Dask cluster and
    writes the rows, ``summary.json`` and ``report.html`` into ``out``.

    The run is written into a fresh folder beside ``out`` (``<out>.unfinished-...``, with
    an ``UNFINISHED.txt`` saying so) and renamed into place when it completes, so ``out``
    always holds one whole run. An ``out`` holding anything is refused
    (:class:`OutputNotEmpty`) unless ``overwrite``; the previous run is then removed,
    never following a symbolic link.

    ``config`` is the engine's recipe (default: the default engine); ``compare`` a
    second rule set (name or file) evaluated on the same cases, with every case whose
    timeframe or leading condition changes written to ``out/changes``. ``scheduler``
    is the address of a running cluster (its workers must reach ``paths`` and ``out``
    at the same paths); without it, a cluster of ``workers`` processes (default: every
    core), one thread each, starts on 127.0.0.1 and stops when the audit ends.

    FHIR Bundles (``.json`` files, or one per line in ``.fhir.jsonl``) are read through
    the engine's ``fhir`` reader (``kneerules.fhir``) at the index time ``at`` (an aware
    datetime; default: now, once for the whole audit, recorded in the summary).

    ``progress`` is called with (cases done, cases in all, workers) as each partition
    completes. summary.json records when the audit started (UTC) and how long it took."""
    from kneerules.engine import Engine

    started = datetime.now(UTC)
    began = time.perf_counter()
    if output_format not in output.FORMATS:
        raise ValueError(f"output_format must be one of {output.FORMATS}, got {output_format!r}")
    config = config or EngineConfig()
    engine = Engine.from_config(config)
    engines = [engine]
    if compare is not None:
        engines.append(Engine.from_config(attrs.evolve(config, ruleset=compare)))
    parts = inputs.plan(paths, partition_size, engine.vocabulary)
    fhir = any(part.kind in ("fhir", "fhir-jsonl") for part in parts)
    if fhir:
        from kneerules.knowledge.readers import load_reader

        load_reader("fhir")  # no FHIR reader installed: say so before starting anything
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is None:
            raise ValueError("at must be an aware datetime (with its time zone)")
    target = Path(out).absolute()
    _check_out(target, overwrite)
    staging = output.start_run(target)
    try:
        result = _audit_into(staging, paths, engines, parts, fhir, at, compare, scheduler,
                             workers, output_format, progress, started, began)
    except BaseException as error:
        # Ctrl-C included: the unfinished run stays, marked, beside the untouched --out.
        error.add_note(f"the unfinished run is in {staging}")
        raise
    output.finish_run(staging, target)
    return attrs.evolve(result, out=target)


def _check_out(target: Path, overwrite: bool) -> None:
    """Refuses an ``--out`` that is not a folder, or holds anything, unless ``overwrite``."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        if overwrite:
            return  # a file, or a link to one, is replaced; never what a link points to
        raise OutputNotEmpty(f"{target}: exists and is not a folder; give --overwrite to "
                             "replace it, or another --out")
    if not overwrite and any(target.iterdir()):
        raise OutputNotEmpty(f"{target}: is not empty; give --overwrite to replace what it "
                             "holds with this run, or another --out")


def _audit_into(target: Path, paths: Sequence[str | Path], engines: list[Engine],
                parts: list[inputs.Partition], fhir: bool, at: datetime | None,
                compare: str | Path | None, scheduler: str | None, workers: int | None,
                output_format: output.Format,
                progress: Callable[[int, int, int], None] | None, started: datetime,
                began: float) -> AuditResult:
    with _client(scheduler, workers) as client:
        checked = _start_engines(client, engines)
        # A cluster that outlives the audit keeps no engine of it (on Ctrl-C, no call
        # that could wait on the cluster: it is being stopped, or left as it was).
        try:
            results = _run(client, parts, checked.plugin, target, output_format,
                           at if fhir else None, progress)
        except Exception:
            client.unregister_worker_plugin(checked.plugin)
            raise
        client.unregister_worker_plugin(checked.plugin)
        workers_seen = checked.environment
    summary = summarise(results, [str(Path(p)) for p in paths], compare is not None,
                        workers_seen)
    if fhir and at is not None:
        summary["fhir_index_time"] = at.isoformat()
    summary["names"] = names(summary, [e.knowledge for e in engines])
    summary["started"] = started.isoformat(timespec="seconds")
    summary["duration_seconds"] = round(time.perf_counter() - began, 3)
    (target / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
    result = AuditResult(target, summary)
    changes = list(_first(result.changes(), REPORT_CHANGES)) if compare is not None else []
    errors = list(_first(output.read_rows(target, output.ASSESSMENTS, status="error"),
                         REPORT_ERRORS)) if summary["errors"] else []
    (target / REPORT).write_text(render_report(summary, changes, errors), encoding="utf-8")
    return result


REPORT_CHANGES = 1000  # changed cases listed in the report; all are in out/changes
REPORT_ERRORS = 1000  # error rows listed (and searchable) in the report; all are in the output


def _first(rows: Iterator[dict[str, Any]], count: int) -> Iterator[dict[str, Any]]:
    for number, row in enumerate(rows):
        if number >= count:
            return
        yield row


def _workers(client: Client) -> int:
    """The workers the scheduler knows now (its last report to this client)."""
    return len(client.scheduler_info().get("workers", {}))


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    from distributed import Client

    quiet = _QuietIfInterrupted()
    try:
        if scheduler is not None:
            with Client(scheduler, set_as_default=False) as client, quiet.guard():
                yield client
            return
        with local_cluster(workers or cpu_count()) as cluster, \
                Client(cluster, set_as_default=False) as client, quiet.guard():
            yield client
    finally:
        quiet.restore()


class _QuietIfInterrupted:
    """On Ctrl-C the cluster is closed mid-work on purpose: the errors Dask and tornado log
    about comms and callbacks cut short say nothing then. Logging resumes once closed."""

    def __init__(self) -> None:
        self.previous: int | None = None

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except KeyboardInterrupt:
            self.previous = logging.root.manager.disable
            logging.disable(logging.CRITICAL)
            raise

    def restore(self) -> None:
        if self.previous is not None:
            logging.disable(self.previous)


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[LocalCluster]:
    """A Dask cluster of ``workers`` processes, one thread each, on 127.0.0.1, without the
    nanny's MALLOC_TRIM_THRESHOLD_; stopped (workers and all) when the block exits,
    Ctrl-C included."""
    import dask
    from distributed import LocalCluster

    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in every worker: audits measured 2.4-2.8x
    # slower with it (bench/README.md). None unsets it; the
    # variable is also dropped from this process, where an earlier nanny may have left it
    # (it "leaks into the nanny process") and where every new worker would inherit it.
    os.environ.pop(MALLOC_TRIM, None)
    # Workers' and the scheduler's logs stay quiet: an audit's errors reach its caller as
    # results (error rows, failed partitions, plugin replies), not as log lines.
    settings = {f"distributed.nanny.pre-spawn-environ.{MALLOC_TRIM}": None,
                "distributed.worker.preload": ["kneerules.population.worker"]}
    with dask.config.set(settings), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                         # Port 0: the scheduler's HTTP routes always start, and on the
                         # default 8787 a second audit on the machine would fail to start.
                         host="127.0.0.1", dashboard_address="127.0.0.1:0",
                         silence_logs=logging.CRITICAL) as cluster:
        yield cluster


@attrs.frozen
class _Started:
    plugin: str
    environment: dict[str, Any]


def _start_engines(client: Client, engines: list[Engine]) -> _Started:
    from kneerules.population.worker import EnginePlugin, worker_environment

    # The rule set goes as its loaded spec: workers need not see the client's files.
    configs = tuple(attrs.evolve(e.config, ruleset=e.ruleset) for e in engines)
    plugin = EnginePlugin(configs, tuple(e.info for e in engines))
    name = f"kneerules-engine-{uuid.uuid4().hex[:12]}"
    replies = client.register_plugin(plugin, name=name)
    failed = {address: reply for address, reply in replies.items()
              if reply.get("status") != "OK"}
    if failed:
        client.unregister_worker_plugin(name)
        address, reply = sorted(failed.items())[0]
        raise EngineError(f"{len(failed)} of {len(replies)} workers could not build the "
                          f"engine; {address}: {reply.get('exception_text') or reply}")
    found = client.run(worker_environment)
    with_malloc = sorted(addr for addr, env in found.items() if env[MALLOC_TRIM] is not None)
    return _Started(name, {"count": len(found), "with_malloc_trim_threshold": len(with_malloc)})


def _run(client: Client, parts: list[inputs.Partition], plugin: str, out: Path,
         fmt: output.Format, at: datetime | None = None,
         progress: Callable[[int, int, int], None] | None = None) -> list[PartResult]:
    from distributed import as_completed

    from kneerules.population.worker import run_partition

    token = uuid.uuid4().hex[:12]
    futures = client.map(run_partition, parts, plugin=plugin, out=str(out), fmt=fmt, at=at,
                         key=[f"kneerules-audit-{token}-{p.index}" for p in parts])
    part_of = {future.key: part for future, part in zip(futures, parts, strict=True)}
    results: list[PartResult] = []
    total = sum(part.count for part in parts)
    done = 0
    if progress is not None:
        progress(0, total, _workers(client))
    try:
        for future in as_completed(futures, loop=client.loop):
            try:
                results.append(future.result())
                if progress is not None:
                    done += results[-1].base.cases
                    progress(done, total, _workers(client))
            except KneerulesError:
                raise
            except Exception as error:  # e.g. KilledWorker, an input a worker cannot read
                raise EngineError(f"{part_of[future.key].label}: {error}") from error
            future.release()
    finally:
        client.cancel(futures)
    return results
