"""Writes docs/safety/hazard-log.md from docs/safety/hazard-log.yaml (the data is the log;
the page is how a reviewer reads it). Run ``python tools/hazard_log.py`` after editing the
data; tests/test_hazard_log.py fails while the page differs from what this writes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "safety" / "hazard-log.yaml"
PAGE = ROOT / "docs" / "safety" / "hazard-log.md"

INTRO = """# Hazard log (version 2, triage policy v3)

Clinical risk management in the style of NHS DCB0129 (clinical risk management: its
application in the manufacture of health IT systems). The data behind this page is
[`hazard-log.yaml`](hazard-log.yaml); `tools/hazard_log.py` writes this page from it, and
`tests/test_hazard_log.py` fails when a rating does not follow the matrix below, a control
names a rule or a test that does not exist, a red-flag rule of policy v3 controls no hazard,
or this page is not what the data renders to.

kneerules is decision support for pain behind the knee; every assessment tells the patient
to see a doctor. The ratings are the engineering team's proposal, for the Clinical Safety
Officer to review and sign. A residual likelihood is claimed only as low as the tests named
with it measure; where the policy itself is narrower than a clinician might be, or rests on
a local rule, the likelihood says so.
"""


def _matrix(matrix: dict[str, Any]) -> list[str]:
    severities = matrix["severities"]
    lines = ["## Risk matrix (DCB0129)", "",
             "Risk = likelihood (rows) x severity (columns); every rating below is read "
             "from this table.", "",
             "| likelihood | " + " | ".join(severities) + " |",
             "|---|" + "---|" * len(severities)]
    for likelihood in matrix["likelihoods"]:
        lines.append(f"| {likelihood} | "
                     + " | ".join(str(r) for r in matrix["risk"][likelihood]) + " |")
    lines += ["", "| risk | meaning |", "|---|---|"]
    lines += [f"| {risk} | {text} |" for risk, text in matrix["acceptability"].items()]
    return lines


def _rating(part: dict[str, Any]) -> str:
    return f"{part['risk']} ({part['severity']}, {part['likelihood']})"


def render(data: dict[str, Any]) -> str:
    hazards = data["hazards"]
    lines = [INTRO.rstrip("\n"), "", *_matrix(data["matrix"]), "", "## Summary", "",
             "| id | hazard | initial risk | residual risk |", "|---|---|---|---|"]
    lines += [f"| {h['id']} | {h['title']} | {_rating(h['initial'])} | "
              f"{_rating(h['residual'])} |" for h in hazards]
    for hazard in hazards:
        rules = hazard["controls"]["rules"]
        lines += ["", f"## {hazard['id']}: {hazard['title']}", "",
                  f"- **Cause:** {hazard['cause']}", f"- **Effect:** {hazard['effect']}",
                  f"- **Initial risk:** {_rating(hazard['initial'])}",
                  "- **Controlled by rules:** " + (", ".join(f"`{r}`" for r in rules)
                                                   or "the engine itself (no single rule)"),
                  "- **Proved by tests:**"]
        lines += [f"  - `{t}`" for t in hazard["controls"]["tests"]]
        residual = hazard["residual"]
        lines += [f"- **Residual risk:** {_rating(residual)}. {residual['why']}",
                  "- **Likelihood measured by:**"]
        lines += [f"  - `{t}`" for t in residual["measured_by"]]
        if hazard.get("actions"):
            lines.append(f"- **Further action:** {hazard['actions']}")
    lines += ["", "## Design controls common to every hazard", ""]
    lines += [f"- {c}" for c in data["common_controls"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    PAGE.write_text(render(data), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
