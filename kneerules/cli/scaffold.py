"""``kneerules new-plugin``: a new plugin distribution that installs, and passes its test,
before a line of it is changed."""

from __future__ import annotations

import keyword
import re
from importlib.resources import files
from pathlib import Path
from string import Template

from kneerules.knowledge.plugins import builtin_plugin_names
from kneerules.model.errors import KneerulesError

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")

TEMPLATES: dict[str, str] = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "__init__.py.tmpl": "src/{package}/__init__.py",
    "plugin.yaml.tmpl": "src/{package}/{name}.yaml",
    "case.json.tmpl": "examples/{name}-case.json",
    "test_plugin.py.tmpl": "tests/test_{name}.py",
}
"""Template file (in ``kneerules/templates/plugin``) -> path in the new project."""


class ScaffoldError(KneerulesError):
    """The plugin project cannot be created where asked."""


def name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a plugin name, or None."""
    if not _NAME.match(name):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
        hint = f" (did you mean {suggestion!r}?)" if _NAME.match(suggestion) else ""
        return ("expected lower-case letters, digits and underscores, starting with a letter, "
                f"such as 'popliteal_aneurysm'{hint}")
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword"
    if name in builtin_plugin_names():
        return f"{name!r} is a built-in plugin's name"
    return None


def project_folder(name: str) -> str:
    """The folder (and distribution) name of plugin ``name``: ``kneerules-my-condition``."""
    return "kneerules-" + name.replace("_", "-")


def new_plugin(name: str, parent: Path, title: str | None = None) -> tuple[Path, list[Path]]:
    """Writes the project of plugin ``name`` under ``parent``; returns its folder and files.

    Raises :class:`ScaffoldError` if the name is not valid or the folder is not empty."""
    from kneerules.model.version import __version__

    problem = name_problem(name)
    if problem:
        raise ScaffoldError(f"invalid plugin name {name!r}: {problem}")
    if title is not None and (not title.strip() or any(c in title for c in '"\\$\n')):
        raise ScaffoldError(f"invalid title {title!r}: expected words without quotes, "
                            "backslashes or $")
    target = parent / project_folder(name)
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} already exists and is not empty; choose another "
                            "--directory, or remove it")
    values = {
        "name": name,
        "package": f"kneerules_{name}",
        "dist": project_folder(name),
        "title": title or name.replace("_", " ").capitalize(),
        "kneerules_version": __version__,
    }
    source = files("kneerules.cli") / "templates" / "plugin"
    written = []
    for template, destination in TEMPLATES.items():
        path = target / destination.format(**values)
        text = Template(source.joinpath(template).read_text(encoding="utf-8"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.substitute(values), encoding="utf-8")
        written.append(path)
    return target, written
