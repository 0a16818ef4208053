"""Shared fixtures: one engine per test module (building one compiles every rule)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from freshenv import FreshEnv

from kneerules import Engine, datacache, pluginmanager

ROOT = Path(__file__).resolve().parent.parent

# The data cache (kneerules.datacache) of the session: a folder of its own, never the
# user's cache. Set on import, before test modules are collected (some build an engine
# then), and inherited by every process a test starts.
SESSION_CACHE = tempfile.mkdtemp(prefix="kneerules-test-cache-")
os.environ[datacache.CACHE_ENV] = SESSION_CACHE


@pytest.fixture(autouse=True, scope="session")
def _session_cache_removed() -> Iterator[None]:
    """The session's data cache folder goes when the session ends."""
    yield
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def _no_installed_plugins() -> Iterator[None]:
    """The core tests see the built-in plugins only, never a plugin someone installed in
    the environment (a broken one made them fail): every plugin manager they build looks
    up an entry-point group that nothing registers. A test that wants the real group sets
    ``kneerules.pluginmanager.ENTRY_POINT_GROUP`` back (monkeypatch)."""
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
