"""The repository stands alone: its docs state the case format (vocabulary 1.2) and triage
policy v3 in the project's words, and no doc or code points outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kneerules import Engine
from kneerules.knowledge.policy import MESSAGE_PRECEDENCE

ROOT = Path(__file__).resolve().parent.parent
POLICY = (ROOT / "docs" / "triage-policy.md").read_text(encoding="utf-8")
CASE_FORMAT = (ROOT / "docs" / "case-format.md").read_text(encoding="utf-8")


def test_every_rule_of_policy_v3_is_on_the_policy_page_with_its_rule_ids(engine: Engine) -> None:
    """Each v3 rule has a row naming every kneerules rule that carries it."""
    carriers: dict[str, list[str]] = {}
    for rule in engine.knowledge.rules:
        if rule.policy:
            carriers.setdefault(rule.policy, []).append(rule.id)
    for number in MESSAGE_PRECEDENCE:
        row = re.search(rf"^\| {re.escape(number)} \|(.*)$", POLICY, re.MULTILINE)
        assert row, f"rule {number} has no row"
        assert carriers.get(number), f"no rule carries policy rule {number}"
        for rule_id in carriers[number]:
            assert f"`{rule_id}`" in row.group(1), (number, rule_id)


@pytest.mark.parametrize("part", ["D1", "D2", "D3", "D4", "D4b", "D5", "D5b", "D6", "D6b",
                                  "D7", "D8", "D9", "R1", *[f"A{n}" for n in range(1, 13)]])
def test_the_policy_page_has_every_definition_and_advice_rule(part: str) -> None:
    """D1-D9, R1 and A1-A12 are each stated."""
    assert re.search(rf"\b{part}\b", POLICY), part


def test_the_case_format_page_names_every_finding_and_measurement(engine: Engine) -> None:
    """Every name of the core vocabulary (1.2) is in docs/case-format.md with its question."""
    for spec in engine.knowledge.facts.values():
        if spec.plugin == "kneerules" and spec.kind in ("finding", "measurement"):
            assert f"`{spec.name}`" in CASE_FORMAT, spec.name


def test_every_reference_of_the_bibliography_is_listed_with_its_identifier(engine: Engine) -> None:
    """The policy page lists every bibliography entry with its DOI or PMID when it has one."""
    for reference in engine.knowledge.references.values():
        assert f"**{reference.key}**" in POLICY, reference.key
        if reference.doi:
            assert f"doi:{reference.doi}" in POLICY, reference.key


def test_no_doc_points_outside_the_repository() -> None:
    """README, docs, code and plugin data never send a reader to the upstream folder
    outside the repository (the contracts, the seed and the notes are copied in)."""
    outside = "/".join(("..", "shared"))  # spelt so that this test does not name it itself
    paths = [ROOT / "README.md", ROOT / "pyproject.toml",
             *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "kneerules").rglob("*.py")),
             *sorted((ROOT / "kneerules").rglob("*.yaml"))]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert outside not in text, path.relative_to(ROOT)
