"""Make docs/audit-report.png and docs/rule-book.png: the audit report of 20,000 made-up
cases and the rule book (searched for "swollen calf"), at 1280 px, in headless Chromium.

    .venv/bin/python tools/page_screenshots.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser  # noqa: E402

KNEERULES = str(Path(sys.executable).parent / "kneerules")


def main() -> None:
    from selenium.webdriver.common.by import By

    from kneerules import Engine
    from kneerules.population.synthetic import synthetic_cases

    why = browser.missing()
    if why:
        sys.exit(f"page_screenshots: {why}")
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        engine = Engine()
        vignettes = [json.loads(p.read_text())["case"]
                     for p in sorted((ROOT / "tests" / "vignettes").glob("*.json"))]
        lines = [json.dumps(c) for c in synthetic_cases(engine.vocabulary, 20_000, seed=27,
                                                        base=vignettes)]
        lines[5000:5000] = ['{"case_id": "bad-finding", "findings": {"pain.calff": true}}',
                            "{not json"]
        (folder / "cases.jsonl").write_text("\n".join(lines) + "\n")
        subprocess.run([KNEERULES, "audit", str(folder / "cases.jsonl"), "--out",
                        str(folder / "audit"), "--format", "jsonl"], check=False)
        subprocess.run([KNEERULES, "book", "--out", str(folder / "book"), "--hazard-log",
                        str(ROOT / "docs" / "safety" / "hazard-log.yaml")], check=True)
        with browser.chromium() as driver:
            browser.open_at(driver, folder / "audit" / "report.html", 1280)
            browser.screenshot(driver, ROOT / "docs" / "audit-report.png", 1280, 1700)
            browser.open_at(driver, folder / "book" / "index.html", 1280)
            driver.find_element(By.ID, "search").send_keys("swollen calf")
            time.sleep(0.2)
            browser.screenshot(driver, ROOT / "docs" / "rule-book.png", 1280, 1500)
    print("docs/audit-report.png, docs/rule-book.png")


if __name__ == "__main__":
    main()
