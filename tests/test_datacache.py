"""The cache of parsed data files: never stale, never an error, same assessments."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from test_layout import IMPORTS

from kneerules import Engine, datacache, to_dict
from kneerules.datafiles import read_text, read_yaml
from kneerules.errors import RuleDataError
from kneerules.plugindata import load_plugin_data, parse_plugin_data
from kneerules.pluginmanager import builtin_plugin_names, get_plugin_manager
from kneerules.ruledata import PluginData
from kneerules.rulesets import find_ruleset, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
VIGNETTES = sorted((ROOT / "tests" / "vignettes").glob("*.json"))

PLUGIN = """\
conditions:
  - id: toy_condition
    name: Toy condition
    description: A condition for testing the cache.
    source: nowhere
facts:
  - name: sign.toy
    kind: finding
    meaning: a toy sign
    question: Is there a toy sign?
rules:
  - id: toy_rule
    when: {fact: sign.toy, is: true}
    then:
      evidence: {toy_condition: 2}
    because: {because}
    source: the toy section
    priority: 500
"""


def _plugin_text(because: str = "the toy sign points at the toy condition") -> str:
    return PLUGIN.replace("{because}", because)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data cache of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(datacache.CACHE_ENV, str(folder))
    return folder


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "data").glob("*.pickle"))


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, reading any YAML fails the test: everything must come from the cache."""
    def refuse(text: str, *about: str) -> None:
        raise AssertionError(f"{about} was parsed, not read from the cache")

    monkeypatch.setattr("kneerules.plugindata._parse_text", refuse)
    monkeypatch.setattr("kneerules.rulesets._parse_ruleset", refuse)


def _fresh_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in plugins forget the data they read (each reads it once per process)."""
    import importlib

    for name in builtin_plugin_names():
        plugin = importlib.import_module(f"kneerules_plugins.{name}").plugin
        monkeypatch.setattr(plugin, "_data", None)


def _knowledge(engine: Engine) -> tuple[object, ...]:
    kb = engine.knowledge
    return (kb.ruleset, kb.facts, kb.conditions, kb.rules, kb.advice, kb.considerations,
            kb.scores, kb.references, [(p.name, p.version, p.hooks) for p in kb.plugins])


def test_cached_and_uncached_engines_assess_every_example_alike(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine built from the cache holds the same knowledge and gives the same
    assessment of every example and vignette as one built with the cache off."""
    monkeypatch.setenv(datacache.CACHE_ENV, "off")
    _fresh_builtins(monkeypatch)
    uncached = Engine(plugin_manager=get_plugin_manager(entry_points=False))
    monkeypatch.setenv(datacache.CACHE_ENV, str(cache))
    _fresh_builtins(monkeypatch)
    Engine(plugin_manager=get_plugin_manager(entry_points=False))  # fills the cache
    # One entry per data file: 19 plugins, the vocabulary, the bibliography, the rule set.
    assert len(_entries(cache)) == len(builtin_plugin_names()) + 3
    _no_parsing(monkeypatch)
    _fresh_builtins(monkeypatch)
    cached = Engine(plugin_manager=get_plugin_manager(entry_points=False))
    assert _knowledge(cached) == _knowledge(uncached)
    cases = [json.loads(path.read_bytes()) for path in EXAMPLES]
    cases += [json.loads(path.read_bytes())["case"] for path in VIGNETTES]
    assert len(cases) == len(EXAMPLES) + len(VIGNETTES) > 50
    for case in cases:
        assert to_dict(cached.evaluate(case)) == to_dict(uncached.evaluate(case)), case


def test_an_edited_file_is_read_again(cache: Path, tmp_path: Path) -> None:
    """Editing a data file (same size, same modification time) gives its new content."""
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text("the toy sign points at the toy condition"))
    before = load_plugin_data(path, "toy")
    stat = path.stat()
    path.write_text(_plugin_text("the toy sign points at the toy CONDITION"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    after = load_plugin_data(path, "toy")
    assert before.rules[0].because == "the toy sign points at the toy condition"
    assert after.rules[0].because == "the toy sign points at the toy CONDITION"
    assert len(_entries(cache)) == 2


def test_the_same_file_for_another_plugin_is_stamped_with_that_plugin(cache: Path,
                                                                      tmp_path: Path) -> None:
    """One file loaded as two plugins gives each its own name, not the first one's."""
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    assert load_plugin_data(path, "toy").rules[0].plugin == "toy"
    assert load_plugin_data(path, "other").rules[0].plugin == "other"


def _flip_a_byte(entry: Path) -> None:
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x20
    entry.write_bytes(bytes(data))


def _truncate(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:100])


def _garbage(entry: Path) -> None:
    entry.write_bytes(b"not a cache entry")


def _another_valid_pickle(entry: Path) -> None:
    # A well-formed entry (checksum right) holding an object of the wrong type.
    payload = pickle.dumps(["not", "plugin", "data"])
    import hashlib

    entry.write_bytes(datacache._MAGIC + hashlib.sha256(payload).digest() + payload)


def _a_directory(entry: Path) -> None:
    entry.unlink()
    entry.mkdir()


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate, _garbage, _another_valid_pickle,
                                    _a_directory])
