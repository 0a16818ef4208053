"""Shared fixtures: one engine per test module (building one compiles every rule)."""

from __future__ import annotations

from pathlib import Path

import pytest
from freshenv import FreshEnv

from kneerules import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def engine() -> Engine:
    """The default engine: every built-in plugin, rule set posterior-knee."""
    return Engine()


@pytest.fixture(scope="session")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> FreshEnv:
    """A new virtual environment with this kneerules (not editable) and pytest installed."""
    return FreshEnv.create(tmp_path_factory.mktemp("fresh-env"), ROOT)
