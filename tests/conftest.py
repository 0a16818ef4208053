"""Shared fixtures: one engine per test module (building one compiles every rule)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freshenv import FreshEnv

from kneerules import Engine
from kneerules.knowledge import plugins as pluginmanager

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(autouse=True, scope="session")
def _no_installed_plugins() -> Iterator[None]:
    """The core tests see the built-in plugins only, never a plugin someone installed in
    the environment (a broken one made them fail): every plugin manager they build looks
    up an entry-point group that nothing registers. A test that wants the real group sets
    ``kneerules.knowledge.plugins.ENTRY_POINT_GROUP`` back (monkeypatch)."""
    saved = pluginmanager.ENTRY_POINT_GROUP
    pluginmanager.ENTRY_POINT_GROUP = "kneerules.tests.no-installed-plugins"
    yield
    pluginmanager.ENTRY_POINT_GROUP = saved


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The default engine: every built-in plugin, rule set posterior-knee."""
    return Engine()


@pytest.fixture(scope="session")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> FreshEnv:
    """A new virtual environment with this kneerules (not editable) and pytest installed."""
    return FreshEnv.create(tmp_path_factory.mktemp("fresh-env"), ROOT)
