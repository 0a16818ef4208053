"""Finding plugins: the built-in ones and those installed under the ``kneerules`` entry point."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence

import attrs
import pluggy

from kneerules import hookspecs
from kneerules.errors import PluginError

ENTRY_POINT_GROUP = "kneerules"
DISABLE_ENV = "KNEERULES_DISABLE"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "general",
    "dvt",
    "bakers_cyst",
    "ligament_sprain",
    "meniscus_tear",
    "calf_tear",
    "knee_arthritis",
    "hyperextended_knee",
    "hamstring_injury",
)
"""Modules of the ``kneerules_plugins`` package, each exposing a ``plugin`` object."""


def disabled_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Plugin names listed (comma- or space-separated) in ``KNEERULES_DISABLE``."""
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return tuple(name for name in raw.replace(",", " ").split() if name)


def get_plugin_manager(
    disable: Iterable[str] = (),
    builtins: bool = True,
    entry_points: bool = True,
    extra: Sequence[object] = (),
) -> pluggy.PluginManager:
    """A new plugin manager with the built-in plugins and every installed external one.

    ``disable`` names plugins to leave out (checked against the rule set's
    essential plugins by the :class:`~kneerules.Engine`, not here). ``extra``
    registers further plugin objects, which is how tests add one-off plugins.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disable:
        pm.set_blocked(name)
    if builtins:
        for name in BUILTIN_PLUGINS:
            if pm.is_blocked(name):
                continue
            module = importlib.import_module(f"kneerules_plugins.{name}")
            pm.register(module.plugin, name=name)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError("?", f"an installed plugin failed to load: {exc!r}") from exc
    for plugin in extra:
        declared = getattr(plugin, "name", None)
        plugin_name = declared if isinstance(declared, str) else None
        if plugin_name is not None and pm.is_blocked(plugin_name):
            continue
        pm.register(plugin, name=plugin_name)
    # A misspelt hook name (kneerules_rule instead of kneerules_rules) fails here, loudly.
    pm.check_pending()
    return pm


@attrs.frozen
class LoadedPlugin:
    name: str
    version: str
    hooks: tuple[str, ...]
    origin: str
    """``builtin``, ``entry point <distribution>`` or ``registered``."""
    plugin: object = attrs.field(eq=False, repr=False)


def describe_plugins(pm: pluggy.PluginManager) -> list[LoadedPlugin]:
    """Every registered plugin with its version, origin and the hooks it implements."""
    from kneerules import __version__

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    found = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        dist = dists.get(id(plugin))
        if dist is not None:
            version = str(dist.version)
            origin = f"entry point ({dist.project_name})"
        elif name in BUILTIN_PLUGINS and type(plugin).__module__.startswith("kneerules"):
            version, origin = __version__, "builtin"
        else:
            version, origin = str(getattr(plugin, "version", None) or "0"), "registered"
        version = str(getattr(plugin, "version", None) or version)
        found.append(LoadedPlugin(name, version, hooks, origin, plugin))
    return found
