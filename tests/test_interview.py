"""The interview's parts without a terminal: reading answers, saving the case built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kneerules import Engine
from kneerules.cli.interview import DONT_KNOW, case_dict, parse_answer, prompt_hint, save_case
from kneerules.model.records import Question


def question(engine: Engine, fact: str) -> Question:
    spec = engine.vocabulary[fact]
    return Question(fact=fact, text=spec.question, kind=spec.kind, changes="timeframe",
                    outcomes=(), unit=spec.unit,
                    choices=tuple(c for c in spec.choices if c != "unknown"))


@pytest.mark.parametrize(("fact", "typed", "expected"), [
    ("sign.fever", "y", True),
    ("sign.fever", " YES ", True),
    ("sign.fever", "n", False),
    ("sign.fever", "no", False),
    ("sign.fever", "d", DONT_KNOW),
    ("sign.fever", "", DONT_KNOW),
    ("sign.fever", "maybe", None),
    ("side", "l", "left"),
    ("side", "both", "both"),
    ("side", "x", None),
    ("onset", "s", "sudden"),
    ("patient.age", "34", 34),
    ("patient.age", "34.5", None),
    ("patient.age", "130", None),
    ("temperature_c", "38,4", 38.4),
    ("temperature_c", "38", 38),
    ("temperature_c", "20", None),
    ("calf_swelling_cm", "?", DONT_KNOW),
])
def test_answers_are_read_strictly(engine: Engine, fact: str, typed: str,
                                   expected: Any) -> None:
    """yes / no / don't know, a choice by its first letters, a number within its range."""
    got = parse_answer(typed, question(engine, fact), engine.vocabulary[fact])
    assert got is expected if expected in (DONT_KNOW, None, True, False) else got == expected


@pytest.mark.parametrize(("fact", "hint"), [
    ("sign.fever", "y = yes, n = no, d = don't know"),
    ("side", "left / right / both, or d = don't know"),
    ("patient.age", "a whole number from 0 to 120, or d = don't know"),
])
def test_the_prompt_says_what_may_be_typed(engine: Engine, fact: str, hint: str) -> None:
    """Each question tells the person the answers it takes."""
    assert prompt_hint(question(engine, fact), engine.vocabulary[fact]) == hint


def test_the_case_built_is_a_valid_case_that_round_trips(engine: Engine, tmp_path: Path) -> None:
    """The saved file is case JSON the engine reads back to the same case."""
    case = engine.parse({"case_id": "x", "patient": {"age": 30}, "side": "left",
                         "findings": {"pain.calf": True}, "measurements": {"temperature_c": 37}})
    path = tmp_path / "case.json"
    save_case(case, path)
    data = json.loads(path.read_text())
    assert data == case_dict(case)
    assert engine.parse(data) == case
    assert not list(tmp_path.glob(".case.json.*"))  # no temporary file left behind
