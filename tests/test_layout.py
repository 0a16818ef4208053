"""The core's shape: import layers without cycles, one public name table, seams that work."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner

import kneerules
from kneerules import hookimpl, hookspecs
from kneerules.cli.main import register_commands
from kneerules.model.errors import (
    CaseError,
    EngineError,
    PluginError,
    Problem,
    RuleDataError,
    RulesetError,
    SafetyError,
)
from kneerules.model.rules import (
    AdviceSpec,
    Conclusions,
    ConsiderationSpec,
    FactSpec,
    FactTest,
    Rule,
    ScoreBand,
    ScoreItem,
    ScoreSpec,
)
from tools import hookdocs

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kneerules"
INTEGRATIONS = ("fhir", "service", "population")

# The core's layers, lowest first: the folders (and the few top-level modules) of
# kneerules/, so that `ls kneerules/` is the architecture. A module may import its own layer
# or any below, never one above; nothing in the core imports an integration, and no module
# imports the package root (it only re-exports). Integrations sit above the whole core.
LAYERS = ("model", "hookspecs", "cases", "knowledge", "reasoning", "output", "batch",
          "engine", "cli", "book", "testing")
# book: the rule book reads the knowledge base and registers `kneerules book` through the
# kneerules.integrations entry point, as the integrations do: the CLI never imports it.


def layer_of(module: str) -> int:
    """The rank of a module (``reasoning.durable.runner``) by its top folder or file."""
    top = module.split(".")[0]
    return len(LAYERS) + INTEGRATIONS.index(top) if top in INTEGRATIONS else LAYERS.index(top)


def all_modules() -> Iterator[tuple[str, Path]]:
    """Every module of kneerules (the package root as ``kneerules``), integrations too."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts) or "kneerules", path


def core_modules() -> Iterator[tuple[str, Path]]:
    """Every module of the core package (integration subpackages excluded)."""
    for name, path in all_modules():
        if name.split(".")[0] not in INTEGRATIONS:
            yield name, path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_named(name: str) -> bool:
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_modules(path: Path) -> set[str]:
    """kneerules modules imported by ``path`` at any depth, type-only imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "kneerules" or node.module.startswith("kneerules."):
                base = node.module.removeprefix("kneerules").removeprefix(".")
                for alias in node.names:
                    # ``from kneerules.model import records`` names a module.
                    sub = f"{base}.{alias.name}" if base else alias.name
                    found.add(sub if _module_named(sub) else base or "kneerules")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kneerules."):
                    found.add(alias.name.removeprefix("kneerules."))
    return found


IMPORTS = {name: imported_modules(path) for name, path in all_modules()}


@pytest.mark.parametrize("module", sorted(IMPORTS))
def test_module_imports_only_its_layer_or_below(module: str) -> None:
    """Data model at the bottom, then cases, knowledge, reasoning, output, batch, the engine,
    the CLI; integrations above the core; type-only imports count too."""
    if module == "kneerules":
        return  # the root: its TYPE_CHECKING block re-exports the public API
    core = module.split(".")[0] not in INTEGRATIONS  # an integration uses the public API
    upward = sorted(target for target in IMPORTS[module]
                    if (target == "kneerules" and core) or (
                        target != "kneerules" and layer_of(target) > layer_of(module)))
    assert upward == [], f"kneerules.{module} imports from a higher layer: {upward}"


def test_the_layers_are_the_folders() -> None:
    """`ls kneerules/` shows the layers and the integrations, and nothing else of code."""
    entries = {path.name.removesuffix(".py") for path in PACKAGE.iterdir()
               if path.suffix == ".py" or (path / "__init__.py").exists()}
    assert entries == {*LAYERS, *INTEGRATIONS, "__init__"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    return cycles


def test_no_import_cycles() -> None:
    """No cycle among the modules, integrations included, counting imports inside functions
    and type-only imports; the root's re-exports are the only edges left out."""
    graph = {name: {t for t in targets if t in IMPORTS and t not in (name, "kneerules")}
             for name, targets in IMPORTS.items() if name != "kneerules"}
    assert _cycles(graph) == []


