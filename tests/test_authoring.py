"""The authoring guide, `eval --why-not` and the kneerules.testing pytest plugin."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from kneerules import hookspecs
from kneerules.cli.main import main
from kneerules.knowledge.dataplugin import parse_plugin_data
from kneerules.knowledge.loading import read_yaml
from kneerules.model.rules import Conclusions, FactTest, Rule
from kneerules.testing import (
    assert_advice,
    assert_does_not_fire,
    assert_fires,
    assert_likelihood,
    assert_not_in_differential,
    assert_ranks,
    assert_red_flag,
    assert_trace,
    assert_triage,
    case,
    data_plugin,
    fired_rules,
    load_case,
    trace_step,
    why_not,
)

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
EXAMPLE_DATA = (ROOT / "examples" / "popliteus_tendinopathy_plugin" / "src" /
                "kneerules_popliteus_tendinopathy" / "popliteus_tendinopathy.yaml")
DVT_CASE = ROOT / "examples" / "dvt-same-day.json"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.DOTALL)


HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
         if name.startswith("kneerules_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_guide_documents_every_hook(hook: str) -> None:
    """Each hook has a section in docs/plugins.md headed by its signature."""
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"### `{hook}({params})`" in GUIDE
    section = GUIDE.split(f"### `{hook}({params})`")[1].split("###")[0]
    assert "Returns" in section
    assert "Called" in section


def test_guide_documents_every_operator_and_field() -> None:
    """Every condition operator, rule field, conclusion and data section is in the guide."""
    operators = [f"is: {v}" for v in ("true", "false", "unknown", "known")]
    operators += [f"{f.name.rstrip('_')}:" for f in attrs.fields(FactTest) if f.name != "is_"]
    operators += ["{all:", "{any:", "{none:"]
    fields = [f"`{f.name}`" for f in attrs.fields(Rule) if f.name != "plugin"]
    fields += [f"`{f.name}" for f in attrs.fields(Conclusions)]
    sections = [f"### `{s}`" for s in ("conditions", "facts", "rules", "advice",
                                       "considerations", "scores")]
    missing = [w for w in operators + fields + sections if w not in GUIDE]
    assert not missing


def test_guide_worked_example_is_the_shipped_plugin() -> None:
    """The worked example's rule data in the guide is the example plugin's file, verbatim."""
    assert EXAMPLE_DATA.read_text(encoding="utf-8") in code_blocks("yaml")


def test_guide_yaml_is_valid_rule_data() -> None:
    """Every YAML block of the guide parses as plugin rule data."""
    blocks = code_blocks("yaml")
    assert blocks
    for block in blocks:
        parse_plugin_data(read_yaml(block, "guide"), "guide", "guide")


def test_guide_python_plugin_example_works(make_engine: Callable[..., Any]) -> None:
    """The guide's Python plugin computes its fact for every case, as the guide says."""
    block = next(b for b in code_blocks("python") if "kneerules_case_facts" in b)
    namespace: dict[str, Any] = {}
    exec(block, namespace)
    engine = make_engine(plugins=[namespace["plugin"]])
    facts, _ = engine.case_facts(engine.parse(case({}, patient={"age": 60})))
    assert facts["age_band.over_55"] is True
    facts, _ = engine.case_facts(engine.parse(case({})))
    assert "age_band.over_55" not in facts


def test_hooks_called_as_the_guide_says(make_engine: Callable[..., Any]) -> None:
    """Contribution hooks are called once per engine; kneerules_case_facts once per case."""
    from kneerules import hookimpl

    calls: dict[str, int] = {"rules": 0, "case_facts": 0}

    class Counting:
        name = "counting"

        @hookimpl
        def kneerules_rules(self) -> list[Rule]:
            calls["rules"] += 1
            return []

        @hookimpl
        def kneerules_case_facts(self, case: Any, facts: Mapping[str, Any]) -> dict[str, Any]:
            calls["case_facts"] += 1
            return {}

    engine = make_engine(plugins=[Counting()])
    engine.evaluate(case({"pain.behind_knee": True}))
    engine.evaluate(case({"pain.calf": True}))
    assert calls == {"rules": 1, "case_facts": 2}


def run_eval(*args: str) -> Any:
    return CliRunner().invoke(main, ["eval", str(DVT_CASE), *args])


def test_why_not_names_plugin_failure_and_missing_conclusion() -> None:
    """--why-not names the plugin, the first failing condition and the missing conclusion."""
    result = run_eval("--why-not", "general.locked_knee")
    assert result.exit_code == 0, result.output
    text = result.stdout.split("Why (not):\n")[1]
    assert text.splitlines()[:4] == [
        "  general.locked_knee  [plugin general, priority 210]: did not fire",
        "      first failing condition: sign.locking: sign.locking not recorded",
        "      waits on general.after_injury, which no rule derived for this case",
        "      (derived by general.after_injury: see why they did not fire)",
    ]
    assert "Trace (rules in the order they fired):" in result.stdout  # implies --explain


