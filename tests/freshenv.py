"""A fresh virtual environment for install tests: real pip installs, nothing editable.

Projects are copied before they are installed, because setuptools builds in the
source tree (build/, *.egg-info) and the worktree must stay untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import attrs

_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".*")
PYTEST_PIN = "pytest==9.2.0"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KNEERULES_DISABLE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@attrs.frozen
class FreshEnv:
    root: Path
    bin: Path

    @classmethod
    def create(cls, root: Path, kneerules_source: Path) -> FreshEnv:
        """A venv under ``root`` with kneerules (copied from ``kneerules_source``) and pytest."""
        source = root / "kneerules-src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(kneerules_source / name, source / name)
        shutil.copytree(kneerules_source / "kneerules", source / "kneerules", ignore=_IGNORE)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(root / "venv")], check=True, env=_env())
        env = cls(root, root / "venv" / "bin")
        env.pip_install(source, PYTEST_PIN)
        return env

    def pip_install(self, *requirements: str | Path) -> None:
        """Installs requirements; a folder is copied first and installed from the copy."""
        args = []
        for requirement in requirements:
            if isinstance(requirement, Path):
                copy = self.root / "projects" / requirement.name
                if not copy.exists():
                    shutil.copytree(requirement, copy, ignore=_IGNORE)
                args.append(str(copy))
            else:
                args.append(requirement)
        self.run("pip", "install", "--quiet", *args)

    def run(self, program: str, *args: str | Path, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs one of the venv's programs; on failure the error shows its output."""
        result = subprocess.run([str(self.bin / program), *map(str, args)], cwd=cwd,
                                env=_env(), capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            raise AssertionError(f"{program} {' '.join(map(str, args))} exited "
                                 f"{result.returncode}\n{result.stdout}\n{result.stderr}")
        return result
