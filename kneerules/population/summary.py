"""Counting an audit's rows: each worker counts its partitions, the client adds them up
and writes ``summary.json``, from which the report is drawn (same figures, one source)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kneerules.population.rows import AGE_BANDS, ASSESSED, TIMEFRAMES, UNKNOWN_AGE

if TYPE_CHECKING:
    from kneerules.knowledge.base import KnowledgeBase

SUMMARY_FORMAT = "kneerules.audit-summary/2"
ERROR_EXAMPLES = 20  # bad cases listed by the summary; all are rows of the output
NONE = "(none)"  # a case with no leading condition (nothing in the differential)
BAND_ORDER = (*(label for _, _, label in AGE_BANDS), UNKNOWN_AGE)


class Tally:
    """Counts over rows of one rule set; tallies add up (order does not matter)."""

    def __init__(self) -> None:
        self.cases = 0
        self.errors = 0
        self.level: Counter[str] = Counter()
        self.timeframe: Counter[str] = Counter()
        self.red_flags: Counter[str] = Counter()
        self.must_not_miss: Counter[str] = Counter()
        self.level_rules: Counter[str] = Counter()
        self.leading: Counter[tuple[str, str]] = Counter()  # (age band, condition)
        self.engines: Counter[tuple[str, str, str, str]] = Counter()
        self.examples: list[dict[str, Any]] = []

    def add(self, row: Mapping[str, Any]) -> None:
        self.cases += 1
        self.engines[(row["engine_version"], row["ruleset"], row["ruleset_version"],
                      row["plugins"])] += 1
        if row["status"] != ASSESSED:
            self.errors += 1
            if len(self.examples) < ERROR_EXAMPLES:
                self.examples.append({k: row[k] for k in ("input", "position", "case_id",
                                                          "problems")})
            return
        self.level[row["level"]] += 1
        self.timeframe[row["timeframe"]] += 1
        self.red_flags.update(set(row["red_flags"]))
        self.must_not_miss.update(set(row["must_not_miss"]))
        self.level_rules.update(set(row["level_rules"]))
        self.leading[(row["age_band"], row["leading_condition"] or NONE)] += 1

    def merge(self, other: Tally) -> None:
        self.cases += other.cases
        self.errors += other.errors
        for name in ("level", "timeframe", "red_flags", "must_not_miss", "level_rules", "leading",
                     "engines"):
            getattr(self, name).update(getattr(other, name))
        room = ERROR_EXAMPLES - len(self.examples)
        self.examples.extend(other.examples[:max(room, 0)])

    def to_json(self) -> dict[str, Any]:
        by_band: dict[str, dict[str, int]] = {}
        for band in BAND_ORDER:
            counts = {cond: n for (b, cond), n in self.leading.items() if b == band}
            if counts:
                by_band[band] = _ranked(counts)
        return {
            "cases": self.cases,
            "assessed": self.cases - self.errors,
            "errors": self.errors,
            "level": {lv: self.level[lv] for lv in ("emergency", "urgent", "routine")},
            "timeframe": {tf: self.timeframe[tf] for tf in
                          (*TIMEFRAMES, *sorted(set(self.timeframe) - set(TIMEFRAMES)))},
            "red_flags": _ranked(self.red_flags),
            "must_not_miss": _ranked(self.must_not_miss),
            "level_rules": _ranked(self.level_rules),
            "leading_condition_by_age_band": by_band,
            "error_examples": self.examples,
            "engines": [
                {"version": v, "ruleset": r, "ruleset_version": rv,
                 "plugins": p.split(), "cases": n}
                for (v, r, rv, p), n in sorted(self.engines.items())
            ],
        }


class PartResult:
    """What one partition sends back to the client: its tallies, and its changes count."""

    def __init__(self, index: int, base: Tally, other: Tally | None,
                 changes: Counter[tuple[str, str]]) -> None:
        self.index = index
        self.base = base
        self.other = other
        self.changes = changes  # (timeframe before -> after) transitions, changed cases


def _ranked(counts: Mapping[str, int]) -> dict[str, int]:
    """Largest first, then by name: the same counts always print in the same order."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def summarise(parts: list[PartResult], inputs: list[str], compare: bool,
              workers: Mapping[str, Any]) -> dict[str, Any]:
    base, other = Tally(), Tally()
    transitions: Counter[tuple[str, str]] = Counter()
    for part in sorted(parts, key=lambda p: p.index):
        base.merge(part.base)
        if part.other is not None:
            other.merge(part.other)
        transitions.update(part.changes)
    summary: dict[str, Any] = {"format": SUMMARY_FORMAT, "inputs": inputs,
                               "partitions": len(parts), **base.to_json(), "workers": workers}
    if compare:
        theirs = other.to_json()
        del theirs["error_examples"]  # the same cases: the errors rows are in the output
        summary["compare"] = {
            **theirs,
            "changed": sum(transitions.values()),
            "timeframe_changes": [
                {"from": a, "to": b, "cases": n}
                for (a, b), n in sorted(transitions.items(), key=lambda i: (-i[1], i[0]))
            ],
        }
    return summary


def names(summary: Mapping[str, Any], knowledge: Sequence[KnowledgeBase]) -> dict[str, Any]:
    """What people read beside each id the summary counts, from the loaded rule sets (the
    first that knows an id names it): conditions by name, red flags by the condition they
    name (else their message), rules by their ``because``, with the timeframe they set."""
    figures = [summary, summary.get("compare") or {}]
    conditions: dict[str, str] = {}
    flags: dict[str, str] = {}
    rules: dict[str, dict[str, str]] = {}
    for kb in reversed(knowledge):  # the first rule set's words win
        conditions.update({c.id: c.name for c in kb.conditions.values()})
        # A condition several flags name: each flag says which (its id's last part).
        flag_ids: dict[str, set[str]] = {}
        for rule in kb.rules:
            flag = rule.then.red_flag
            if flag is not None and flag.condition:
                flag_ids.setdefault(flag.condition, set()).add(flag.id)
        for rule in kb.rules:
            flag = rule.then.red_flag
            if flag is not None:
                named = kb.conditions.get(flag.condition) if flag.condition else None
                if named is None or flag.condition is None:
                    flags[flag.id] = flag.message
                elif len(flag_ids[flag.condition]) > 1:
                    which = flag.id.rsplit(".", 1)[-1].replace("_", " ")
                    flags[flag.id] = (named.name if which.lower() in named.name.lower()
                                      else f"{named.name} ({which})")
                else:
                    flags[flag.id] = named.name
            if rule.then.triage is not None:
                rules[rule.id] = {"because": rule.because,
                                  "timeframe": str(rule.then.triage.timeframe)}
    seen_conditions = {c for f in figures for c in f.get("must_not_miss", {})}
    seen_conditions |= {c for f in figures for band in f.get("leading_condition_by_age_band",
                                                             {}).values() for c in band}
    seen_flags = {r for f in figures for r in f.get("red_flags", {})}
    seen_rules = {r for f in figures for r in f.get("level_rules", {})}
    return {
        "conditions": {c: conditions[c] for c in sorted(seen_conditions) if c in conditions},
        "red_flags": {r: flags[r] for r in sorted(seen_flags) if r in flags},
        "rules": {r: rules[r] for r in sorted(seen_rules) if r in rules},
    }
