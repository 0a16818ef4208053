"""Finding plugins and calling them: the one path by which plugins are discovered (the
built-in ones, one YAML file each under ``kneerules/knowledge/data/plugins/``, then those
installed under the ``kneerules`` entry point), and one helper through which every hook is
called, so that failures name their plugin."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from kneerules import hookspecs
from kneerules.knowledge.dataplugin import DataPlugin
from kneerules.knowledge.loading import DATA
from kneerules.model.errors import PluginError, SafetyError
from kneerules.model.messages import did_you_mean
from kneerules.model.version import __version__

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "kneerules"
INTEGRATIONS_GROUP = "kneerules.integrations"
DISABLE_ENV = "KNEERULES_DISABLE"
TRACE_ENV = "KNEERULES_TRACE_HOOKS"
BUILTIN_PLUGINS = DATA / "plugins"


@cache
def builtin_plugin_names() -> tuple[str, ...]:
    """The built-in plugins: every YAML file in ``data/plugins/``, by name.

    Found, not listed, so that a new condition is one file (and its name in the
    rule set, which is what a clinician signs off)."""
    return tuple(sorted(path.stem for path in BUILTIN_PLUGINS.glob("*.yaml")))


def disabled_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Plugin names listed (comma- or space-separated) in ``KNEERULES_DISABLE``."""
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return tuple(name for name in raw.replace(",", " ").split() if name)


def disabled_names(disable: Iterable[str]) -> tuple[str, ...]:
    """``disable`` as a tuple of names: a string is one name (or several, comma- or space-
    separated), not a sequence of letters (``disable="general"``)."""
    if isinstance(disable, str):
        return tuple(disable.replace(",", " ").split())
    return tuple(disable)


def get_plugin_manager(
    disable: Iterable[str] = (),
    builtins: bool = True,
    entry_points: bool = True,
    extra: Sequence[object] = (),
    trace: bool | None = None,
) -> pluggy.PluginManager:
    """A new plugin manager with the built-in plugins and every installed external one.

    ``disable`` names plugins to leave out (checked against the rule set's
    essential plugins by the :class:`~kneerules.Engine`, not here). ``extra``
    registers further plugin objects, which is how tests add one-off plugins.
    ``trace`` (default: the ``KNEERULES_TRACE_HOOKS`` environment variable) writes
    every hook call and its result to standard error, as ``pytest --debug`` does.
    """
    disable = disabled_names(disable)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disable:
        pm.set_blocked(name)
    if builtins:
        for name in builtin_plugin_names():
            if not pm.is_blocked(name):
                pm.register(DataPlugin(name, BUILTIN_PLUGINS / f"{name}.yaml"), name=name)
    installed = load_entry_points(pm, ENTRY_POINT_GROUP) if entry_points else []
    names = set(builtin_plugin_names()) | {entry.name for entry in installed}
    for plugin in extra:
        declared = getattr(plugin, "name", None)
        if not isinstance(declared, str) or not declared:
            # pluggy would name it by its id(), a number in the engine block.
            raise PluginError(type(plugin).__name__, "a plugin object needs a name: give its "
                              "class a `name` attribute (a string)")
        names.add(declared)
        if pm.is_blocked(declared):
            continue
        if pm.has_plugin(declared) or pm.is_registered(plugin):
            raise PluginError(declared, "is registered twice (given twice in plugins=, or "
                              "also installed or built in)")
        pm.register(plugin, name=declared)
    for name in disable:
        if name not in names:
            raise PluginError(name, "there is no plugin of this name to switch off"
                              f"{did_you_mean(name, names) or _known(names)}")
    if _unknown_hooks(pm):
        # A plugin implements a hook the core does not define: an integration's, added now.
        integrations().manager.hook.kneerules_addhooks(pluginmanager=pm)
    # A misspelt hook name (kneerules_rule instead of kneerules_rules) fails here, loudly.
    pm.check_pending()
    if trace if trace is not None else bool(os.environ.get(TRACE_ENV)):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _unknown_hooks(pm: pluggy.PluginManager) -> list[str]:
    """Hooks some registered plugin implements that no hookspec of ``pm`` defines yet."""
    return sorted(name for name, caller in vars(pm.hook).items()
                  if isinstance(caller, pluggy.HookCaller) and caller.spec is None
                  and caller.get_hookimpls())


