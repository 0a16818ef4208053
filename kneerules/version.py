"""The installed version of kneerules, read once from the package metadata."""

from __future__ import annotations

from kneerules.entrypoints import version as _read_version


def _installed_version() -> str:
    # Read from the metadata file itself where it is plain (kneerules.entrypoints), as
    # importlib.metadata would: importing that costs every command ~20 ms.
    found = _read_version("kneerules")
    if found is not None:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kneerules")
    except PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "0+unknown"


__version__ = _installed_version()
