"""What one output row says about one case: the figures an audit counts, not the whole
assessment (the trace and advice stay with ``kneerules eval``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kneerules.model.errors import CaseError, KneerulesError
from kneerules.model.records import Assessment, EngineInfo

# Policy v2's timeframes, most pressing first (docs/triage-policy.md).
TIMEFRAMES = ("now", "today", "within_48_hours", "within_2_weeks", "routine")
# Until an engine reports triage.timeframe (policy v2), the level's own meaning under
# policy v1: emergency is "now", urgent "within a day or two", routine is routine.
TIMEFRAME_OF_LEVEL = {"emergency": "now", "urgent": "within_48_hours", "routine": "routine"}
# Reporting bands, not clinical thresholds: they only group the population for people.
AGE_BANDS = ((0, 17, "0-17"), (18, 39, "18-39"), (40, 59, "40-59"), (60, 79, "60-79"),
             (80, 10_000, "80+"))
UNKNOWN_AGE = "unknown"
ASSESSED = "assessed"
ERROR = "error"

# Every row, assessed or error, has these columns (the Parquet schema in output.py).
COLUMNS = ("input", "position", "case_id", "status", "age_band", "level", "timeframe",
           "red_flags", "leading_condition", "must_not_miss", "problems",
           "engine_version", "ruleset", "ruleset_version", "plugins")
CHANGE_COLUMNS = ("input", "position", "case_id", "age_band", "status", "other_status",
                  "timeframe", "other_timeframe", "leading_condition",
                  "other_leading_condition", "ruleset_version", "other_ruleset_version")


def age_band(age: object) -> str:
    if not isinstance(age, int) or isinstance(age, bool):
        return UNKNOWN_AGE
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    return UNKNOWN_AGE


def timeframe(assessment: Assessment) -> str:
    """``triage.timeframe`` when the engine gives one (policy v2), else the level's."""
    given = getattr(assessment.triage, "timeframe", None)
    if isinstance(given, str):
        return given
    return TIMEFRAME_OF_LEVEL[assessment.triage.level]


def must_not_miss(assessment: Assessment) -> list[str]:
    """Conditions the differential marks must-not-miss (policy v2); before v2, the ones a
    red flag names, which is what v2 marks."""
    marked = [entry.condition for entry in assessment.differential
              if getattr(entry, "must_not_miss", False)]
    if marked:
        return marked
    named = [flag.condition for flag in assessment.red_flags if flag.condition]
    return list(dict.fromkeys(named))


def engine_columns(info: EngineInfo) -> dict[str, Any]:
    return {
        "engine_version": info.version,
        "ruleset": info.ruleset,
        "ruleset_version": info.ruleset_version,
        "plugins": " ".join(f"{p.name}=={p.version}" for p in info.plugins),
    }


def assessed_row(where: tuple[str, int], assessment: Assessment, age: object,
                 info: Mapping[str, Any]) -> dict[str, Any]:
    leading = assessment.differential[0].condition if assessment.differential else None
    return {
        "input": where[0], "position": where[1], "case_id": assessment.case_id,
        "status": ASSESSED, "age_band": age_band(age), "level": assessment.triage.level,
        "timeframe": timeframe(assessment),
        "red_flags": [flag.id for flag in assessment.red_flags],
        "leading_condition": leading, "must_not_miss": must_not_miss(assessment),
        "problems": [], **info,
    }


def error_row(where: tuple[str, int], case_id: str | None, error: KneerulesError,
              info: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a case that could not be assessed: every problem with its JSON path."""
    if isinstance(error, CaseError):
        problems = [str(problem) for problem in error.problems]
    else:  # a plugin that failed on this case: the rest of the population goes on
        problems = [f"$: {error}"]
    return {
        "input": where[0], "position": where[1], "case_id": case_id, "status": ERROR,
        "age_band": UNKNOWN_AGE, "level": None, "timeframe": None, "red_flags": [],
        "leading_condition": None, "must_not_miss": [], "problems": problems, **info,
    }


def change_row(row: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any] | None:
    """The change between two rule sets' rows for one case, or None if neither its
    timeframe nor its leading condition (nor whether it could be assessed) differs."""
    keys = ("status", "timeframe", "leading_condition")
    if all(row[key] == other[key] for key in keys):
        return None
    return {
        "input": row["input"], "position": row["position"], "case_id": row["case_id"],
        "age_band": row["age_band"] if row["status"] == ASSESSED else other["age_band"],
        "status": row["status"], "other_status": other["status"],
        "timeframe": row["timeframe"], "other_timeframe": other["timeframe"],
        "leading_condition": row["leading_condition"],
        "other_leading_condition": other["leading_condition"],
        "ruleset_version": f"{row['ruleset']} {row['ruleset_version']}",
        "other_ruleset_version": f"{other['ruleset']} {other['ruleset_version']}",
    }


def problems_text(problems: Sequence[str]) -> str:
    return "; ".join(problems)
