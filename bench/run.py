"""kneerules benchmark (``make bench``): prints every figure of issue 7 for this machine.

Each in-process figure is the median of several rounds; see bench/README.md for how
to read them and the latest figures. ``--quick`` runs a much shorter version (a smoke
test of the benchmark itself, not figures to quote).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from itertools import cycle, islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import ROOT, load_cases
from raw import RawDurable, capture_payloads

from kneerules import Engine
from kneerules.batch import assess_lines, cpu_count
from kneerules.errors import CaseError

BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "examples" / "dvt-emergency.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median_of(rounds: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    values = [measure() for _ in range(rounds)]
    return statistics.median(values), values


def wall(argv: list[str], stdin: bytes | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


class Report:
    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def line(self, key: str, label: str, value: float, unit: str, target: str = "",
             met: bool | None = None) -> None:
        self.figures[key] = value
        verdict = "" if met is None else ("  ok" if met else "  MISSED")
        goal = f"  (target {target}{verdict})" if target else ""
        print(f"  {label:<52} {value:>10.3f} {unit}{goal}", flush=True)


def bench_construction(report: Report, rounds: int) -> None:
    print("Engine construction (plugins loaded, rules compiled)")
    build, _ = median_of(rounds, lambda: _timed(Engine))
    report.line("construct_s", "Engine(), modules already imported", build, "s")
    code = ("import time; t = time.perf_counter(); from kneerules import Engine; Engine(); "
            "print(time.perf_counter() - t)")
    cold = statistics.median(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout) for _ in range(rounds))
    report.line("construct_cold_s", "import kneerules + Engine() in a fresh process", cold, "s")


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_latency(report: Report, engine: Engine, cases: list[dict[str, Any]],
                  rounds: int, repeats: int) -> None:
    print(f"In-process latency per case ({len(cases)} cases x {repeats}, trace on, "
          f"median of {rounds} rounds)")
    p50s, p99s, means = [], [], []
    for _ in range(rounds):
        times = []
        for _ in range(repeats):
            for case in cases:
                start = time.perf_counter()
                engine.evaluate(case)
                times.append(time.perf_counter() - start)
        p50s.append(percentile(times, 0.5))
        p99s.append(percentile(times, 0.99))
        means.append(statistics.fmean(times))
    p50 = statistics.median(p50s) * 1e3
    report.line("latency_p50_ms", "p50", p50, "ms", "<= 1 ms", p50 <= 1.0)
    report.line("latency_p99_ms", "p99", statistics.median(p99s) * 1e3, "ms")
    report.line("latency_mean_ms", "mean", statistics.median(means) * 1e3, "ms")


def bench_raw(report: Report, engine: Engine, cases: list[dict[str, Any]],
              rounds: int, repeats: int) -> None:
    print("kneerules over raw durable-rules (same compiled ruleset, same fact JSON)")
    payloads = capture_payloads(engine, cases)
    raw = RawDurable(engine)
    ratios, raw_means, kr_means = [], [], []
    for _ in range(rounds):
        # Alternating the two sides within a round keeps drift in the machine out of the ratio.
        start = time.perf_counter()
        for _ in range(repeats):
            for payload, sid in payloads:
                raw.run(payload, sid)
        raw_time = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(repeats):
            for case in cases:
                engine.evaluate(case)
        kr_time = time.perf_counter() - start
        ratios.append(kr_time / raw_time)
        raw_means.append(raw_time / (repeats * len(cases)))
        kr_means.append(kr_time / (repeats * len(cases)))
    report.line("raw_mean_ms", "raw durable-rules, mean per case", statistics.median(raw_means)
                * 1e3, "ms")
    report.line("kneerules_mean_ms", "kneerules Engine.evaluate(dict), mean per case",
                statistics.median(kr_means) * 1e3, "ms")
    ratio = statistics.median(ratios)
    report.line("overhead_ratio", "ratio kneerules / raw", ratio, "x", "<= 1.5x", ratio <= 1.5)


def _many(cases: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return list(islice(cycle(cases), count))


def bench_throughput(report: Report, engine: Engine, cases: list[dict[str, Any]],
                     rounds: int, count: int) -> None:
    cores = cpu_count()
    batch = _many(cases, count)
    lines = [json.dumps(case).encode() for case in batch]
    print(f"Throughput ({count} cases, median of {rounds} rounds, {cores} cores)")

    def library(jobs: int) -> float:
        return count / _timed(lambda: _drain(engine.evaluate_many(batch, jobs=jobs)))

    def jsonl(jobs: int) -> float:
        return count / _timed(lambda: _drain(assess_lines(engine, lines, jobs=jobs)))

    one, _ = median_of(rounds, lambda: library(1))
    every, _ = median_of(rounds, lambda: library(cores))
    report.line("evaluate_many_1", "Engine.evaluate_many, jobs=1", one, "cases/s")
    report.line("evaluate_many_all", f"Engine.evaluate_many, jobs={cores}", every, "cases/s")
    report.line("evaluate_many_speedup", "  speed-up", every / one, "x", ">= 1.7x",
                every / one >= 1.7)
    one, _ = median_of(rounds, lambda: jsonl(1))
    every, _ = median_of(rounds, lambda: jsonl(cores))
    report.line("jsonl_1", "JSON Lines in -> out (eval --jsonl), jobs=1", one, "cases/s")
    report.line("jsonl_all", f"JSON Lines in -> out (eval --jsonl), jobs={cores}", every,
                "cases/s")
    report.line("jsonl_speedup", "  speed-up", every / one, "x", ">= 1.7x", every / one >= 1.7)
    data = b"\n".join(lines) + b"\n"
    cli = [str(BIN / "kneerules"), "eval", "--jsonl", "-"]
    whole_one, _ = median_of(rounds, lambda: wall([*cli, "--jobs", "1"], data))
    whole_all, _ = median_of(rounds, lambda: wall([*cli, "--jobs", str(cores)], data))
    report.line("cli_jsonl_1", "whole `kneerules eval --jsonl -`, --jobs 1", count / whole_one,
                "cases/s")
    report.line("cli_jsonl_all", f"whole `kneerules eval --jsonl -`, --jobs {cores}",
                count / whole_all, "cases/s")


def _drain(results: Iterator[Any]) -> None:
    for result in results:
        if isinstance(result, CaseError):
            raise result


def bench_cold_start(report: Report, rounds: int) -> None:
    print(f"Cold start, wall time of the whole process (median of {rounds})")
    exe = str(BIN / "kneerules")
    for key, label, argv in (
        ("cold_eval_s", "kneerules eval examples/dvt-emergency.json", [exe, "eval", EXAMPLE]),
        ("cold_eval_json_s", "  ... --format json", [exe, "eval", EXAMPLE, "--format", "json"]),
        ("cold_version_s", "kneerules --version", [exe, "--version"]),
        ("cold_help_s", "kneerules --help", [exe, "--help"]),
    ):
        wall([str(a) for a in argv])  # page cache and bytecode warm
        value, _ = median_of(rounds, lambda argv=argv: wall([str(a) for a in argv]))  # type: ignore[misc]
        target = "< 0.5 s" if key == "cold_eval_s" else ""
        report.line(key, label, value, "s", target, value < 0.5 if target else None)


def bench_memory(report: Report, count: int) -> None:
    print(f"Resident memory, one process, {count:,} evaluations")
    out = subprocess.run([sys.executable, str(Path(__file__).parent / "memory.py"), str(count)],
                         capture_output=True, text=True, check=True).stdout
    rss = json.loads(out)
    report.line("rss_built_mb", "engine built, before any evaluation", rss["built"], "MB")
    report.line("rss_warm_mb", "after 1,000 warm-up evaluations", rss["warm"], "MB")
    report.line("rss_after_mb", f"after {count:,} more", rss["after"], "MB")
    growth = rss["after"] - rss["warm"]
    report.line("rss_growth_mb", f"growth over the {count:,}", growth, "MB", "< 10 MB",
                growth < 10)


def bench_audit(report: Report, count: int) -> None:
    """The population audit on a 2-worker LocalCluster against eval --jsonl (bench/audit.py)."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        print("Population audit: skipped (install kneerules[dask,parquet])")
        return
    from audit import measure, print_figures

    print_figures(measure(count, 2), report.line)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    rounds, repeats, count, memory = (1, 2, 400, 2000) if args.quick else (5, 30, 12_000, 100_000)
    began = time.perf_counter()
    engine = Engine()
    cases = []
    for name, case in load_cases():
        try:
            engine.parse(case)
        except CaseError:
            print(f"(skipping {name}: not a valid case)")
            continue
        cases.append(case)
    print(f"kneerules benchmark: {len(cases)} cases, {len(engine.knowledge.rules)} rules, "
          f"{cpu_count()} cores, Python {sys.version.split()[0]}, load average {_load()}")
    for case in cases:  # warm: cattrs builds its structuring code on first use
        engine.evaluate(case)
    gc.collect()
    report = Report()
    bench_construction(report, rounds)
    bench_latency(report, engine, cases, rounds, repeats)
    bench_raw(report, engine, cases, rounds, repeats)
    bench_throughput(report, engine, cases, max(1, rounds - 2), count)
    bench_cold_start(report, 3 if args.quick else 10)
    bench_memory(report, memory)
    bench_audit(report, 4_000 if args.quick else 200_000)
    print(f"done in {time.perf_counter() - began:.0f} s; load average {_load()} (other work on "
          "the machine skews every figure: compare runs taken when it is near 0)")
    if args.json:
        Path(args.json).write_text(json.dumps(report.figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
