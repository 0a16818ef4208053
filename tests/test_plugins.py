"""Plugins: discovery, listing, switching off, rule sets."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kneerules import Engine, hookimpl
from kneerules.cli.main import main
from kneerules.knowledge.plugins import BUILTIN_PLUGINS, builtin_plugin_names, get_plugin_manager
from kneerules.knowledge.policy import POLICY_FLOOR
from kneerules.model.errors import PluginError, RulesetError

BUILTINS = sorted([
    "bakers_cyst", "calf_tear", "dvt", "general", "hamstring_injury", "hyperextended_knee",
    "knee_arthritis", "ligament_sprain", "meniscus_tear",
    # the serious conditions of triage policy v2 and v3, one plugin each
    "pulmonary_embolism", "joint_infection", "limb_ischaemia", "knee_dislocation",
    "compartment_syndrome", "knee_fracture", "extensor_mechanism_rupture", "hamstring_avulsion",
    "popliteal_aneurysm", "tumour", "cellulitis"])


def test_every_builtin_plugin_is_loaded_with_its_version() -> None:
    """The default engine names the rule set and each built-in plugin with its version."""
    engine = Engine(plugin_manager=get_plugin_manager(entry_points=False))
    names = [p.name for p in engine.info.plugins]
    assert sorted(names) == BUILTINS
    assert engine.info.ruleset == "posterior-knee"
    assert all(p.version == "0.1.0" for p in engine.info.plugins)


def test_plugins_command_lists_versions_and_hooks() -> None:
    """`kneerules plugins` shows each plugin, its version, its role and the hooks it implements."""
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "dvt 0.1.0 (safety)  [builtin]" in result.output
    assert "general 0.1.0 (essential)" in result.output
    assert "kneerules_rules" in result.output
    for name in builtin_plugin_names():
        assert f"\n{name} " in "\n" + result.output


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_plugin_can_be_switched_off_by_name(how: str, tmp_path: Path) -> None:
    """--disable or KNEERULES_DISABLE removes a condition plugin from the assessment."""
    case = tmp_path / "case.json"
    case.write_text('{"findings": {"pain.behind_knee": true, "sign.swelling_behind_knee": true}}')
    args = ["eval", str(case), "--format", "json"]
    env = {}
    if how == "option":
        args += ["--disable", "bakers_cyst"]
    else:
        env["KNEERULES_DISABLE"] = "bakers_cyst, hamstring_injury"
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert '"bakers_cyst"' not in result.output
    assert '"name": "dvt"' in result.output


def test_essential_plugin_refuses_to_be_switched_off() -> None:
    """The plugin holding the triage policy floor cannot be switched off either."""
    with pytest.raises(PluginError, match="essential"):
        Engine(disable=["general"])


def test_misspelt_hook_fails_loudly() -> None:
    """A plugin implementing a hook that does not exist is refused when it registers."""
    from kneerules import hookimpl

    class Misspelt:
        name = "misspelt"

        @hookimpl
        def kneerules_rule(self) -> list[object]:
            return []

    from pluggy import PluginValidationError

    with pytest.raises(PluginValidationError, match="kneerules_rule"):
        get_plugin_manager(entry_points=False, extra=[Misspelt()])


FLOOR_ONLY = ("name: floor-only\nversion: '0.9'\ndescription: the triage policy floor only\n"
              "safety: dvt\nplugins: [" + ", ".join(POLICY_FLOOR) + "]\n"
              "external_plugins: false\n")


def test_ruleset_by_path_selects_plugins(tmp_path: Path) -> None:
    """A rule-set file chooses the plugins; the engine block names it and its version."""
    ruleset = tmp_path / "floor-only.yaml"
    ruleset.write_text(FLOOR_ONLY)
    engine = Engine(ruleset)
    assert [p.name for p in engine.info.plugins] == list(POLICY_FLOOR)
    assessment = engine.evaluate({"findings": {"pain.behind_knee": True}})
    assert assessment.engine.ruleset == "floor-only"
    assert assessment.engine.ruleset_version == "0.9"


@pytest.mark.parametrize("plugins", [["dvt"], ["general", "dvt"],
                                     [p for p in POLICY_FLOOR if p != "tumour"]])
def test_a_ruleset_that_leaves_out_the_policy_floor_is_refused(tmp_path: Path,
                                                                plugins: list[str]) -> None:
    """A rule set listing only dvt (or any part of the floor) is refused, naming what is missing."""
    ruleset = tmp_path / "partial.yaml"
    ruleset.write_text("name: partial\nversion: '1'\ndescription: x\nsafety: dvt\n"
                       f"plugins: [{', '.join(plugins)}]\n")
    with pytest.raises(RulesetError, match="leaves out the triage policy floor") as caught:
        Engine(ruleset)
    missing = [p for p in POLICY_FLOOR if p not in plugins]
    assert all(name in str(caught.value) for name in missing)


@pytest.mark.parametrize("name", [p for p in POLICY_FLOOR if p != "dvt"])
def test_no_plugin_of_the_floor_can_be_switched_off(name: str) -> None:
    """Every plugin holding part of policy v2 refuses --disable, whatever the rule set says."""
    with pytest.raises(PluginError, match="essential"):
        Engine(disable=[name])


def test_a_ruleset_without_its_safety_plugin_is_refused(tmp_path: Path) -> None:
    """A rule set must include the safety plugin it names."""
    from kneerules.model.errors import RuleDataError

    ruleset = tmp_path / "bad.yaml"
    ruleset.write_text("name: bad\nversion: '1'\ndescription: x\nsafety: dvt\nplugins: [general]\n")
    with pytest.raises(RuleDataError, match="safety"):
        Engine(ruleset)


def test_unknown_ruleset_names_the_available_ones() -> None:
    """An unknown rule-set name is an error listing the shipped rule sets."""
    with pytest.raises(RulesetError, match="posterior-knee"):
        Engine("posterior-knees")


def _general_without(tmp_path: Path, rule_or_advice: str) -> object:
    """The general plugin's data with one rule or advice item cut out."""
    from kneerules.knowledge.dataplugin import DataPlugin

    source = BUILTIN_PLUGINS / "general.yaml"
    text = source.read_text(encoding="utf-8")
    start = text.index(f"  - id: {rule_or_advice}\n")
    end = text.find("\n  - id: ", start + 1)
    edited = tmp_path / "general.yaml"
    edited.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    return DataPlugin("general", edited)


