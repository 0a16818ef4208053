"""kneerules.entrypoints reads installed entry points and versions as importlib.metadata does."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pluggy
import pytest

from kneerules import entrypoints, hookimpl, hookspecs

try:  # imported before any test, as dask imports it: it changes the finders on import
    import importlib_metadata
except ImportError:  # pragma: no cover - installed with dask
    importlib_metadata = None


def _standard_find_distributions(*args: object, **kwargs: object) -> object:
    # The standard library's PathFinder.find_distributions, which the backport deletes.
    return importlib.metadata.MetadataPathFinder.find_distributions(*args, **kwargs)


@pytest.fixture(autouse=True)
def _standard_finders_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard library's finder of distributions alone, whatever ran before in this
    process: the importlib_metadata backport (imported by dask) adds its own finder and
    deletes the standard one's find_distributions; a test below checks that case."""
    from importlib.machinery import PathFinder

    monkeypatch.setattr(sys, "meta_path", [
        finder for finder in sys.meta_path
        if finder is PathFinder or not getattr(finder, "find_distributions", None)])
    if not hasattr(PathFinder, "find_distributions"):
        monkeypatch.setattr(PathFinder, "find_distributions",
                            staticmethod(_standard_find_distributions), raising=False)


INSTALLED_GROUPS = sorted({entry.group for dist in importlib.metadata.distributions()
                           for entry in dist.entry_points})


def _theirs(group: str) -> list[tuple[str, str, str]]:
    return [(entry.name, entry.value, entry.group)
            for entry in importlib.metadata.entry_points(group=group)]


def _ours(group: str) -> list[tuple[str, str, str]]:
    found = entrypoints.entry_points(group)
    assert found is not None, "this environment should be readable without importlib.metadata"
    return [(entry.name, entry.value, entry.group) for entry in found]


def _pluggy_order(group: str) -> list[tuple[str, str]]:
    return [(entry.name, entry.value) for dist in importlib.metadata.distributions()
            for entry in dist.entry_points if entry.group == group]


def test_this_environment_has_groups_to_compare() -> None:
    """The comparison below covers real groups: the console scripts and kneerules' own."""
    assert {"console_scripts", "kneerules.commands", "kneerules.readers"} <= set(
        INSTALLED_GROUPS)


@pytest.mark.parametrize("group", [*INSTALLED_GROUPS, "kneerules", "no.such.group"])
def test_every_installed_group_reads_as_importlib_metadata_reads_it(group: str) -> None:
    """Each entry-point group of this environment: the same entry points, in the same
    order, as importlib.metadata.entry_points(group=...); and every distribution's, in
    the order pluggy loads them."""
    assert _ours(group) == _theirs(group)
    every = entrypoints.every_entry_point(group)
    assert every is not None
    assert [(entry.name, entry.value) for entry in every] == _pluggy_order(group)


def test_every_installed_version_reads_as_importlib_metadata_reads_it() -> None:
    """The version of each installed distribution is importlib.metadata.version's, or
    left to it (None) where its metadata is not plain."""
    names = {dist.metadata["Name"] for dist in importlib.metadata.distributions()}
    assert len(names) > 20
    read = {name: entrypoints.version(name) for name in names}
    assert {name: value for name, value in read.items() if value is not None} == {
        name: importlib.metadata.version(name) for name, value in read.items()
        if value is not None}
    assert read["kneerules"] == importlib.metadata.version("kneerules")
    assert entrypoints.version("no-such-distribution") is None


# --- A made-up sys.path: shadowed copies, odd files, and what only importlib.metadata reads


def _dist(root: Path, folder: str, entry_points: str | None,
          metadata: str = "Metadata-Version: 2.1\nName: x\nVersion: 1.0\n") -> None:
    info = root / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata)
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def _usual(tmp_path: Path) -> list[str]:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "alpha-1.0.dist-info", "[toy.group]\nb = mod_b\na = mod_a:thing.attr\n"
          "# a comment\n\n[other]\nz = z\n", "Metadata-Version: 2.1\nName: alpha\n"
          "Version: 1.0  \nSummary: x\n")
    _dist(first, "Beta_Thing-2.0.dist-info", "  [toy.group]  \n  c  =  mod_c [extra]  \n")
    _dist(first, "gamma-3.egg-info", "[toy.group]\nd=mod_d\n")
    _dist(first, "no_entries-1.0.dist-info", None)
    # A second copy of alpha further down sys.path: shadowed for importlib.metadata's
    # entry_points, but pluggy's loader sees it too.
    _dist(second, "alpha-0.9.dist-info", "[toy.group]\na = old_a\ne = mod_e\n")
    _dist(second, "delta-1.0.dist-info", "stray = before any group\n[toy.group]\nf = mod_f\n"
          "[[toy.group]]\ng = mod_g\n; not a comment = here\n")
    return [str(first), str(second), str(tmp_path / "missing")]


def _file_on_path(tmp_path: Path) -> list[str]:
    (tmp_path / "archive.zip").write_bytes(b"not really a zip")
    return [*_usual(tmp_path), str(tmp_path / "archive.zip")]


def _an_egg(tmp_path: Path) -> list[str]:
    (tmp_path / "old.egg").mkdir()
    return [*_usual(tmp_path), str(tmp_path / "old.egg")]


def _no_equals(tmp_path: Path) -> list[str]:
    _dist(tmp_path / "bad", "broken-1.0.dist-info", "[toy.group]\njust a name\n")
    return [*_usual(tmp_path), str(tmp_path / "bad")]


def _capital_suffix(tmp_path: Path) -> list[str]:
    _dist(tmp_path / "odd", "Shouty-1.0.DIST-INFO", "[toy.group]\nh = mod_h\n")
    return [*_usual(tmp_path), str(tmp_path / "odd")]


