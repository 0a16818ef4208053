"""`kneerules new-plugin` scaffolds a plugin that installs and passes its own test."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from freshenv import FreshEnv

from kneerules.cli.main import main
from kneerules.testing import (
    assert_advice,
    assert_fires,
    assert_lint_clean,
    assert_ranks,
    data_plugin,
    load_case,
)

NAME = "my_condition"
FILES = [
    "pyproject.toml",
    "README.md",
    "src/kneerules_my_condition/__init__.py",
    "src/kneerules_my_condition/my_condition.yaml",
    "examples/my_condition-case.json",
    "tests/test_my_condition.py",
]


def scaffold(parent: Path, *args: str) -> Path:
    result = CliRunner().invoke(main, ["new-plugin", NAME, "--directory", str(parent), *args])
    assert result.exit_code == 0, result.output
    return parent / "kneerules-my-condition"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plugin project made by `kneerules new-plugin my_condition`."""
    return scaffold(tmp_path_factory.mktemp("scaffold"), "--title", "My condition")


def test_creates_every_file(project: Path) -> None:
    """The project has a pyproject, the module, its rule data, an example case and a test."""
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) \
        == sorted(FILES)


def test_pyproject_declares_the_entry_point(project: Path) -> None:
    """pyproject.toml declares the plugin under the kneerules entry point, named NAME."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "kneerules-my-condition"
    assert meta["project"]["entry-points"]["kneerules"] == {
        NAME: "kneerules_my_condition:plugin"}
    assert meta["tool"]["setuptools"]["package-data"] == {
        "kneerules_my_condition": ["*.yaml"]}


def _fill_in(project: Path) -> None:
    """Writes content where the scaffold left EXAMPLE placeholders, as an author would."""
    for data in project.rglob("*.yaml"):
        data.write_text(data.read_text().replace("EXAMPLE: ", "Filled in: "))


def test_fresh_scaffold_fails_check_until_filled_in(project: Path, tmp_path: Path) -> None:
    """`kneerules check` on a new project names every EXAMPLE placeholder and exits 1; once
    they are replaced it finds no problem."""
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    result = CliRunner().invoke(main, ["check", str(copy)])
    assert result.exit_code == 1
    placeholders = sum(line.count('"EXAMPLE:') for data in copy.rglob("*.yaml")
                       for line in data.read_text().splitlines())
    assert placeholders >= 4
    assert result.output.count("is still the new-plugin placeholder") == placeholders, (
        result.output)
    assert 'rule "my_condition.example_sign": because is still the new-plugin placeholder' in (
        result.output)
    _fill_in(copy)
    assert_lint_clean(copy)
    result = CliRunner().invoke(main, ["check", str(copy)])
    assert result.exit_code == 0, result.output


def test_example_case_ranks_the_condition(project: Path, make_engine: Callable[..., Any]
                                          ) -> None:
    """The scaffold's example case fires its example rule and ranks its condition first."""
    plugin = data_plugin(project / "src/kneerules_my_condition/my_condition.yaml")
    assessment = make_engine(plugins=[plugin]).evaluate(
        load_case(project / "examples/my_condition-case.json"))
    assert_fires(assessment, "my_condition.example_sign")
    assert_ranks(assessment, NAME)
    assert_advice(assessment, "my_condition.see_a_doctor")
    assert assessment.differential[0].name == "My condition"


@pytest.mark.parametrize(("name", "expected"), [
    ("My-Condition", "did you mean 'my_condition'?"),
    ("1st", "starting with a letter"),
    ("dvt", "is a built-in plugin's name"),
    ("class", "is a Python keyword"),
])
def test_bad_name_is_a_usage_error(tmp_path: Path, name: str, expected: str) -> None:
    """A name that cannot be a plugin's is refused with exit 2, saying what is expected."""
    result = CliRunner().invoke(main, ["new-plugin", name, "--directory", str(tmp_path)])
    assert result.exit_code == 2
    assert expected in result.output
    assert not any(tmp_path.iterdir())


def test_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    """A second new-plugin into the same place fails (exit 1) and changes nothing."""
    target = scaffold(tmp_path)
    data = target / "src/kneerules_my_condition/my_condition.yaml"
    data.write_text("# edited\n")
    result = CliRunner().invoke(main, ["new-plugin", NAME, "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert data.read_text() == "# edited\n"


def test_title_with_quotes_is_refused(tmp_path: Path) -> None:
    """A title that would break the generated files is refused, naming the title."""
    result = CliRunner().invoke(main, ["new-plugin", NAME, "--directory", str(tmp_path),
                                       "--title", 'Say "hi"'])
    assert result.exit_code == 1
    assert "invalid title" in result.output


@pytest.mark.slow
def test_scaffold_installs_and_its_test_passes(project: Path, fresh_env: FreshEnv,
                                               tmp_path: Path) -> None:
    """pip installs the scaffold, its placeholders filled in; its tests pass and
    `kneerules plugins` lists it."""
    filled = tmp_path / project.name
    shutil.copytree(project, filled)
    _fill_in(filled)
    fresh_env.pip_install(filled)
    copy = fresh_env.root / "projects" / project.name
    result = fresh_env.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=copy)
    assert "5 passed" in result.stdout
    listing = fresh_env.run("kneerules", "plugins").stdout
    assert f"{NAME} 0.1.0  [entry point (kneerules-my-condition)]" in listing
    explained = fresh_env.run("kneerules", "eval", copy / "examples/my_condition-case.json",
                              "--why-not", NAME).stdout
    assert "my_condition.example_sign  [plugin my_condition, priority 1000]: fired" \
        in explained