def test_a_cycle_is_found() -> None:
    """The cycle finder sees a type-only loop of three modules (it cannot pass vacuously)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_public_names_are_listed_once_and_agree() -> None:
    """The lazy table, the TYPE_CHECKING imports and __all__ name the same public API."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    typing_names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for item in node.body:
                assert isinstance(item, ast.ImportFrom)
                typing_names |= {alias.name for alias in item.names}
    lazy = set(kneerules._LAZY)
    assert typing_names == lazy
    assert set(kneerules.__all__) == lazy | {"__version__", "hookimpl"}
    assert sorted(kneerules.__all__) == kneerules.__all__


@pytest.mark.parametrize("name", sorted(kneerules._LAZY))
def test_every_public_name_resolves(name: str) -> None:
    """Each lazily exported name is importable from kneerules itself."""
    value = getattr(kneerules, name)
    module = importlib.import_module(kneerules._LAZY[name])
    assert value is getattr(module, name)


def test_version_is_written_once_and_installed_as_written() -> None:
    """__version__ is a static attribute, and what pip installed reads it (no second copy)."""
    from importlib.metadata import version

    assert kneerules.__version__ == version("kneerules")
    assert "version" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dynamic"]


def test_importing_kneerules_loads_no_engine_and_no_integration() -> None:
    """import kneerules stays light: no durable-rules, cattrs, or integration dependency."""
    code = ("import sys, kneerules; heavy = ['durable', 'cattrs', 'kneerules.fhir', "
            "'kneerules.service', 'kneerules.population', 'dask', 'distributed', 'starlette', "
            "'uvicorn', 'jwt', 'fhir', 'pandas', 'pyarrow']; "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# What `kneerules eval` never needs: the batch machinery, the questions and any
# integration's code or dependencies beyond its light plugin module (bench/README.md).
EVAL_NEVER_IMPORTS = (
    "multiprocessing", "concurrent.futures", "kneerules.batch.pool",
    "kneerules.reasoning.questions", "kneerules.reasoning.lookahead", "kneerules.fhir.mapper",
    "kneerules.fhir.reader", "kneerules.service.app", "kneerules.population.run", "dask",
    "distributed", "starlette", "uvicorn", "jwt", "fhir.resources", "pydantic", "pandas",
    "pyarrow", "httpx", "kneerules.book.build", "kneerules.book.data", "selenium")


@pytest.mark.parametrize("output", ["text", "json"])
def test_eval_imports_only_what_an_evaluation_needs(output: str) -> None:
    """`kneerules eval` loads no batch machinery and no integration or its dependency: each
    costs start-up time and none is used."""
    code = ("import sys\nsys.argv = ['kneerules', 'eval', sys.argv[1], '--format', sys.argv[2]]"
            "\nfrom kneerules.cli.main import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
            f"\nprint([m for m in {EVAL_NEVER_IMPORTS!r} if m in sys.modules])")
    run = subprocess.run([sys.executable, "-c", code,
                          str(ROOT / "examples" / "dvt-same-day.json"), output],
                         capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("error", [
    CaseError([Problem("$.findings", "expected an object")], "case.json"),
    RuleDataError([Problem('rule "x"', "bad")], "x.yaml"),
    PluginError("calf_tear", "kneerules_rules() raised ValueError()"),
    SafetyError("dvt", "is switched off"),
    RulesetError("no rule set named 'x'"),
    EngineError("error 303"),
])
def test_errors_pickle_whole(error: Exception) -> None:
    """An error raised in a worker process reaches the parent with its message and details."""
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert vars(back) == vars(error)


def test_guide_hook_reference_is_generated_from_the_hookspecs() -> None:
    """docs/plugins.md's hook section is exactly what the hookspec docstrings generate."""
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert hookdocs.rewrite_guide(guide) == guide, (
        "run: .venv/bin/python -m tools.hookdocs docs/plugins.md")


@pytest.mark.parametrize("hook", hookdocs.hook_names())
def test_every_hook_is_exercised_by_a_test(hook: str) -> None:
    """Each hook appears in a test module beyond the generic guide checks."""
    users = [path.name for path in (ROOT / "tests").glob("test_*.py")
             if path.name != "test_authoring.py" and hook in path.read_text(encoding="utf-8")]
    assert users, f"no test exercises {hook}"


class _HelloCommand:
    @hookimpl
    def kneerules_register_commands(self, cli: click.Group) -> None:
        @cli.command("hello")
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")


def test_a_plugin_adds_a_command_through_the_hook() -> None:
    """kneerules_register_commands adds a working command to the CLI group."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_HelloCommand())

    @click.group()
    def cli() -> None:
        """A fresh group, so the real CLI is not changed."""

    register_commands(cli, pm)
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0
    assert result.output == "hello from a plugin\n"


@pytest.mark.parametrize(("args", "code"), [
    (["eval", str(ROOT / "examples" / "dvt-same-day.json"), "--format", "json"], 0),
    (["eval", str(ROOT / "examples" / "dvt-same-day.json"), "--disable", "dvt"], 1),
    (["eval", "--format", "yaml", str(ROOT / "examples" / "dvt-same-day.json")], 2),
    (["--version"], 0),
])
def test_the_installed_program_is_main_in_a_process_of_its_own(args: list[str],
                                                               code: int) -> None:
    """The `kneerules` console script runs kneerules.cli.main.run, which gives exactly what
    kneerules.cli.main.main gives: the same output and the same exit code."""
    from importlib.metadata import entry_points

    [script] = [ep for ep in entry_points(group="console_scripts") if ep.name == "kneerules"]
    assert script.value == "kneerules.cli.main:run"
    results = [subprocess.run([sys.executable, "-c", f"import sys; sys.argv[0] = 'kneerules'; "
                               f"from kneerules.cli.main import {entry}; {entry}()", *args],
                              capture_output=True, text=True) for entry in ("main", "run")]
    assert results[0].returncode == results[1].returncode == code
    assert results[0].stdout == results[1].stdout
    assert results[0].stderr == results[1].stderr


def test_hook_calls_can_be_traced() -> None:
    """KNEERULES_TRACE_HOOKS=1 shows each hook call, because every call goes through pluggy."""
    env = {**os.environ, "KNEERULES_TRACE_HOOKS": "1"}
    result = subprocess.run([sys.executable, "-m", "kneerules.cli.main", "eval",
                             str(ROOT / "examples" / "dvt-same-day.json")],
                            capture_output=True, text=True, env=env, check=True)
    assert "kneerules_rules [hook]" in result.stderr
    assert "finish kneerules_facts -->" in result.stderr
    assert result.stdout.startswith("URGENT")  # policy v3: the same-day DVT pathway


class _PythonContributions:
    """A plugin written in Python, contributing through every knowledge hook."""

    name = "python_contributions"

    @hookimpl
    def kneerules_facts(self) -> list[FactSpec]:
        return [FactSpec("demo.flag", "finding", "a demonstration finding"),
                FactSpec("demo.score", "score", "the demonstration score")]

    @hookimpl
    def kneerules_rules(self) -> list[Rule]:
        return [Rule(id="demo.flag_rule", priority=900, when=FactTest("demo.flag"),
                     then=Conclusions(advise=("demo.advice",), consider=("demo_cause",)),
                     because="the flag is recorded", source="test")]

    @hookimpl
    def kneerules_advice(self) -> list[AdviceSpec]:
        return [AdviceSpec(id="demo.advice", kind="information", text="Demonstration advice.",
                           source="test")]

    @hookimpl
    def kneerules_considerations(self) -> list[ConsiderationSpec]:
        return [ConsiderationSpec(id="demo_cause", name="Demonstration cause",
                                  description="only for this test", source="test")]

    @hookimpl
    def kneerules_scores(self) -> list[ScoreSpec]:
        return [ScoreSpec(id="demo_score", name="Demonstration score", fact="demo.score",
                          source="test",
                          items=(ScoreItem("flag", "the flag", 2.0, FactTest("demo.flag")),),
                          bands=(ScoreBand(2.0, "high", "The score is high."),))]


def test_python_hooks_contribute_advice_considerations_and_scores() -> None:
    """kneerules_advice, kneerules_considerations and kneerules_scores reach the assessment."""
    from kneerules import Engine

    engine = Engine(plugins=[_PythonContributions()])
    assessment = engine.evaluate({"findings": {"pain.behind_knee": True, "demo.flag": True}})
    assert "demo.advice" in [item.id for item in assessment.advice]
    assert [c.id for c in assessment.considerations] == ["demo_cause"]
    score = next(s for s in assessment.scores if s.id == "demo_score")
    assert (score.score, score.interpretation) == (2.0, "high")


class _WrongTypes:
    name = "wrong_types"

    @hookimpl
    def kneerules_rules(self) -> list[object]:
        return [{"id": "a.rule"}]


class _ExitingPlugin:
    name = "exiting"

    @hookimpl
    def kneerules_facts(self) -> list[object]:
        raise SystemExit(0)


@pytest.mark.parametrize(("plugin", "message"), [
    (_WrongTypes(), "returned items of type dict, expected Rule"),
    (_ExitingPlugin(), "kneerules_facts() raised SystemExit(0)"),
])
def test_a_misbehaving_plugin_is_a_plugin_error_naming_it(plugin: object, message: str) -> None:
    """Wrong result types or a SystemExit in a hook become a PluginError with the plugin's name."""
    from kneerules import Engine

    with pytest.raises(PluginError) as caught:
        Engine(plugins=[plugin])
    assert caught.value.plugin == getattr(plugin, "name")  # noqa: B009
    assert message in str(caught.value)


@pytest.mark.slow
def test_a_new_condition_is_one_file_and_its_name_in_the_rule_set(tmp_path: Path) -> None:
    """A copy of the source tree gains one plugin YAML file and a rule-set line; installed,
    the new condition is loaded with the others and leads when its finding is recorded."""
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".*")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name if source.exists() else _mkdir(source) / name)
    shutil.copytree(ROOT / "kneerules", source / "kneerules", ignore=ignore)
    data = source / "kneerules" / "knowledge" / "data"
    (data / "plugins" / "demo_condition.yaml").write_text(json.dumps({
        "conditions": [{"id": "demo_condition", "name": "Demonstration condition",
                        "description": "only for this test", "source": "test",
                        "commonness": 9}],
        "facts": [{"name": "demo.marker", "kind": "finding", "meaning": "a test marker"}],
        "rules": [{"id": "demo_condition.marker", "priority": 900, "when": "demo.marker",
                   "then": {"evidence": {"demo_condition": 6}},
                   "because": "the marker is there", "source": "test"}],
    }))
    ruleset = data / "rulesets" / "posterior-knee.yaml"
    text = ruleset.read_text()
    ruleset.write_text(text.replace("  - hamstring_injury\n",
                                    "  - hamstring_injury\n  - demo_condition\n", 1))
    assert "demo_condition" in ruleset.read_text()
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"findings": {"pain.behind_knee": True, "demo.marker": True}}))
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-m", "kneerules.cli.main", "eval", str(case),
                          "--format", "json"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, check=True).stdout
    assessment = json.loads(out)
    assert assessment["differential"][0]["condition"] == "demo_condition"
    assert "demo_condition" in {p["name"] for p in assessment["engine"]["plugins"]}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_renderers_are_a_registry_keyed_by_format_and_audience() -> None:
    """text and json are registered; an audience without its own renderer gets the general one."""
    from kneerules import Engine, to_dict
    from kneerules.output.rendering import RenderOptions, formats, render, renderer

    assessment = Engine().evaluate({"findings": {"pain.behind_knee": True}})
    assert {"text", "json"} <= set(formats())
    assert json.loads(render(assessment, "json")) == to_dict(assessment)
    assert render(assessment, "text", "nobody-in-particular").startswith("ROUTINE")
    with pytest.raises(LookupError, match="no renderer for format 'yaml'"):
        render(assessment, "yaml")

    @renderer("shout", "tester")
    def shout(a: kneerules.Assessment, options: RenderOptions) -> str:
        return a.triage.level.upper()

    try:
        assert render(assessment, "shout", "tester") == "ROUTINE"
    finally:
        from kneerules.output import rendering

        del rendering._RENDERERS[("shout", "tester")]


def test_building_an_engine_writes_nothing_outside_the_project(tmp_path: Path) -> None:
    """Engine() and an evaluation in a fresh HOME (and working folder) leave both empty: no
    cache, no config, no log is written as a side effect of using the library."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("XDG_", "KNEERULES_"))}
    env.update(HOME=str(home), PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(work))
    code = ("from kneerules import Engine, to_json\n"
            "print(to_json(Engine().evaluate({'findings': {'pain.behind_knee': True}}))[:1])")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "{"
    assert sorted(home.rglob("*")) == []
    assert sorted(work.rglob("*")) == []


def test_no_merge_conflict_markers_are_left_in_the_repository() -> None:
    """A file committed half-merged (a Makefile with <<<<<<< in it) breaks the build."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    markers = ("<" * 7 + " ", "=" * 7 + "\n", ">" * 7 + " ")
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".png", ".whl", ".gz") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{name}:{n}" for n, line in enumerate(text.splitlines(True), 1)
                  if line.startswith(markers)]
    assert found == []
