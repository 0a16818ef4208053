"""Population audit on Dask against `eval --jsonl`, same cases, same run (issue 15).

Generates N cases (default 200,000: the benchmark cases with findings added at random,
and random ones; kneerules.population.synthetic), then times, as whole processes:
`kneerules eval --jsonl FILE --jobs W` (output to /dev/null) and `kneerules audit FILE
--workers W` (its own LocalCluster, Parquet parts, summary and report), plus an audit
of one case (the fixed cost: cluster start and stop, engines built). From these, the
per-case cost in worker-seconds, and what 10 million cases would take on 16 nodes.

    .venv/bin/python bench/audit.py [--cases N] [--workers W]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import load_cases

from kneerules import Engine
from kneerules.population.inputs import plan
from kneerules.population.run import DEFAULT_PARTITION_SIZE
from kneerules.population.synthetic import synthetic_cases

BIN = Path(sys.executable).parent
PROJECTED_CASES = 10_000_000
MALLOC_SAMPLE = 20_000  # cases timed with and without Dask's MALLOC_TRIM_THRESHOLD_
NODES = 16
CORES_PER_NODE = (2, 8, 32)


def write_cases(path: Path, count: int) -> None:
    engine = Engine()
    base = [case for _, case in load_cases()]
    with path.open("w", encoding="utf-8") as handle:
        for case in synthetic_cases(engine.vocabulary, count, seed=2026, base=base):
            handle.write(json.dumps(case) + "\n")


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: some cases were bad, which the bench has none of
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return took


def malloc_effect(cases: Path, workers: int, out: Path) -> tuple[float, float]:
    """Cases/s of the audit's own cluster (MALLOC_TRIM_THRESHOLD_ unset) and of a cluster
    with Dask's defaults (the nanny sets it), timed from the client, cluster started."""
    import logging

    from distributed import LocalCluster

    from kneerules.population import audit
    from kneerules.population.run import local_cluster

    count = sum(1 for _ in cases.open("rb"))

    def rate(address: str) -> float:
        start = time.perf_counter()
        audit([cases], out, scheduler=address, overwrite=True)
        return count / (time.perf_counter() - start)

    with local_cluster(workers) as cluster:
        unset = rate(cluster.scheduler_address)
    with LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        kept = rate(cluster.scheduler_address)
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # the default nanny left it here
    return unset, kept


def measure(count: int, workers: int) -> dict[str, Any]:
    exe = str(BIN / "kneerules")
    with tempfile.TemporaryDirectory(prefix="kneerules-bench-audit-") as folder:
        cases, one = Path(folder) / "cases.jsonl", Path(folder) / "one.jsonl"
        write_cases(cases, count)
        write_cases(one, 1)
        out = str(Path(folder) / "out")
        # Each run replaces the last one's folder (a non-empty --out is refused without it).
        audit = [exe, "audit", "--out", out, "--overwrite", "--workers", str(workers)]
        fixed = timed([*audit, str(one)])
        eval_s = timed([exe, "eval", "--jsonl", str(cases), "--jobs", str(workers)])
        audit_s = timed([*audit, str(cases)])
        # The client cuts the input into partitions alone: on a cluster this part does not
        # shrink with more workers, so the projection below keeps it serial.
        vocabulary = Engine().vocabulary
        start = time.perf_counter()
        plan([cases], DEFAULT_PARTITION_SIZE, vocabulary)
        plan_s = time.perf_counter() - start
        summary = json.loads((Path(out) / "summary.json").read_text())
        assert summary["cases"] == count, summary["cases"]
        sample = Path(folder) / "sample.jsonl"
        write_cases(sample, min(count, MALLOC_SAMPLE))
        unset, kept = malloc_effect(sample, workers, Path(folder) / "malloc")
    # Worker-seconds per case, without the fixed cost and the client's serial planning.
    per_case = workers * max(audit_s - fixed - plan_s, 1e-9) / count
    return {"cases": count, "workers": workers, "eval_jsonl_s": eval_s, "audit_s": audit_s,
            "audit_fixed_s": fixed, "eval_jsonl_rate": count / eval_s,
            "audit_rate": count / audit_s, "ratio": eval_s / audit_s,
            "per_case_ms": per_case * 1e3, "malloc_sample": min(count, MALLOC_SAMPLE),
            "malloc_unset_rate": unset, "malloc_kept_rate": kept,
            "plan_us_per_case": plan_s / count * 1e6,
            "projection": {cores: fixed + PROJECTED_CASES * plan_s / count
                           + PROJECTED_CASES * per_case / (NODES * cores)
                           for cores in CORES_PER_NODE}}


def print_figures(figures: dict[str, Any], line: Any = None) -> None:
    """Prints the figures (through bench/run.py's Report.line when given one)."""
    def show(key: str, label: str, value: float, unit: str, target: str = "",
             met: bool | None = None) -> None:
        if line is not None:
            line(key, label, value, unit, target, met)
        else:
            print(f"  {label:<52} {value:>10.3f} {unit}{f'  (target {target})' if target else ''}")

    count, workers = figures["cases"], figures["workers"]
    print(f"Population audit on Dask, {count:,} cases, {workers} workers x 1 thread")
    show("audit_eval_jsonl_rate", f"`kneerules eval --jsonl --jobs {workers}`, whole process",
         figures["eval_jsonl_rate"], "cases/s")
    show("audit_rate", f"`kneerules audit --workers {workers}`, whole process",
         figures["audit_rate"], "cases/s")
    ratio = figures["ratio"]
    show("audit_ratio", "  audit / eval --jsonl", ratio, "x", ">= 0.9x", ratio >= 0.9)
    show("audit_fixed_s", "audit of 1 case (cluster start/stop, engines)",
         figures["audit_fixed_s"], "s")
    show("audit_plan_us", "client planning (scan of the input), per case",
         figures["plan_us_per_case"], "us")
    show("audit_per_case_ms", "per case, worker-seconds (less fixed and planning)",
         figures["per_case_ms"], "ms")
    sample = figures["malloc_sample"]
    show("audit_malloc_unset_rate", f"audit's cluster, malloc trim unset ({sample:,} cases)",
         figures["malloc_unset_rate"], "cases/s")
    show("audit_malloc_kept_rate", "  a default Dask cluster (MALLOC_TRIM_THRESHOLD_ set)",
         figures["malloc_kept_rate"], "cases/s")
    show("audit_malloc_ratio", "  unset / set", figures["malloc_unset_rate"]
         / figures["malloc_kept_rate"], "x")
    for cores, seconds in figures["projection"].items():
        show(f"audit_10m_16x{cores}_s", f"10M cases on {NODES} nodes x {cores} workers",
             seconds, "s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print_figures(measure(args.cases, args.workers))


if __name__ == "__main__":
    main()
