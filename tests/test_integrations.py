"""Integration plugins: the hooks through which FHIR, the service, audits and any third
party add hookspecs, readers, checks and commands, without the core naming them."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy
import pytest
from click.testing import CliRunner

from kneerules import Engine, hookimpl, hookspecs
from kneerules.cli.main import main
from kneerules.knowledge import plugins
from kneerules.knowledge.plugins import Integrations, get_plugin_manager
from kneerules.knowledge.readers import ReaderError, installed_readers
from kneerules.model.errors import Problem
from kneerules.model.rules import FactSpec

_DEMO_SPECS = types.ModuleType("demo_integration_hookspecs")


@pluggy.HookspecMarker(hookspecs.PROJECT)
def kneerules_demo_codes() -> list[str]:
    """A hook the demonstration integration adds."""
    raise NotImplementedError


_DEMO_SPECS.kneerules_demo_codes = kneerules_demo_codes  # type: ignore[attr-defined]


class _DemoIntegration:
    """An integration offering a hookspec, a reader, a check and nothing else."""

    @hookimpl
    def kneerules_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(_DEMO_SPECS)

    @hookimpl
    def kneerules_readers(self) -> Mapping[str, Callable[..., Any]]:
        def read_pipes(engine: Engine, data: str) -> dict[str, Any]:
            return {"findings": {name: True for name in data.split("|")}}

        def read_missing(engine: Engine, data: str) -> dict[str, Any]:
            raise ImportError("No module named 'pipes_library'")

        return {"pipes": read_pipes, "missing": read_missing}

    @hookimpl
    def kneerules_checks(self, facts: Mapping[str, FactSpec], plugin_manager: pluggy.PluginManager
                         ) -> Iterable[tuple[str, Problem]]:
        assert "pain.behind_knee" in facts
        return [("demo-integration.yaml", Problem("$.codes", "a demonstration problem"))]


class _ConditionWithDemoCodes:
    """A condition plugin implementing the integration's hook."""

    name = "demo_codes"

    @hookimpl
    def kneerules_demo_codes(self) -> list[str]:
        return ["X1"]


@pytest.fixture
def demo_integration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed integrations are the demonstration one alone, plus one broken."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_DemoIntegration(), name="demo")
    loaded = Integrations(pm, ("broken: failed to load (broken.plugin, installed by broken): "
                               "ImportError('no extra')",))
    monkeypatch.setattr(plugins, "integrations", lambda: loaded)


def test_an_integrations_reader_turns_its_format_into_a_case(demo_integration: None) -> None:
    """kneerules_readers: Engine.read finds the reader by name and validates its case."""
    case, problems = Engine().read("pipes", "pain.behind_knee|sign.calf_swelling")
    assert case.findings == {"pain.behind_knee": True, "sign.calf_swelling": True}
    assert problems == ()


def test_a_reader_missing_its_extra_names_the_extra(demo_integration: None) -> None:
    """A reader's ImportError becomes a ReaderError saying which extra to install."""
    with pytest.raises(ReaderError, match=r"pip install '\.\[missing\]' in a clone"):
        Engine().read("missing", "x")
    with pytest.raises(ReaderError, match="installed: missing, pipes"):
        Engine().read("hl7v2", "x")


def test_an_integrations_check_and_a_broken_integration_are_reported(
        demo_integration: None) -> None:
    """kneerules_checks' problems, and an integration that failed to load, are in check."""
    result = CliRunner().invoke(main, ["check"])
    assert "a demonstration problem" in result.output
    assert "not loaded: broken" in result.output
    assert result.exit_code == 1


def test_an_integration_adds_hookspecs_that_condition_plugins_implement(
        demo_integration: None) -> None:
    """kneerules_addhooks: a condition plugin may implement the integration's hook."""
    pm = get_plugin_manager(entry_points=False, extra=[_ConditionWithDemoCodes()])
    assert pm.hook.kneerules_demo_codes() == [["X1"]]


def test_without_the_integration_its_hook_is_an_unknown_hook(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With no integration adding the hookspec, the plugin's hook is refused as unknown."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    monkeypatch.setattr(plugins, "integrations", lambda: Integrations(pm, ()))
    with pytest.raises(pluggy.PluginValidationError, match="kneerules_demo_codes"):
        get_plugin_manager(entry_points=False, extra=[_ConditionWithDemoCodes()])


def test_the_shipped_integrations_are_found_through_their_entry_points() -> None:
    """FHIR, the service and audits are installed integration plugins, all loaded."""
    loaded = plugins.integrations()
    assert loaded.broken == ()
    assert {"fhir", "service", "population"} <= {
        name for name, _ in loaded.manager.list_name_plugin()}
    assert "fhir" in installed_readers()