def test_why_not_says_when_a_rule_fired() -> None:
    """A named rule that fired is reported with its step in the trace."""
    result = run_eval("--why-not", "dvt.self_test_negative")
    step = re.search(r"(\d+)\. dvt\.self_test_negative ", result.stdout)
    assert step is not None
    assert (f"  dvt.self_test_negative  [plugin dvt, priority 50]: fired (step {step[1]})"
            in result.stdout)


def test_why_not_plugin_name_lists_all_its_rules() -> None:
    """A plugin's name stands for every rule of that plugin."""
    result = run_eval("--why-not", "bakers_cyst")
    assert "bakers_cyst.swelling_behind_knee  [plugin bakers_cyst, priority 300]: did not " \
        "fire" in result.stdout
    assert "bakers_cyst.worse_bending  [plugin bakers_cyst, priority 320]: did not fire" \
        in result.stdout


def test_why_not_unknown_rule_is_a_usage_error() -> None:
    """A misspelt rule id exits 2 and suggests the closest rule ids."""
    result = run_eval("--why-not", "general.lockd_knee")
    assert result.exit_code == 2
    assert "no rule or plugin named 'general.lockd_knee'" in result.output
    assert '"general.locked_knee"' in result.output


def test_why_not_with_json_is_a_usage_error() -> None:
    """--why-not with --format json is refused (exit 2) rather than silently ignored."""
    result = run_eval("--why-not", "general.locked_knee", "--format", "json")
    assert result.exit_code == 2
    assert "--format text" in result.output


def test_testing_is_registered_as_pytest_plugin(request: pytest.FixtureRequest) -> None:
    """kneerules.testing is the pytest11 entry point, so its fixtures need no import."""
    registered = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert registered["kneerules"] == "kneerules.testing"
    assert request.config.pluginmanager.hasplugin("kneerules")
    assert request.getfixturevalue("kneerules_plugins") == ()


class TestChosenPlugins:
    """Overriding kneerules_plugins in a class chooses the plugins of kneerules_engine."""

    @pytest.fixture
    def kneerules_plugins(self) -> list[object]:
        """The example plugin's rule data beside the built-in plugins."""
        return [data_plugin(EXAMPLE_DATA)]

    @pytest.fixture
    def kneerules_disable(self) -> list[str]:
        """Without bakers_cyst."""
        return ["bakers_cyst"]

    def test_engine_has_chosen_plugins(self, kneerules_engine: Any) -> None:
        """The engine has the added plugin and lacks the disabled one."""
        names = [p.name for p in kneerules_engine.knowledge.plugins]
        assert "popliteus_tendinopathy" in names
        assert "bakers_cyst" not in names

    def test_engine_is_shared(self, kneerules_engine: Any, request: pytest.FixtureRequest
                              ) -> None:
        """Tests asking for the same plugins share one engine (it compiles every rule)."""
        cache = request.getfixturevalue("_kneerules_engines")
        assert kneerules_engine in cache.values()


def test_assert_helpers_pass_and_fail_with_what_happened(
        make_engine: Callable[..., Any]) -> None:
    """Each helper passes on a matching assessment and otherwise fails showing what happened."""
    engine = make_engine()
    assessment = engine.evaluate(load_case(DVT_CASE))
    assert_fires(assessment, "dvt.self_test_negative")
    assert_does_not_fire(assessment, "general.locked_knee")
    assert_triage(assessment, "urgent")  # policy v3: suspected DVT is the same-day pathway
    assert_ranks(assessment, "dvt")
    assert_likelihood(assessment, "dvt", "likely")
    assert_not_in_differential(assessment, "bakers_cyst")
    assert_advice(assessment, "dvt.test_today")
    fired = fired_rules(assessment)
    assert_trace(assessment, fired[:2])
    assert trace_step(assessment, "dvt.self_test_negative").matched
    failures: list[tuple[Callable[[], None], str]] = [
        (lambda: assert_fires(assessment, "general.locked_knee"),
         "general.locked_knee did not fire; fired: \\['dvt"),
        (lambda: assert_does_not_fire(assessment, fired[0]), f"{fired[0]} fired"),
        (lambda: assert_triage(assessment, "routine"), "triage urgent \\(because"),
        (lambda: assert_ranks(assessment, "bakers_cyst"), "bakers_cyst not in top 1: \\['dvt"),
        (lambda: assert_likelihood(assessment, "dvt", "possible"), "dvt is likely \\(score"),
        (lambda: assert_not_in_differential(assessment, "dvt"), "dvt is in the differential"),
        (lambda: assert_red_flag(assessment, "nope"), "no red flag nope; raised: \\["),
        (lambda: assert_advice(assessment, "nope"), "advice nope not given; given: \\["),
        (lambda: assert_trace(assessment, fired[1::-1]), "fired in another order"),
    ]
    for check, message in failures:
        with pytest.raises(AssertionError, match=message):
            check()


def test_why_not_helper(make_engine: Callable[..., Any]) -> None:
    """why_not() gives the first failing condition of a rule that did not fire."""
    engine = make_engine()
    explained = why_not(engine, case({"pain.behind_knee": True}), "bakers_cyst.worse_bending")
    assert not explained.fired
    assert explained.plugin == "bakers_cyst"
    assert explained.failure == "worse.bending_knee: worse.bending_knee not recorded"
