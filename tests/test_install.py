"""kneerules installs for real: a wheel in a fresh virtual environment, used from elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_PLUGIN = ROOT / "tests" / "data" / "entrypoint_plugin"

pytestmark = pytest.mark.slow


def run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KNEERULES_DISABLE")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=check, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kneerules built as a wheel from the files git tracks here, as in a fresh clone (a
    build folder or egg-info left in this tree would add files a clone does not have)."""
    import shutil

    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    for name in run("git", "ls-files", cwd=ROOT).stdout.split():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, source, cwd=work)
    wheels = list(dist.glob("kneerules-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    """Every file tracked under kneerules/ is in the wheel (a data file left out of the
    package data, such as the FHIR mappings, breaks an installed kneerules only)."""
    import zipfile

    tracked = run("git", "ls-files", "kneerules", cwd=ROOT).stdout.split()
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    assert sorted(set(tracked) - shipped) == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh virtual environment with kneerules installed from its built wheel."""
    work = tmp_path_factory.mktemp("install")
    wheels = [wheel]
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    run(env_dir / "bin" / "pip", "install", "--quiet", wheels[0], cwd=work)
    return env_dir


def test_wheel_carries_plugins_and_rulesets(installed: Path, tmp_path: Path) -> None:
    """From outside the repo, the installed wheel evaluates an example with every plugin."""
    case = tmp_path / "case.json"
    case.write_text((ROOT / "examples" / "dvt-same-day.json").read_text())
    result = run(installed / "bin" / "kneerules", "eval", case, "--format", "json", cwd=tmp_path)
    assessment = json.loads(result.stdout)
    assert (assessment["triage"]["level"], assessment["triage"]["timeframe"]) == (
        "urgent", "today")  # policy v3: suspected DVT is the same-day pathway
    names = {p["name"] for p in assessment["engine"]["plugins"]}
    assert {"dvt", "general", "bakers_cyst", "hamstring_injury"} <= names
    assert assessment["engine"]["ruleset"] == "posterior-knee"
    # The import came from the installed wheel, not from the source tree.
    where = run(installed / "bin" / "python", "-c",
                "import kneerules; print(kneerules.__file__)", cwd=tmp_path)
    assert str(ROOT) not in where.stdout


def test_external_plugin_is_found_through_its_entry_point(installed: Path, tmp_path: Path
                                                          ) -> None:
    """A separately installed distribution joins through the kneerules entry-point group."""
    run(installed / "bin" / "pip", "install", "--quiet", "--no-deps", DEMO_PLUGIN, cwd=tmp_path)
    listing = run(installed / "bin" / "kneerules", "plugins", cwd=tmp_path).stdout
    assert "entrypoint_demo 1.2.3" in listing
    assert "kneerules_rules" in listing
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"findings": {"pain.behind_knee": True, "demo.marker": True}}))
    out = json.loads(run(installed / "bin" / "kneerules", "eval", case, "--format", "json",
                         cwd=tmp_path).stdout)
    assert out["differential"][0]["condition"] == "demo_condition"
    assert {"name": "entrypoint_demo", "version": "1.2.3"} in out["engine"]["plugins"]
    # Switched off by name, it is gone, and its finding is no longer in the vocabulary.
    off = run(installed / "bin" / "kneerules", "eval", case, "--disable", "entrypoint_demo",
              cwd=tmp_path, check=False)
    assert off.returncode == 1
    assert "demo.marker" in off.stderr
    assert "Traceback" not in off.stderr
