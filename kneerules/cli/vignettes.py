"""Validating a rule set against vignettes: what a clinical team runs before signing off.

A vignette is a JSON file ``{"case": {...}, "expect": {...}}`` (the format of
``tests/vignettes``). ``expect`` may hold ``triage`` (the level),
``timeframe`` (policy v2), ``top`` (acceptable first conditions), ``top3`` (conditions
that must all be in the first three), ``not_top`` (conditions that must not come first)
and ``must_not_miss`` (conditions that must be listed with ``must_not_miss``).

:func:`validate` scores every vignette and :func:`robustness` perturbs each one: drop
each recorded finding in turn, and flip each (true to false, false to true), to show
which findings the leading condition hinges on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from kneerules.cases.validation import DEFAULT_MAX_BYTES, parse_json, read_limited
from kneerules.model.errors import CaseError, KneerulesError
from kneerules.model.rules import LEVEL_RANK, TIMEFRAME_RANK

if TYPE_CHECKING:
    from kneerules.engine import Engine
    from kneerules.model.records import Assessment

VALIDATION_FORMAT = "kneerules.validation/1"
NOTHING = "(none)"
"""The ranked-first label of an empty differential, in the confusion table."""


class VignetteError(KneerulesError):
    """A vignette file that cannot be read or has the wrong shape."""


@attrs.frozen
class Vignette:
    name: str
    path: str
    case: Mapping[str, Any]
    expect: Mapping[str, Any]


@attrs.frozen
class CaseResult:
    """One vignette scored: what came out, and every expectation it missed."""

    name: str
    path: str
    expected_level: str | None = None
    level: str | None = None
    timeframe: str | None = None
    ranked: tuple[str, ...] = ()
    misses: tuple[str, ...] = ()
    error: str | None = None

    @property
    def leading(self) -> str:
        return self.ranked[0] if self.ranked else NOTHING


def load_vignettes(folders: Iterable[str | Path], max_bytes: int = DEFAULT_MAX_BYTES
                   ) -> tuple[list[Vignette], list[CaseResult]]:
    """Every ``*.json`` in the folders, in name order; a file that cannot be used becomes a
    result with its error, so that the others are still scored. Each is read as a case is
    (:func:`~kneerules.cases.validation.read_limited`, then ``parse_json``): regular files
    only, at most ``max_bytes``, nesting bounded, a key given twice refused."""
    found: list[Vignette] = []
    broken: list[CaseResult] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise VignetteError(f"{root}: not a folder of vignettes")
        for path in sorted(root.glob("*.json")):
            try:
                body = parse_json(read_limited(str(path), max_bytes), str(path), max_bytes)
            except CaseError as error:
                broken.append(CaseResult(path.stem, str(path), error="; ".join(
                    str(p) for p in error.problems)))
                continue
            problem = _shape_problem(body)
            if problem:
                broken.append(CaseResult(path.stem, str(path), error=problem))
                continue
            found.append(Vignette(path.stem, str(path), body["case"], body["expect"]))
    return found, broken


def _shape_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "expected an object with 'case' and 'expect'"
    for key in ("case", "expect"):
        if not isinstance(body.get(key), dict):
            return f"$.{key}: expected an object"
    expect = body["expect"]
    # isinstance first: a list is not hashable, and `in` a dict raised a TypeError.
    for key, allowed in (("triage", LEVEL_RANK), ("timeframe", TIMEFRAME_RANK)):
        if key in expect and (not isinstance(expect[key], str) or expect[key] not in allowed):
            return f"$.expect.{key}: expected one of {', '.join(allowed)}"
    for key in ("top", "top3", "not_top", "must_not_miss"):
        value = expect.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"$.expect.{key}: expected a list of condition ids"
    return None


def score_case(vignette: Vignette, assessment: Assessment) -> CaseResult:
    """Compares one assessment with its vignette's expectations."""
    expect = vignette.expect
    triage = assessment.triage
    timeframe = getattr(triage, "timeframe", None)
    ranked = tuple(entry.condition for entry in assessment.differential)
    flagged = {e.condition for e in assessment.differential if e.must_not_miss}
    misses = []
    want = expect.get("triage")
    if want is not None and triage.level != want:
        kind = "UNDER-TRIAGE" if LEVEL_RANK[triage.level] < LEVEL_RANK[want] else "over-triage"
        misses.append(f"{kind}: {triage.level}, expected {want}")
    if "timeframe" in expect and timeframe != expect["timeframe"]:
        misses.append(f"timeframe {timeframe}, expected {expect['timeframe']}")
    if "top" in expect and (not ranked or ranked[0] not in expect["top"]):
        misses.append(f"first {ranked[0] if ranked else NOTHING}, expected one of "
                      f"{', '.join(expect['top'])}")
    lacking = [c for c in expect.get("top3", ()) if c not in ranked[:3]]
    if "top3" not in expect and "top" in expect and not set(expect["top"]) & set(ranked[:3]):
        lacking = list(expect["top"])
    if lacking:
        misses.append(f"top 3 ({', '.join(ranked[:3]) or NOTHING}) lacks {', '.join(lacking)}")
    if ranked and ranked[0] in expect.get("not_top", ()):
        misses.append(f"{ranked[0]} ranked first, which it must not be")
    for condition in expect.get("must_not_miss", ()):
        if condition not in flagged:
            misses.append(f"{condition} not listed as must_not_miss")
    return CaseResult(vignette.name, vignette.path, want, triage.level, timeframe, ranked,
                      tuple(misses))


