"""What runs in a Dask worker: its engine (built once, by a worker plugin) and the task
that assesses one partition, writes its rows and sends back only the counts."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin, get_worker

from kneerules.knowledge.config import EngineConfig
from kneerules.model.errors import CaseError, EngineError, KneerulesError
from kneerules.model.records import EngineInfo
from kneerules.population import inputs, output, rows
from kneerules.population.summary import PartResult, Tally

if TYPE_CHECKING:
    from distributed import Worker

    from kneerules.engine import Engine
    from kneerules.model.records import Case

MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"  # the variable glibc reads at start-up


class EnginePlugin(WorkerPlugin):
    """Builds a worker's engines from their recipes when the worker starts (also a
    worker the nanny restarted), and refuses to run if they are not the client's.

    Only the recipes cross the wire: an engine holds durable-rules' compiled rule
    set, which is built in the process that uses it and never pickled."""

    def __init__(self, configs: tuple[EngineConfig, ...], expected: tuple[EngineInfo, ...]
                 ) -> None:
        self.configs = configs
        self.expected = expected
        self.engines: tuple[Engine, ...] = ()

    def setup(self, worker: Worker) -> None:
        from kneerules.engine import Engine

        engines = tuple(Engine.from_config(config) for config in self.configs)
        for engine, expected in zip(engines, self.expected, strict=True):
            if engine.info != expected:
                raise EngineError(f"worker {worker.address} built {_describe(engine.info)}, "
                                  f"not the client's {_describe(expected)}: install the same "
                                  "kneerules and plugins on every worker")
        self.engines = engines


def dask_setup(worker: Worker) -> None:
    """Run in each worker of the cluster an audit starts (a Dask preload, restarted
    workers included): Ctrl-C is the client's to handle. It stops the cluster, workers
    and all; a worker that took the terminal's SIGINT too would only print a traceback."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _case(engine: Engine, kind: str, item: Any, source: str, at: datetime | None
          ) -> tuple[Case, list[str]]:
    """The validated case an input item stands for, and what its reader left undecided
    (a FHIR record's conflicts: those facts stay unknown)."""
    if kind not in ("fhir", "fhir-jsonl"):
        return engine.parse(item, source), []
    case, problems = engine.read("fhir", inputs.parse_bundle(item, source), at=at)
    return case, [f"FHIR: {problem}" for problem in problems]


def _describe(info: EngineInfo) -> str:
    plugins = ", ".join(f"{p.name} {p.version}" for p in info.plugins)
    return f"kneerules {info.version}, {info.ruleset} {info.ruleset_version} ({plugins})"


def worker_environment() -> dict[str, Any]:
    """What a worker says about itself (the audit checks the malloc setting is unset)."""
    return {"pid": os.getpid(), MALLOC_TRIM: os.environ.get(MALLOC_TRIM)}


def run_partition(part: inputs.Partition, plugin: str, out: str, fmt: output.Format,
                  at: datetime | None = None) -> PartResult:
    """Assesses one partition with this worker's engines and writes its part files.

    ``at`` is the index time FHIR Bundles are read at (the same for the whole audit)."""
    try:
        engines = get_worker().plugins[plugin].engines  # type: ignore[attr-defined]
    except (KeyError, ValueError) as error:
        raise EngineError(f"worker has no kneerules engine ({error!r})") from None
    if not engines:
        raise EngineError("the worker's kneerules engine failed to build (see its log)")
    base = engines[0]
    results: list[list[dict[str, Any]]] = [[] for _ in engines]
    infos = [rows.engine_columns(engine.info) for engine in engines]
    for path, position, item in inputs.read(part, base.vocabulary):
        where = (path, position)
        try:
            case, notes = _case(base, part.kind, item, f"{path}:{position}", at)
        except CaseError as error:
            if part.kind == "parquet":
                error = inputs.column_problems(error)
            for found, info in zip(results, infos, strict=True):
                found.append(rows.error_row(where, inputs.case_id_of(item), error, info))
            continue
        age = case.patient.age if case.patient else None
        for engine, found, info in zip(engines, results, infos, strict=True):
            try:
                row = rows.assessed_row(where, engine.evaluate(case), age, info)
            except KneerulesError as error:  # a plugin failed on this case: the rest go on
                row = rows.error_row(where, case.case_id, error, info)
            row["problems"] = [*notes, *row["problems"]]
            found.append(row)
    tallies = []
    for found in results:
        tally = Tally()
        for row in found:
            tally.add(row)
        tallies.append(tally)
    target = Path(out)
    output.write_part(output.part_path(target, output.ASSESSMENTS, part.index, fmt),
                      results[0], rows.COLUMNS, fmt)
    transitions: Counter[tuple[str, str]] = Counter()
    if len(engines) > 1:
        changes = []
        for mine, theirs in zip(results[0], results[1], strict=True):
            change = rows.change_row(mine, theirs)
            if change is not None:
                changes.append(change)
                transitions[(mine["timeframe"] or "error", theirs["timeframe"] or "error")] += 1
        output.write_part(output.part_path(target, output.CHANGES, part.index, fmt),
                          changes, rows.CHANGE_COLUMNS, fmt)
    return PartResult(part.index, tallies[0], tallies[1] if len(tallies) > 1 else None,
                      transitions)
