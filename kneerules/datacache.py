"""A cache of parsed data files (plugin data, vocabulary, bibliography, rule sets).

Reading the shipped YAML files and structuring them into :mod:`kneerules.ruledata`
objects took ~45 ms of every ``kneerules eval`` (plus ~10 ms importing PyYAML), a fifth
of the start-up. The structured result of each file is kept, pickled, in the user's
cache directory, under a key that hashes everything the result is made from: the
file's bytes, what it is parsed as (plugin name, file name), the source of the modules
that parse and structure it, the kneerules and Python versions, and the installed
attrs, cattrs and PyYAML. So an entry can never be stale: an edited file or an upgraded
parser has another key, and the old entry is simply never read again.

It is only a cache: an entry that is missing, unreadable, truncated or corrupt (each
carries a SHA-256 of its payload), or a directory that cannot be written, means the
file is parsed as before, silently. Only successful parses are kept; a file with a
problem is parsed (and its error raised) every time.

Where: ``$KNEERULES_CACHE_DIR``, else ``$XDG_CACHE_HOME/kneerules``, else
``~/.cache/kneerules``; ``KNEERULES_CACHE_DIR=off`` switches it off. Entries are in its
``data`` folder, readable by the user alone; a folder or entry another user could
write is not trusted (pickles are code), and the oldest entries beyond
:data:`MAX_ENTRIES` are removed when a new one is written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kneerules.version import __version__

T = TypeVar("T")

CACHE_ENV = "KNEERULES_CACHE_DIR"
OFF = "off"
MAX_ENTRIES = 256
_MAGIC = b"kneerules data cache 1\n"
_DIGEST = hashlib.sha256().digest_size

# What a parsed data file is made from beyond its bytes: the modules that parse, check
# and structure it (tests/test_datacache.py checks this covers everything they import)...
LOADER_MODULES = ("converter", "datacache", "datafiles", "errors", "messages", "model",
                  "plugindata", "policy", "rule_syntax", "ruledata", "rulesets", "textsafe")
# ...and the libraries that do it (their files change when they are upgraded).
LOADER_LIBRARIES = ("attr", "attrs", "cattrs", "yaml")


def cache_dir(environ: os._Environ[str] | dict[str, str] | None = None) -> Path | None:
    """The cache directory, or None when switched off (``KNEERULES_CACHE_DIR=off``) or
    there is no home to put it in."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_ENV, "")
    if chosen.strip().lower() == OFF:
        return None
    if chosen:
        return Path(chosen)
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "kneerules"
    home = env.get("HOME", "") or os.path.expanduser("~")
    return Path(home) / ".cache" / "kneerules" if os.path.isabs(home) else None


@functools.cache
def loader_fingerprint() -> bytes | None:
    """A hash of the code that turns a data file into objects (see :data:`LOADER_MODULES`),
    or None if that code cannot be read (installed without its sources): no cache then."""
    return _fingerprint(Path(__file__).parent)


def _fingerprint(package: Path) -> bytes | None:
    digest = hashlib.sha256(f"{_MAGIC!r} {__version__} {sys.version}".encode())
    try:
        for name in LOADER_MODULES:
            digest.update(name.encode() + b"\0" + (package / f"{name}.py").read_bytes())
        for name in LOADER_LIBRARIES:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            stat = os.stat(origin) if origin else None
            digest.update(f"{name} {origin} {stat and (stat.st_size, stat.st_mtime_ns)}"
                          .encode())
    except (OSError, ImportError, ValueError):
        return None
    return digest.digest()


def cached(kind: type[T], content: bytes, parse: Callable[[], T], *about: str) -> T:
    """What ``parse()`` makes of a data file whose bytes are ``content``: from the cache
    when it holds it, else parsed and kept. ``about`` names everything else the result
    depends on (the plugin it is stamped with, its source); ``kind`` is its type."""
    folder = _folder()
    fingerprint = loader_fingerprint()
    if folder is None or fingerprint is None:
        return parse()
    key = _key(fingerprint, kind, content, about)
    entry = folder / f"{key}.pickle"
    found = _load(entry, kind)
    if found is not None:
        return found
    value = parse()
    _store(folder, entry, value)
    return value


def _key(fingerprint: bytes, kind: type, content: bytes, about: tuple[str, ...]) -> str:
    digest = hashlib.sha256(fingerprint)
    for part in (f"{kind.__module__}.{kind.__qualname__}", *about):
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
    digest.update(content)
    return digest.hexdigest()


@functools.cache
def _checked_folder(folder: Path) -> bool:
    """Whether ``folder`` (created if missing) is this user's alone."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _private(os.stat(folder))
    except OSError:
        return False


def _folder() -> Path | None:
    base = cache_dir()
    if base is None:
        return None
    folder = base / "data"
    return folder if _checked_folder(folder) else None


def _private(stat: os.stat_result) -> bool:
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows: no owner to check
        return True
    return stat.st_uid == os.geteuid() and not stat.st_mode & 0o022


def _load(entry: Path, kind: type[T]) -> T | None:
    try:
        with open(entry, "rb") as handle:
            if not _private(os.fstat(handle.fileno())):
                return None
            data = handle.read()
        header = len(_MAGIC)
        payload = memoryview(data)[header + _DIGEST:]
        if (data[:header] != _MAGIC
                or hashlib.sha256(payload).digest() != data[header:header + _DIGEST]):
            return None
        value = pickle.loads(payload)
    except Exception:  # a missing, unreadable or corrupt entry is a miss, nothing more
        return None
    return value if isinstance(value, kind) else None


def _store(folder: Path, entry: Path, value: object) -> None:
    temporary = None
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        import tempfile

        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".new-", suffix=".tmp")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
        os.replace(temporary, entry)
        temporary = None
        _prune(folder)
    except Exception:  # an unwritable cache only means parsing again next time
        pass
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _prune(folder: Path) -> None:
    """Removes the oldest entries beyond :data:`MAX_ENTRIES` (edited files leave theirs)."""
    entries = []
    for path in folder.glob("*.pickle"):
        try:
            entries.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    for _, path in sorted(entries)[:max(0, len(entries) - MAX_ENTRIES)]:
        with contextlib.suppress(OSError):
            path.unlink()


__all__ = ["CACHE_ENV", "cache_dir", "cached", "loader_fingerprint"]