@pytest.mark.parametrize(("cut", "message"), [
    ("general.locked_knee", "policy floor is incomplete"),
    ("general.safety_net", "no safety-netting advice"),
    ("general.anti_inflammatory_cautions", "cautions advice is missing"),
])
def test_an_engine_missing_part_of_the_floor_is_refused(tmp_path: Path, cut: str,
                                                        message: str) -> None:
    """A floor plugin replaced by one that lost a policy rule, the safety net or the
    cautions gives no engine at all."""
    from kneerules.model.errors import SafetyError

    pm = get_plugin_manager(entry_points=False)
    pm.unregister(name="general")
    pm.register(_general_without(tmp_path, cut), name="general")
    with pytest.raises(SafetyError, match=message):
        Engine(plugin_manager=pm)


@pytest.mark.parametrize("method", ["kneerules_rule", "knerules_rules"])
def test_a_marked_misspelt_hook_fails_loudly(method: str) -> None:
    """A marked method that names no hook is refused when the plugin manager is built,
    whatever its name (a misspelt prefix too)."""
    from pluggy import PluginValidationError

    misspelt = type("Misspelt", (), {method: hookimpl(lambda self: []), "name": "misspelt"})
    with pytest.raises(PluginValidationError, match=method):
        get_plugin_manager(entry_points=False, extra=[misspelt()])