def load_entry_points(pm: pluggy.PluginManager, group: str,
                      broken: list[str] | None = None) -> list[importlib.metadata.EntryPoint]:
    """Registers every plugin installed under the entry-point ``group`` (by pluggy, in its
    order) and returns their entry points: the one way kneerules discovers installed
    plugins. A plugin that fails to load is a :class:`PluginError` naming it, or, when
    ``broken`` is given, one line there saying why (an integration whose extra is missing
    must not stop ``kneerules eval``; ``kneerules check`` reports it)."""
    import importlib.metadata

    found = sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name)
    for entry in found:
        if pm.is_blocked(entry.name):
            continue
        # Loaded one by one first, so that a failure names its plugin (it was "plugin '?'").
        try:
            entry.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            dist = entry.dist.name if entry.dist is not None else "an unknown distribution"
            message = f"failed to load ({entry.value}, installed by {dist}): {exc!r}"
            if broken is None:
                raise PluginError(entry.name, message) from exc
            broken.append(f"{entry.name}: {message}")
            pm.set_blocked(entry.name)
    try:
        pm.load_setuptools_entrypoints(group)
    except Exception as exc:
        raise PluginError("?", f"an installed plugin failed to load: {exc!r}") from exc
    return found


@attrs.frozen
class Integrations:
    """The integration plugins installed (``kneerules.integrations``), and those that
    could not be loaded, each with the reason."""

    manager: pluggy.PluginManager
    broken: tuple[str, ...]


@cache
def integrations() -> Integrations:
    """The installed integration plugins, loaded once per process."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    broken: list[str] = []
    load_entry_points(pm, INTEGRATIONS_GROUP, broken)
    return Integrations(pm, tuple(broken))


def _known(names: set[str]) -> str:
    return f" (plugins: {', '.join(sorted(names))})"


def plugin_hook(pm: pluggy.PluginManager, plugin_name: str, hook: str) -> pluggy.HookCaller:
    """``hook`` of one plugin alone, still called through pluggy (so that monitoring,
    tracing and hook wrappers see the call)."""
    others = [plugin for name, plugin in pm.list_name_plugin()
              if plugin is not None and name != plugin_name]
    return pm.subset_hook_caller(hook, others)


def call_plugin(caller: pluggy.HookCaller, plugin_name: str, hook: str, *, safety: bool,
                **kwargs: Any) -> Any:
    """Calls one plugin's ``hook``; any failure becomes a :class:`PluginError` naming the
    plugin (a :class:`SafetyError` for the safety plugin). Returns the plugin's result,
    or None when it returned nothing."""
    error_type = SafetyError if safety else PluginError
    try:
        results = caller(**kwargs)
    except PluginError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a plugin must not end the program quietly
        raise error_type(plugin_name, f"{hook}() raised {exc!r}") from exc
    return results[0] if results else None


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
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distributions()}
    builtins = set(builtin_plugin_names())
    found = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))
        dist = dists.get(id(plugin))
        if dist is not None:
            version = str(dist.version)
            origin = f"entry point ({dist.metadata['Name']})"
        elif name in builtins and isinstance(plugin, DataPlugin):
            version, origin = __version__, "builtin"
        else:
            version, origin = str(getattr(plugin, "version", None) or "0"), "registered"
        version = str(getattr(plugin, "version", None) or version)
        found.append(LoadedPlugin(name, version, hooks, origin, plugin))
    return found


CaseFactsHook = pluggy.HookCaller