def _evaluate(engine: Engine, case: Mapping[str, Any]) -> Assessment:
    return engine.evaluate(case)


def validate(engine: Engine, folders: Sequence[str | Path]) -> dict[str, Any]:
    """The validation report of the vignettes in ``folders`` (a JSON-ready dict)."""
    vignettes, results = load_vignettes(folders, engine.max_bytes)
    for vignette in vignettes:
        try:
            results.append(score_case(vignette, _evaluate(engine, vignette.case)))
        except KneerulesError as error:
            results.append(CaseResult(vignette.name, vignette.path, error=str(error)))
    results.sort(key=lambda r: (r.path, r.name))
    expects = {v.path: v.expect for v in vignettes}
    return {
        "format": VALIDATION_FORMAT,
        "folders": [str(f) for f in folders],
        "summary": summarise(results, expects),
        "confusion": confusion(results, expects),
        "cases": [attrs.asdict(r) | {"ranked": list(r.ranked), "misses": list(r.misses)}
                  for r in results],
    }


def _rate(ok: int, n: int) -> dict[str, Any]:
    return {"ok": ok, "n": n, "rate": round(ok / n, 4) if n else None}


def summarise(results: Sequence[CaseResult], expects: Mapping[str, Mapping[str, Any]]
              ) -> dict[str, Any]:
    scored = [r for r in results if r.error is None]
    count: Counter[str] = Counter()
    for result in scored:
        expect = expects[result.path]
        misses = " ".join(result.misses)
        if "triage" in expect:
            count["triage_n"] += 1
            count["triage_ok"] += result.level == expect["triage"]
            count["under"] += "UNDER-TRIAGE" in misses
            count["over"] += "over-triage" in misses
            if expect["triage"] == "emergency":
                count["emergency_n"] += 1
                count["emergency_ok"] += result.level == "emergency"
        if "timeframe" in expect:
            count["timeframe_n"] += 1
            count["timeframe_ok"] += result.timeframe == expect["timeframe"]
        if "top" in expect:
            count["top1_n"] += 1
            count["top1_ok"] += bool(result.ranked) and result.ranked[0] in expect["top"]
        if "top" in expect or "top3" in expect:
            count["top3_n"] += 1
            count["top3_ok"] += "top 3 (" not in misses
        if "not_top" in expect:
            count["not_top_n"] += 1
            count["not_top_ok"] += "must not be" not in misses
        for condition in expect.get("must_not_miss", ()):
            count["must_not_miss_n"] += 1
            count["must_not_miss_ok"] += f"{condition} not listed" not in misses
    return {
        "cases": len(results),
        "errors": len(results) - len(scored),
        "passed": sum(1 for r in scored if not r.misses),
        "top1": _rate(count["top1_ok"], count["top1_n"]),
        "top3": _rate(count["top3_ok"], count["top3_n"]),
        "triage_exact": _rate(count["triage_ok"], count["triage_n"]),
        "under_triage": count["under"],
        "over_triage": count["over"],
        "emergency_sensitivity": _rate(count["emergency_ok"], count["emergency_n"]),
        "timeframe": _rate(count["timeframe_ok"], count["timeframe_n"]),
        "must_not_miss": _rate(count["must_not_miss_ok"], count["must_not_miss_n"]),
        "not_top": _rate(count["not_top_ok"], count["not_top_n"]),
    }


def confusion(results: Sequence[CaseResult], expects: Mapping[str, Mapping[str, Any]]
              ) -> dict[str, dict[str, int]]:
    """Expected condition -> ranked-first condition -> cases, for vignettes with ``top``; an
    expectation with several acceptable conditions is labelled by the one ranked first when
    it is among them, so that the diagonal counts the hits."""
    table: dict[str, Counter[str]] = {}
    for result in results:
        top = expects.get(result.path, {}).get("top")
        if result.error is not None or not top:
            continue
        expected = result.leading if result.leading in top else top[0]
        table.setdefault(expected, Counter())[result.leading] += 1
    return {row: dict(sorted(cells.items())) for row, cells in sorted(table.items())}