@pytest.mark.parametrize(("make_path", "unique_readable", "every_readable"), [
    (_usual, True, True), (_file_on_path, False, False), (_an_egg, False, False),
    (_no_equals, False, False),
    # Only keeping the first of each name needs the name, which this stem does not give.
    (_capital_suffix, False, True),
])
def test_a_made_up_path_reads_as_importlib_metadata_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_path: Callable[[Path], list[str]],
        unique_readable: bool, every_readable: bool) -> None:
    """Shadowed copies, comments, blanks, extras, egg-info, entries before a group: read as
    importlib.metadata reads them; a zip, an egg, a line without '=' or a name only the
    metadata gives are left to importlib.metadata (None)."""
    monkeypatch.setattr(sys, "path", make_path(tmp_path))
    found = entrypoints.entry_points("toy.group")
    every = entrypoints.every_entry_point("toy.group")
    if unique_readable:
        assert found is not None
        assert [(e.name, e.value) for e in found] == [
            (e.name, e.value) for e in importlib.metadata.entry_points(group="toy.group")]
        assert {e.name for e in found} == {"a", "b", "c", "d", "f", "g", "; not a comment"}
        assert entrypoints.version("alpha") == importlib.metadata.version("alpha") == "1.0  "
    else:
        assert found is None
    if every_readable:
        assert every is not None
        assert [(e.name, e.value) for e in every] == _pluggy_order("toy.group")
    else:
        assert every is None


def test_another_finder_of_distributions_is_left_to_importlib_metadata(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A meta-path finder that finds distributions (which this reader cannot ask) means
    importlib.metadata answers."""
    assert entrypoints.entry_points("console_scripts") is not None
    finder = types.SimpleNamespace(find_distributions=lambda *args, **kwargs: iter(()))
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, finder])
    assert entrypoints.entry_points("console_scripts") is None
    assert entrypoints.every_entry_point("console_scripts") is None
    assert entrypoints.version("kneerules") is None


@pytest.mark.skipif(importlib_metadata is None, reason="the backport comes with dask")
def test_the_importlib_metadata_backport_is_left_to_importlib_metadata(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the importlib_metadata backport installed as it installs itself (its finder
    added, the standard one's find_distributions deleted), importlib.metadata answers."""
    from importlib.machinery import PathFinder

    assert importlib_metadata is not None
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path,
                                           importlib_metadata.MetadataPathFinder()])
    monkeypatch.delattr(PathFinder, "find_distributions")
    assert entrypoints.entry_points("console_scripts") is None
    assert entrypoints.every_entry_point("kneerules.commands") is None
    assert entrypoints.version("kneerules") is None
    assert importlib.metadata.version("kneerules")  # found through the backport's finder


@pytest.mark.parametrize(("metadata", "expected"), [
    ("Metadata-Version: 2.1\nName: x\nVersion: 1.2.3\n\nbody\n", "1.2.3"),
    ("Name: x\nversion:\t 4.5\n", "4.5"),
    ("Name: x\nVersion: 1.0\nVersion: 2.0\n", "1.0"),
    ("Name: x\nVersion: 1.0\n  folded onto two lines\n", None),
    ("Name: x\n\nVersion: 1.0\n", None),
    ("Name: x\nnot a header line\nVersion: 1.0\n", None),
])
def test_only_a_plain_version_header_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            metadata: str, expected: str | None) -> None:
    """The Version header is read where it is plain, exactly as the email parser reads it,
    and left to importlib.metadata (None) otherwise."""
    _dist(tmp_path, "x-1.0.dist-info", None, metadata)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert entrypoints.version("x") == expected
    if expected is not None:
        assert importlib.metadata.version("x") == expected


class _Hello:
    @hookimpl
    def kneerules_register_commands(self, cli: object) -> None:
        """Nothing to add."""


def test_plugins_load_as_pluggy_loads_them(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """load_plugins registers the same plugins, under the same names, in the same order as
    pluggy's load_setuptools_entrypoints, the first of a name winning, blocked ones not."""
    modules = {}
    for name in ("cmd_one", "cmd_two", "cmd_old"):
        module = types.ModuleType(name)
        module.plugin = _Hello()  # type: ignore[attr-defined]
        modules[name] = module
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "one-1.0.dist-info", "[toy.commands]\none = cmd_one:plugin\n"
          "blocked = cmd_one\n")
    _dist(first, "two-1.0.dist-info", "[toy.commands]\ntwo = cmd_two:plugin\n")
    _dist(second, "one-0.9.dist-info", "[toy.commands]\none = cmd_old:plugin\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second)])
    registered = []
    for load in (entrypoints.load_plugins, pluggy.PluginManager.load_setuptools_entrypoints):
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.set_blocked("blocked")
        assert load(pm, "toy.commands") == 2  # type: ignore[operator]
        registered.append([(name, plugin) for name, plugin in pm.list_name_plugin()])
    assert registered[0] == registered[1]
    assert sorted(name for name, _ in registered[0]) == ["blocked", "one", "two"]
    assert dict(registered[0])["one"] is modules["cmd_one"].plugin  # type: ignore[attr-defined]


def test_an_entry_point_loads_what_it_names() -> None:
    """EntryPoint.load imports the module and follows the attribute path, as
    importlib.metadata.EntryPoint.load does."""
    entry = entrypoints.EntryPoint("x", "kneerules.entrypoints:EntryPoint.load", "g", "")
    assert entry.load() is entrypoints.EntryPoint.load
    assert entrypoints.EntryPoint("x", "kneerules.entrypoints", "g", "").load() is entrypoints
