"""FHIR mappings are data: checked on load and by `kneerules check`, extended by plugins
through the kneerules_fhir_mappings hook."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from kneerules import Engine, hookimpl
from kneerules.cli.lint import lint
from kneerules.fhir import map_fhir
from kneerules.fhir import mappings as fhir_mappings
from kneerules.fhir.mappings import check_installed, load_mappings, parse_mapping
from kneerules.knowledge.base import core_vocabulary
from kneerules.knowledge.plugins import get_plugin_manager
from kneerules.model.errors import RuleDataError

AT = datetime(2026, 3, 1, tzinfo=UTC)
VOCABULARY = {fact.name: fact for fact in core_vocabulary()}
GOOD = {"id": "test.calf-swelling", "resource": "Condition", "system": "urn:test",
        "codes": ["T1"], "sets": "sign.calf_swelling", "read": "present",
        "because": "a test code for a swollen calf", "source": "test data"}


class SwellingMappings:
    """A plugin adding one mapping (test data, not a clinical claim)."""

    name = "swelling_mappings"

    def __init__(self, entries: Sequence[Any] = (GOOD,)) -> None:
        self.entries = entries

    @hookimpl
    def kneerules_fhir_mappings(self) -> Sequence[Any]:
        return self.entries


CONDITION = {"resourceType": "Condition", "id": "c", "code": {"coding": [
    {"system": "urn:test", "code": "T1"}]}, "clinicalStatus": {"coding": [{"code": "active"}]}}


def test_every_builtin_mapping_loads_against_the_core_vocabulary() -> None:
    """The shipped mappings.yaml is valid and every name it sets is in the vocabulary."""
    loaded = load_mappings(VOCABULARY)
    assert len(loaded) >= 15
    assert all(m.because and m.source for m in loaded)


def test_a_plugin_adds_a_mapping_through_the_hook() -> None:
    """An engine with a plugin implementing kneerules_fhir_mappings maps that plugin's codes."""
    engine = Engine(plugins=[SwellingMappings()])
    case, problems = engine.read("fhir", [CONDITION], at=AT)
    assert dict(case.findings) == {"sign.calf_swelling": True}
    assert problems == ()
    assert map_fhir([CONDITION], at=AT).case.findings == {}  # not without the plugin


def test_extra_mappings_can_be_given_to_map_fhir() -> None:
    """map_fhir(mappings=[...]) adds mapping entries to the built-in ones."""
    assert map_fhir([CONDITION], at=AT, mappings=[GOOD]).case.findings == {
        "sign.calf_swelling": True}


@pytest.mark.parametrize(("change", "message"), [
    ({"read": "presence"}, 'read: expected one of present, quantity, coded, positive, got '
                           '"presence" (did you mean "present"?)'),
    ({"resource": "Conditon"}, "resource: 'Conditon' is not a resource type mappings read"),
    ({"codes": []}, "give the codes (or code prefixes) the mapping selects"),
    ({"because": ""}, 'because: expected a non-empty string, got ""'),
    ({"window": {"days": -3}}, "window: expected {days: N} with N > 0"),
    ({"window": {"weeks": 12}}, "window: expected {days: N} with N > 0"),
    ({"read": "quantity"}, "units: a quantity mapping must list the units it accepts"),
    ({"read": "coded"}, "answers: a coded mapping must list its answers"),
    ({"units": {"Cel": "kelvin"}}, "units: expected UCUM codes mapped to one of same, "
                                   "celsius, fahrenheit"),
    ({"colour": "red"}, "unknown field 'colour'"),
])
def test_a_bad_mapping_entry_is_located_and_explained(change: dict[str, Any],
                                                      message: str) -> None:
    """Each mistake in a mapping entry gives a problem that names the entry and the field."""
    mapping, problems = parse_mapping({**GOOD, **change}, 'mapping "test.calf-swelling"', "t")
    assert mapping is None
    assert any(message in p.message for p in problems), problems
    assert {p.path for p in problems} == {'mapping "test.calf-swelling"'}


@pytest.mark.parametrize(("change", "message"), [
    ({"sets": "sign.calf_swelin"}, "sets: 'sign.calf_swelin' is not in the installed "
                                   'vocabulary (did you mean "sign.calf_swelling"?)'),
    ({"sets": "bmi"}, "sets: 'bmi' is a measurement; read: present sets a finding"),
    ({"id": "fhir.condition.dvt"}, "duplicate id, also in kneerules"),
])
def test_check_reports_a_plugins_bad_mapping(change: dict[str, Any], message: str) -> None:
    """`kneerules check`'s FHIR check names the plugin and what is wrong with its mapping."""
    pm = get_plugin_manager(entry_points=False, extra=[SwellingMappings([{**GOOD, **change}])])
    found = check_installed(VOCABULARY, pm)
    assert [(source, p.message) for source, p in found] == [("swelling_mappings", message)]


def test_a_plugins_bad_mapping_stops_the_engine_reading_fhir() -> None:
    """An engine does not map with a mapping it cannot trust: it says which and why."""
    engine = Engine(plugins=[SwellingMappings([{**GOOD, "sets": "nope"}])])
    with pytest.raises(RuleDataError, match="'nope' is not in the installed vocabulary"):
        engine.read("fhir", [CONDITION], at=AT)


def test_kneerules_check_lints_the_shipped_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    """`kneerules check` reads the FHIR mappings: a broken entry in them is reported."""
    original = fhir_mappings.builtin_mapping_data()
    assert lint().problems == ()
    broken = {**original, "mappings": [*original["mappings"], {**GOOD, "read": "presence"}]}
    monkeypatch.setattr(fhir_mappings, "builtin_mapping_data", lambda: broken)
    [problem] = lint().problems
    assert problem.source == "kneerules/fhir/mappings.yaml"
    assert problem.where == 'mapping "test.calf-swelling"'
    assert problem.message.startswith("read: expected one of present")
