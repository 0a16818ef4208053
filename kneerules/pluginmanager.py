"""Finding plugins and calling them: the built-in ones (every package under
``kneerules_plugins``), those installed under the ``kneerules`` entry point, and one
helper through which every hook is called, so that failures name their plugin."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import types
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from kneerules import entrypoints, hookspecs
from kneerules.errors import PluginError, SafetyError
from kneerules.messages import did_you_mean
from kneerules.version import __version__

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "kneerules"
DISABLE_ENV = "KNEERULES_DISABLE"
TRACE_ENV = "KNEERULES_TRACE_HOOKS"
BUILTIN_PACKAGE = "kneerules_plugins"


@cache
def builtin_plugin_names() -> tuple[str, ...]:
    """The built-in plugins: every package under ``kneerules_plugins``, sorted by name.

    Found, not listed, so that a new condition is one folder (and its name in the
    rule set, which is what a clinician signs off)."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return tuple(sorted(info.name for info in pkgutil.iter_modules(package.__path__)
                        if info.ispkg))


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


class PluginManager(pluggy.PluginManager):
    """pluggy's plugin manager, registering many plugins of one class faster.

    To find a plugin's hook implementations pluggy looks at every attribute of it (``dir``,
    then ``inspect.getattr_static`` on each, ~50 per plugin): 8 ms for the 19 built-in
    plugins, which are all :class:`~kneerules.dataplugin.DataPlugin` instances. Inside
    :meth:`class_lookups_kept`, what pluggy found for an attribute that a plugin's class
    defines is kept and reused for the next instance of that class. An attribute of the
    instance itself (in its ``__dict__`` or a slot), a class or a module as plugin, and
    every registration outside that block are looked at by pluggy afresh, so the hook
    implementations found, their options and pluggy's checks (``check_pending``: a marked
    ``kneerules_rule`` is an unknown hook, whatever its name) are pluggy's own."""

    _kept: dict[tuple[type, str], pluggy.HookimplOpts | None] | None = None

    @contextmanager
    def class_lookups_kept(self) -> Iterator[None]:
        """Reuse class attribute lookups across the registrations made in this block (the
        classes must not change meanwhile)."""
        self._kept = {}
        try:
            yield
        finally:
            self._kept = None

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        kept = self._kept
        if kept is None or isinstance(plugin, type | types.ModuleType):
            return super().parse_hookimpl_opts(plugin, name)
        try:
            own = object.__getattribute__(plugin, "__dict__")
        except AttributeError:
            own = {}
        if not isinstance(own, dict) or name in own:
            return super().parse_hookimpl_opts(plugin, name)
        key = (type(plugin), name)
        if key in kept:
            return kept[key]
        found = super().parse_hookimpl_opts(plugin, name)
        if not _is_slot(type(plugin), name):
            kept[key] = found
        return found


def _is_slot(cls: type, name: str) -> bool:
    """Whether ``name`` is a ``__slots__`` entry of ``cls``: its value is the instance's own."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return isinstance(klass.__dict__[name], types.MemberDescriptorType)
    return False


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
    pm = PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in disable:
        pm.set_blocked(name)
    if builtins:
        with pm.class_lookups_kept():
            for name in builtin_plugin_names():
                if pm.is_blocked(name):
                    continue
                module = importlib.import_module(f"{BUILTIN_PACKAGE}.{name}")
                pm.register(module.plugin, name=name)
    # importlib.metadata only when a distribution declares a plugin (see kneerules.entrypoints).
    entry_points = entry_points and entrypoints.every_entry_point(ENTRY_POINT_GROUP) != []
    installed = _entry_points() if entry_points else []
    if entry_points:
        for entry in installed:
            if pm.is_blocked(entry.name):
                continue
            # Loaded one by one first, so that a failure names its plugin (it was "plugin '?'").
            try:
                entry.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                dist = entry.dist.name if entry.dist is not None else "an unknown distribution"
                raise PluginError(entry.name, f"failed to load ({entry.value}, installed by "
                                  f"{dist}): {exc!r}") from exc
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:
            raise PluginError("?", f"an installed plugin failed to load: {exc!r}") from exc
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
    # A misspelt hook name (kneerules_rule instead of kneerules_rules) fails here, loudly.
    pm.check_pending()
    if trace if trace is not None else bool(os.environ.get(TRACE_ENV)):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    import importlib.metadata

    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                  key=lambda entry: entry.name)


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
        elif name in builtins and type(plugin).__module__.startswith("kneerules"):
            version, origin = __version__, "builtin"
        else:
            version, origin = str(getattr(plugin, "version", None) or "0"), "registered"
        version = str(getattr(plugin, "version", None) or version)
        found.append(LoadedPlugin(name, version, hooks, origin, plugin))
    return found


CaseFactsHook = pluggy.HookCaller
