"""Runs the fuzz targets for a given time: ``python -m fuzz.run SECONDS``.

Each target gets its share of the time, a corpus seeded from the shipped examples,
plugins and rule sets (kept in .fuzz/, which grows between runs), a dictionary of the
vocabulary's names, a per-input timeout (a hang is a finding) and a memory cap. Exits
non-zero on the first finding; libFuzzer writes the input that caused it to .fuzz/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".fuzz"
TARGETS = ("fuzz_case", "fuzz_rules")


def _seed(target: str, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if target == "fuzz_case":
        for path in sorted((ROOT / "examples").glob("*.json")):
            shutil.copy(path, corpus / path.name)
        for index in range(8):  # structured cases (fuzz_case.structured) start with 0
            (corpus / f"structured-{index}").write_bytes(bytes([0, *range(index, 200, 3)]))
    else:
        for path in sorted((ROOT / "kneerules" / "knowledge" / "data" / "plugins").glob("*.yaml")):
            (corpus / f"plugin-{path.stem}").write_bytes(b"\x01" + path.read_bytes())
        for path in sorted((ROOT / "kneerules" / "knowledge" / "data" / "rulesets").glob("*.yaml")):
            (corpus / f"ruleset-{path.stem}").write_bytes(b"\x00" + path.read_bytes())


def _dictionary() -> Path:
    from kneerules import Engine
    from kneerules.knowledge.plugins import get_plugin_manager

    engine = Engine(plugin_manager=get_plugin_manager(entry_points=False))
    words = set(engine.vocabulary) | {"case_id", "findings", "measurements", "patient", "age",
                                      "sex", "onset", "side", "format", "kneerules.case/1",
                                      "rules", "when", "then", "all", "any", "none", "after",
                                      "derive", "because", "source", "priority", "\\ud800"}
    path = WORK / "kneerules.dict"
    path.write_text("".join(f"{json.dumps(word)}\n" for word in sorted(words)))
    return path


def main(seconds: int) -> int:
    WORK.mkdir(exist_ok=True)
    dictionary = _dictionary()
    share = max(seconds // len(TARGETS), 1)
    for target in TARGETS:
        corpus = WORK / "corpus" / target
        _seed(target, corpus)
        command = [sys.executable, "-m", f"fuzz.{target}", str(corpus),
                   f"-max_total_time={share}", "-timeout=10", "-rss_limit_mb=2048",
                   "-max_len=65536", f"-dict={dictionary}",
                   f"-artifact_prefix={WORK}/{target}-", "-print_final_stats=1"]
        print(f"fuzzing {target} for {share} s", flush=True)
        done = subprocess.run(command, cwd=ROOT, check=False)
        if done.returncode != 0:
            print(f"{target}: a finding (exit {done.returncode}); the input is in {WORK}/",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 600))
