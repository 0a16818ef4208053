"""Resident memory of one process before and after many evaluations; prints JSON.

Run by ``run.py`` in a fresh process, so nothing else it measured is counted."""

from __future__ import annotations

import gc
import json
import sys
from itertools import cycle, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import load_cases

from kneerules import Engine


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    cases = [case for _, case in load_cases()]
    engine = Engine()
    gc.collect()
    built = rss_mb()
    for case in islice(cycle(cases), 1000):
        engine.evaluate(case)
    gc.collect()
    warm = rss_mb()
    for case in islice(cycle(cases), count):
        engine.evaluate(case)
    gc.collect()
    after = rss_mb()
    print(json.dumps({"built": built, "warm": warm, "after": after, "count": count}))


if __name__ == "__main__":
    main()