def test_a_damaged_entry_is_parsed_again_with_the_same_result(
        cache: Path, tmp_path: Path, damage: Callable[[Path], None]) -> None:
    """A corrupt, truncated or foreign cache entry is ignored: the file is parsed again,
    giving the same data, and no error is raised."""
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    first = load_plugin_data(path, "toy")
    [entry] = _entries(cache)
    damage(entry)
    assert load_plugin_data(path, "toy") == first
    assert load_plugin_data(path, "toy") == parse_plugin_data(
        read_yaml(read_text(path), str(path)), "toy", str(path))


def _cache_is_a_file(folder: Path) -> None:
    folder.write_text("a file where the cache folder should be")


def _data_is_a_file(folder: Path) -> None:
    folder.mkdir()
    (folder / "data").write_text("a file where the data folder should be")


def _data_open_to_everyone(folder: Path) -> None:
    (folder / "data").mkdir(parents=True)
    (folder / "data").chmod(0o777)


@pytest.mark.parametrize("spoil", [_cache_is_a_file, _data_is_a_file, _data_open_to_everyone])
def test_an_unusable_cache_folder_still_loads_everything(
        cache: Path, tmp_path: Path, spoil: Callable[[Path], None]) -> None:
    """A cache folder that cannot be made, or that other users could write (pickles are
    code), is not used: data files are parsed as without a cache, silently."""
    spoil(cache)
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    assert load_plugin_data(path, "toy").rules[0].id == "toy_rule"
    assert load_plugin_data(path, "toy").rules[0].id == "toy_rule"
    assert not list(cache.rglob("*.pickle"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_read_only_cache_folder_still_serves_and_loads(cache: Path, tmp_path: Path) -> None:
    """A cache folder the user cannot write is read from, and new files are still parsed."""
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(_plugin_text())
    new.write_text(_plugin_text("a new reason"))
    load_plugin_data(old, "toy")
    (cache / "data").chmod(0o500)
    try:
        assert load_plugin_data(new, "toy").rules[0].because == "a new reason"
        assert len(_entries(cache)) == 1
    finally:
        (cache / "data").chmod(0o700)


def test_an_entry_other_users_could_write_is_not_trusted(cache: Path, tmp_path: Path) -> None:
    """An entry with group or world write permission is ignored (and its content with it)."""
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    first = load_plugin_data(path, "toy")
    [entry] = _entries(cache)
    forged = PluginData(rules=(), conditions=(), facts=(), advice=(), considerations=(),
                        scores=(), references=())
    payload = pickle.dumps(forged)
    import hashlib

    entry.write_bytes(datacache._MAGIC + hashlib.sha256(payload).digest() + payload)
    entry.chmod(0o600)
    assert load_plugin_data(path, "toy") == forged  # a well-formed entry: served
    entry.chmod(0o666)
    assert load_plugin_data(path, "toy") == first  # the same, open to others: not trusted
    assert entry.stat().st_mode & 0o777 == 0o600  # and replaced by a private one


@pytest.mark.parametrize("setting", ["off", "OFF", " off "])
def test_the_cache_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       setting: str) -> None:
    """KNEERULES_CACHE_DIR=off: nothing is written anywhere, and everything still loads."""
    monkeypatch.setenv(datacache.CACHE_ENV, setting)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datacache.cache_dir() is None
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    assert load_plugin_data(path, "toy").rules[0].id == "toy_rule"
    assert not (tmp_path / "xdg").exists()
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(("environ", "expected"), [
    ({"KNEERULES_CACHE_DIR": "/somewhere", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"},
     "/somewhere"),
    ({"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/kneerules"),
    ({"KNEERULES_CACHE_DIR": "", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"},
     "/xdg/kneerules"),
    ({"XDG_CACHE_HOME": "relative/xdg", "HOME": "/home/u"}, "/home/u/.cache/kneerules"),
    ({"HOME": "/home/u"}, "/home/u/.cache/kneerules"),
    ({"KNEERULES_CACHE_DIR": "off", "HOME": "/home/u"}, None),
])
def test_where_the_cache_lives(environ: dict[str, str], expected: str | None) -> None:
    """$KNEERULES_CACHE_DIR, else $XDG_CACHE_HOME/kneerules, else ~/.cache/kneerules."""
    found = datacache.cache_dir(environ)
    assert (str(found) if found is not None else None) == expected


def test_a_file_with_a_problem_is_never_cached(cache: Path, tmp_path: Path) -> None:
    """A data file with an error raises the same error every time and leaves no entry."""
    path = tmp_path / "bad.yaml"
    path.write_text(_plugin_text().replace("priority: 500", "priority: lots"))
    messages = []
    for _ in range(2):
        with pytest.raises(RuleDataError) as error:
            load_plugin_data(path, "bad")
        messages.append(str(error.value))
    assert messages[0] == messages[1]
    assert "priority" in messages[0]
    assert _entries(cache) == []


@pytest.mark.parametrize(("raw", "because"), [
    (b"\r\n", "a reason\nover two lines\n"),
    (b"\r", "a reason\nover two lines\n"),
    (b"\n", "a reason\nover two lines\n"),
])
def test_line_endings_are_read_as_the_text_reader_reads_them(
        cache: Path, tmp_path: Path, raw: bytes, because: str) -> None:
    """A file with Windows or old Mac line endings gives what reading it as text gives."""
    text = _plugin_text("|\n      a reason\n      over two lines")
    path = tmp_path / "toy.yaml"
    path.write_bytes(text.encode().replace(b"\n", raw))
    expected = parse_plugin_data(read_yaml(read_text(path), str(path)), "toy", str(path))
    assert expected.rules[0].because == because
    assert load_plugin_data(path, "toy") == expected  # parsed from the bytes, and kept
    assert load_plugin_data(path, "toy") == expected  # from the cache


def test_a_file_that_is_not_utf8_names_the_file_each_time(cache: Path, tmp_path: Path) -> None:
    """Bytes that are not UTF-8 give the reader's own error, as before the cache."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(_plugin_text("caf\xe9").encode("latin-1"))
    with pytest.raises(RuleDataError, match="cannot read the file") as error:
        load_plugin_data(path, "toy")
    assert str(path) in str(error.value)
    assert _entries(cache) == []


def test_a_rule_set_file_is_cached_and_edits_are_seen(cache: Path, tmp_path: Path) -> None:
    """A rule-set file is kept too, with its source, and an edited one is read again."""
    shipped = find_ruleset("posterior-knee")
    path = tmp_path / "mine.yaml"
    path.write_text(Path(shipped.source).read_text().replace(
        f"name: {shipped.name}", "name: mine"))
    assert load_ruleset(path).name == "mine"
    path.write_text(path.read_text().replace("name: mine", "name: yours"))
    spec = load_ruleset(path)
    assert spec.name == "yours"
    assert spec.source == str(path)
    assert load_ruleset(path) == spec


def test_the_oldest_entries_go_beyond_the_limit(cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Entries of edited files do not pile up: the oldest beyond MAX_ENTRIES are removed."""
    monkeypatch.setattr(datacache, "MAX_ENTRIES", 3)
    path = tmp_path / "toy.yaml"
    for edit in range(6):
        path.write_text(_plugin_text(f"reason {edit}"))
        load_plugin_data(path, "toy")
    assert len(_entries(cache)) == 3
    assert load_plugin_data(path, "toy").rules[0].because == "reason 5"
    assert not list((cache / "data").glob(".new-*"))


def test_entries_are_private_to_the_user(cache: Path, tmp_path: Path) -> None:
    """The data folder and its entries are readable and writable by the user alone."""
    path = tmp_path / "toy.yaml"
    path.write_text(_plugin_text())
    load_plugin_data(path, "toy")
    [entry] = _entries(cache)
    assert (cache / "data").stat().st_mode & 0o777 == 0o700
    assert entry.stat().st_mode & 0o777 == 0o600


def _closure(modules: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += IMPORTS.get(name, ())
    return seen


def test_the_fingerprint_covers_every_module_that_loads_data() -> None:
    """Every kneerules module that parsing, checking or structuring a data file imports is
    part of the key, so that changing one of them can never serve an old result."""
    # kneerules.version (and how it reads the version) give a value the key holds itself.
    loaders = _closure({"plugindata", "rulesets", "datacache"}) - {"kneerules", "version",
                                                                   "entrypoints"}
    assert loaders <= set(datacache.LOADER_MODULES)


def test_changing_the_loader_code_changes_the_fingerprint(tmp_path: Path) -> None:
    """An edit to any loader module gives another fingerprint, hence other keys."""
    package = tmp_path / "kneerules"
    shutil.copytree(Path(datacache.__file__).parent, package,
                    ignore=shutil.ignore_patterns("__pycache__"))
    fingerprints = {datacache._fingerprint(package)}
    for name in datacache.LOADER_MODULES:
        source = package / f"{name}.py"
        original = source.read_bytes()
        source.write_bytes(original + b"\n# an edit\n")
        fingerprints.add(datacache._fingerprint(package))
        source.write_bytes(original)
    assert datacache._fingerprint(package) == datacache.loader_fingerprint()
    assert len(fingerprints) == len(datacache.LOADER_MODULES) + 1


def test_a_warm_cache_keeps_yaml_out_of_an_engine(cache: Path) -> None:
    """With the cache warm, building an engine neither imports PyYAML nor parses a file."""
    import subprocess

    code = ("import sys; from kneerules import Engine; Engine(); "
            "print([m for m in ('yaml',) if m in sys.modules])")
    env = {**os.environ, datacache.CACHE_ENV: str(cache)}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True).stdout.strip() for _ in range(2)]
    assert runs == ["['yaml']", "[]"]
