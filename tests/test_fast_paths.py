"""The performance shortcuts give exactly what the general code gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kneerules._durable.runner import dump_fact, dump_fact_general
from kneerules.case_validation import quick_case
from kneerules.converter import structure
from kneerules.model import Case

VALUES = st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                   st.text(max_size=5), st.none(), st.lists(st.booleans(), max_size=2))
SCALARS = st.one_of(st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))
CASES = st.fixed_dictionaries({}, optional={
    "format": st.one_of(st.just("kneerules.case/1"), VALUES),
    "case_id": st.one_of(st.text(max_size=5), VALUES),
    "patient": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "age": st.one_of(st.integers(-5, 130), VALUES),
        "sex": st.one_of(st.sampled_from(["female", "male", "other", "unknown", "x"]), VALUES),
    }), VALUES),
    "onset": st.one_of(st.sampled_from(["sudden", "gradual", "slow"]), VALUES),
    "side": st.one_of(st.sampled_from(["left", "right", "both"]), VALUES),
    "findings": st.one_of(st.dictionaries(st.sampled_from(["pain.calf", "sign.fever", "x"]),
                                          st.one_of(st.booleans(), VALUES)), VALUES),
    "measurements": st.one_of(st.dictionaries(st.sampled_from(["calf_swelling_cm", "y"]),
                                              st.one_of(st.floats(), st.integers(), VALUES)),
                              VALUES),
})


@settings(max_examples=400, deadline=None)
@given(CASES)
def test_quick_case_builds_what_cattrs_builds(data: dict[str, Any]) -> None:
    """Where the fast case parser answers, cattrs builds an equal Case with equal types."""
    quick = quick_case(data)
    if quick is None:
        return
    slow, problems = structure(data, Case)
    assert problems == []
    assert quick == slow
    assert [type(v) for v in quick.measurements.values()] == [
        type(v) for v in slow.measurements.values()]  # type: ignore[union-attr]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), SCALARS, max_size=8))
def test_dump_fact_writes_every_number_in_plain_decimals(fact: dict[str, Any]) -> None:
    """The one-call encoder writes facts exactly as the per-value writer does (no 1e-06)."""
    assert dump_fact(fact) == dump_fact_general(fact)