def _perturbations(case: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    findings = case.get("findings")
    if not isinstance(findings, dict):
        return
    for name, value in findings.items():
        dropped = {k: v for k, v in findings.items() if k != name}
        yield name, "dropped", {**case, "findings": dropped}
        if isinstance(value, bool):
            yield name, "flipped", {**case, "findings": {**findings, name: not value}}


def robustness(engine: Engine, folders: Sequence[str | Path]) -> dict[str, Any]:
    """For each vignette, how often dropping or flipping one finding changes the leading
    condition, and which findings it hinges on."""
    vignettes, _ = load_vignettes(folders, engine.max_bytes)
    cases: list[dict[str, Any]] = []
    hinges: Counter[str] = Counter()
    total = changed = single = 0
    for vignette in vignettes:
        try:
            base = _leading(_evaluate(engine, vignette.case))
        except KneerulesError:
            continue
        tried = 0
        changes: list[dict[str, str]] = []
        for finding, how, case in _perturbations(vignette.case):
            try:
                leading = _leading(_evaluate(engine, case))
            except KneerulesError:
                continue
            tried += 1
            if leading != base:
                changes.append({"finding": finding, "change": how, "leading": leading})
                hinges[finding] += 1
        total += tried
        changed += len(changes)
        single += any(c["change"] == "dropped" for c in changes)
        cases.append({
            "name": vignette.name,
            "path": vignette.path,
            "leading": base,
            "perturbations": tried,
            "changed": len(changes),
            "rate": round(len(changes) / tried, 4) if tried else None,
            "hinges_on": sorted({c["finding"] for c in changes}),
            "changes": changes,
        })
    return {
        "perturbations": total,
        "changed": changed,
        "rate": round(changed / total, 4) if total else None,
        "single_finding_cases": single,
        "findings": dict(hinges.most_common()),
        "cases": cases,
    }


def _leading(assessment: Assessment) -> str:
    return assessment.differential[0].condition if assessment.differential else NOTHING


def under_triaged(report: Mapping[str, Any]) -> bool:
    return bool(report["summary"]["under_triage"])


def _percent(rate: Mapping[str, Any]) -> str:
    if not rate["n"]:
        return "n/a"
    return f"{100 * rate['ok'] / rate['n']:.0f}% ({rate['ok']}/{rate['n']})"


def _not_top(rate: Mapping[str, Any]) -> str:
    """The ``not_top`` expectations in words a clinician reads at once: how many times a
    condition came first where the vignette says it must not."""
    if not rate["n"]:
        return "no vignette names a condition that must not be ranked first"
    wrong = rate["n"] - rate["ok"]
    return (f"a condition ranked first where the vignette says it must not be: {wrong} of "
            f"{rate['n']} vignettes")


def render_report(report: Mapping[str, Any]) -> str:
    """The report for a person: misses first, then the summary and the confusion table."""
    lines = [f"Validation of {', '.join(report['folders'])}", ""]
    missed = [c for c in report["cases"] if c["misses"] or c["error"]]
    lines.append(f"Cases with misses ({len(missed)}):" if missed else "Every case passed.")
    for case in missed:
        if case["error"]:
            lines.append(f"  {case['name']}: ERROR {case['error']}")
        for miss in case["misses"]:
            lines.append(f"  {case['name']}: {miss}")
    s = report["summary"]
    lines += [
        "",
        "Summary:",
        f"  cases {s['cases']}, passed {s['passed']}, errors {s['errors']}",
        f"  top-1 {_percent(s['top1'])}; top-3 {_percent(s['top3'])}",
        f"  {_not_top(s['not_top'])}",
        f"  triage exact {_percent(s['triage_exact'])}; under-triage {s['under_triage']}; "
        f"over-triage {s['over_triage']}; emergency sensitivity "
        f"{_percent(s['emergency_sensitivity'])}",
        f"  timeframe {_percent(s['timeframe'])}; must-not-miss {_percent(s['must_not_miss'])}",
    ]
    table = report["confusion"]
    if table:
        columns = sorted({col for row in table.values() for col in row})
        width = max(len(name) for name in [*table, "expected"]) + 2
        lines += ["", "Confusion (rows: expected first; columns: ranked first):"]
        lines.append("  " + "expected".ljust(width)
                     + "".join(f"{f'[{n}]':>5}" for n in range(1, len(columns) + 1)))
        for row, cells in table.items():
            lines.append("  " + row.ljust(width)
                         + "".join(f"{cells.get(c, 0) or '.':>5}" for c in columns))
        lines.append("  " + ", ".join(f"[{n}] {c}" for n, c in enumerate(columns, start=1)))
    if "robustness" in report:
        lines += render_robustness(report["robustness"])
    return "\n".join(lines) + "\n"


def render_robustness(rob: Mapping[str, Any]) -> list[str]:
    rate = f"{100 * rob['rate']:.0f}%" if rob["rate"] is not None else "n/a"
    lines = ["", "Robustness (each recorded finding dropped, and flipped, in turn):",
             f"  the leading condition changed in {rob['changed']} of {rob['perturbations']} "
             f"perturbations ({rate}); {rob['single_finding_cases']} cases lose their leader "
             "when a single finding is dropped"]
    if rob["findings"]:
        lines.append("  findings it most often hinges on: " + ", ".join(
            f"{name} ({n})" for name, n in list(rob["findings"].items())[:10]))
    for case in rob["cases"]:
        if case["changes"]:
            what = "; ".join(f"{c['finding']} {c['change']} -> {c['leading']}"
                             for c in case["changes"])
            lines.append(f"  {case['name']} ({case['leading']}, {case['changed']}/"
                         f"{case['perturbations']}): {what}")
    return lines
