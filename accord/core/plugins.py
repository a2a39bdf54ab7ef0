"""The plugin manager: accord's built-ins first, then installed plugins.

:func:`get_plugin_manager` builds one :class:`pluggy.PluginManager` per
process, lazily, on first use (importing accord loads no plugin):

1. it declares the hooks of :mod:`accord.core.hookspecs`;
2. it registers accord's own built-ins (:data:`BUILTIN_PLUGINS`) as plugins,
   so they answer through the same hooks a third party uses;
3. it loads every entry point of group ``accord`` (:data:`ENTRY_POINT_GROUP`)
   and registers it under the entry point's name (a module that defines
   ``make_plugin()``: what that returns), unless the environment variable
   ``ACCORD_DISABLE_PLUGINS`` names it (or is ``all``);
4. it registers the modules named in the environment variable
   ``ACCORD_PLUGINS`` (:data:`PLUGINS_ENV`, comma-separated dotted paths,
   e.g. ``accord.contrib.prometheus``), each under its path: the module
   itself, or what its ``make_plugin()`` returns if it has one. Django
   projects can name them in ``ACCORD["PLUGINS"]`` instead (the app
   registers them when Django starts: :func:`load_plugins`).

Failure behaviour:

* a plugin whose entry point fails to import is skipped with an
  :class:`~accord.core.errors.AccordPluginWarning` naming it and the error;
  accord runs with the others (the failure is kept in
  :attr:`AccordPluginManager.failed_plugins`, and "unknown name" errors
  mention it);
* a plugin that implements a hook accord does not declare (a misspelt name),
  or implements one with parameters the spec does not have, raises
  :class:`~accord.core.errors.PluginError` naming the plugin and the hook;
  set ``ACCORD_DISABLE_PLUGINS=<name>`` to run without it;
* a module named in ``ACCORD_PLUGINS`` that cannot be imported raises
  :class:`~accord.core.errors.PluginError` naming it (it was asked for
  explicitly, so it is not skipped);
* an ``ACCORD_DISABLE_PLUGINS`` value that is not ``all`` or a
  comma-separated list of entry-point names raises
  :class:`~accord.core.errors.PluginError`; a name that matches no installed
  plugin gives a warning.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pluggy

from accord.core import hookspecs
from accord.core.errors import AccordPluginWarning, PluginError

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PLUGINS_ENV",
    "AccordPluginManager",
    "emit",
    "emit_to",
    "first_result",
    "get_plugin_manager",
    "load_plugins",
    "notify",
    "observed",
    "observers",
    "reset_plugin_manager",
]

logger = logging.getLogger("accord.plugins")

#: Entry-point group that third-party distributions declare their plugins in.
ENTRY_POINT_GROUP = "accord"
#: Environment variable: ``all``, or comma-separated entry-point names to keep out.
DISABLE_ENV = "ACCORD_DISABLE_PLUGINS"
#: Environment variable: comma-separated dotted module paths to register as plugins.
PLUGINS_ENV = "ACCORD_PLUGINS"
#: accord's own plugins, registered first (so asked last by provider hooks).
BUILTIN_PLUGINS: tuple[str, ...] = (
    "accord.core.ring.hashes",
    "accord.core.lock.backends.memory",
    "accord.core.lock.backends.file",
    "accord.core.lock.backends.redis",
    "accord.core.lock.backends.redis_sentinel",
    "accord.core.lock.backends.zookeeper",
    "accord.core.tpc.builtins",
)

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_HOOK_PREFIX = "accord_"


class AccordPluginManager(pluggy.PluginManager):
    """A :class:`pluggy.PluginManager` that checks plugins as they register.

    Besides functions marked with :data:`accord.hookimpl`, any function whose
    name starts with ``accord_`` counts as a hook implementation, so a
    misspelt hook name fails loudly instead of being ignored.
    """

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Entry-point name -> the exception its import raised.
        self.failed_plugins: dict[str, BaseException] = {}
        #: Entry-point names kept out by ``ACCORD_DISABLE_PLUGINS``.
        self.disabled_plugins: set[str] = set()
        #: The hooks that at least one registered plugin implements, kept up to
        #: date by :meth:`register` and :meth:`unregister`: the hot paths ask
        #: :func:`observed` before they measure anything for an observer.
        self.observed: frozenset[str] = frozenset()
        self.observers: dict[str, tuple[tuple[Any, tuple[str, ...], str], ...]] = {}
        #: First-result hook -> its implementations in call order, as (function,
        #: argument names), or None when a wrapper takes part (see first_result()).
        self.providers: dict[str, tuple[tuple[Any, tuple[str, ...]], ...] | None] = {}
        #: What :func:`emit` calls: per hook, (function, the positions of its
        #: arguments in the spec's order, or None for all of them, plugin name).
        self.positional: dict[str, Observers] = {}

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(_HOOK_PREFIX):
            if not callable(getattr(plugin, name, None)):
                return None
            opts = {
                "wrapper": False,
                "hookwrapper": False,
                "optionalhook": False,
                "tryfirst": False,
                "trylast": False,
                "specname": None,
            }
        return opts

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register *plugin*; raise :class:`PluginError` if one of its hooks is unknown.

        On error the plugin is left unregistered.
        """
        try:
            registered = super().register(plugin, name)
        except ValueError as exc:  # pluggy: name or object already registered
            raise PluginError(
                f"accord plugin {name or plugin!r} cannot be registered: {exc}"
            ) from exc
        except pluggy.PluginValidationError as exc:
            detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise PluginError(
                f"accord plugin {name or _describe(plugin)!r} is invalid: {detail} "
                f"Fix the plugin, or set {DISABLE_ENV}={name or '<its name>'} to run without it."
            ) from exc
        if registered is None:  # blocked
            return None
        try:
            self._check_plugin_hooks(plugin, registered)
        except PluginError:
            self.unregister(plugin)
            raise
        self._refresh_observed()
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister *plugin* (or the one registered as *name*); see pluggy."""
        removed = super().unregister(plugin, name)
        self._refresh_observed()
        return removed

    def _refresh_observed(self) -> None:
        callers = {hook: caller.get_hookimpls() for hook, caller in vars(self.hook).items()}
        # What notify() calls, newest plugin first, looked up once per registration.
        self.observers = {
            hook: tuple((i.function, tuple(i.argnames), i.plugin_name) for i in reversed(impls))
            for hook, impls in callers.items()
            if impls
        }
        self.observed = frozenset(self.observers)
        providers: dict[str, tuple[tuple[Any, tuple[str, ...]], ...] | None] = {}
        for hook, caller in vars(self.hook).items():
            spec = getattr(caller, "spec", None)
            if spec is None or not spec.opts.get("firstresult"):
                continue
            impls = callers[hook]
            if any(i.wrapper or i.hookwrapper for i in impls):
                providers[hook] = None
            else:  # pluggy calls the newest (and tryfirst) implementations first
                providers[hook] = tuple((i.function, tuple(i.argnames)) for i in reversed(impls))
        self.providers = providers
        positional = {}
        for hook, impls in self.observers.items():
            spec = getattr(self.hook, hook).spec
            if spec is None:
                continue
            order = tuple(spec.argnames)
            positional[hook] = tuple(
                (
                    function,
                    None if argnames == order else tuple(order.index(a) for a in argnames),
                    plugin_name,
                )
                for function, argnames, plugin_name in impls
                if set(argnames) <= set(order)
            )
        self.positional = positional

    def _check_plugin_hooks(self, plugin: object, name: str) -> None:
        known = sorted(self.hook.__dict__)
        for caller in self.get_hookcallers(plugin) or ():
            if caller.has_spec():
                if caller.spec is not None and not caller.spec.opts.get("firstresult"):
                    for impl in caller.get_hookimpls():
                        if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                            raise PluginError(
                                f"accord plugin {name!r} implements the observer hook "
                                f"{caller.name!r} as a wrapper; observers are plain functions."
                            )
                continue
            if any(i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin):
                continue
            specs = [n for n in known if self.hook.__dict__[n].has_spec()]
            close = difflib.get_close_matches(caller.name, specs, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PluginError(
                f"accord plugin {name!r} implements unknown hook {caller.name!r}.{hint} "
                f"Known hooks: {', '.join(specs)}. "
                f"Fix the plugin, or set {DISABLE_ENV}={name} to run without it."
            )


def _describe(plugin: object) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def parse_disabled(value: str | None) -> set[str] | None:
    """Parse ``ACCORD_DISABLE_PLUGINS``: ``None`` means all external plugins are out.

    :raises PluginError: the value is neither ``all`` nor a comma-separated
        list of entry-point names.
    """
    if value is None or not value.strip():
        return set()
    names = [part.strip() for part in value.split(",")]
    if [n.lower() for n in names] == ["all"]:
        return None
    bad = [n for n in names if not _NAME_RE.match(n) or n.lower() == "all"]
    if bad:
        raise PluginError(
            f"{DISABLE_ENV}={value!r} is invalid: {', '.join(repr(b) for b in bad)} "
            "is not a plugin name. Accepted: 'all', or entry-point names separated "
            "by commas, e.g. 'accord-statsd,myplugin'."
        )
    return set(names)


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _build() -> AccordPluginManager:
    manager = AccordPluginManager()
    disabled = parse_disabled(os.environ.get(DISABLE_ENV))
    for module_name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    seen: set[str] = set()
    for ep in _entry_points():
        seen.add(ep.name)
        if disabled is None or ep.name in disabled:
            manager.disabled_plugins.add(ep.name)
            continue
        if manager.has_plugin(ep.name):
            dist = ep.dist.name if ep.dist else "an unknown distribution"
            warnings.warn(
                f"accord plugin {ep.name!r} from {dist} ({ep.value}) is skipped: "
                "another plugin is already registered under that name.",
                AccordPluginWarning,
                stacklevel=3,
            )
            continue
        try:
            plugin = _instantiate(ep.load())
        except Exception as exc:
            manager.failed_plugins[ep.name] = exc
            warnings.warn(
                f"accord plugin {ep.name!r} ({ep.value}) failed to import and is skipped: "
                f"{type(exc).__name__}: {exc}. accord runs without it.",
                AccordPluginWarning,
                stacklevel=3,
            )
            continue
        manager.register(plugin, name=ep.name)
    load_plugins(_split(os.environ.get(PLUGINS_ENV, "")), manager=manager, source=PLUGINS_ENV)
    for name in sorted((disabled or set()) - seen):
        warnings.warn(
            f"{DISABLE_ENV} names {name!r}, but no installed accord plugin has that name "
            f"(installed: {', '.join(sorted(seen)) or 'none'}).",
            AccordPluginWarning,
            stacklevel=3,
        )
    return manager


def _instantiate(loaded: object) -> object:
    """The plugin a module stands for: what its ``make_plugin()`` returns, or the module."""
    factory = getattr(loaded, "make_plugin", None) if isinstance(loaded, ModuleType) else None
    return factory() if callable(factory) else loaded


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_plugins(
    paths: Iterable[str],
    *,
    manager: AccordPluginManager | None = None,
    source: str = 'ACCORD["PLUGINS"]',
) -> list[str]:
    """Register the plugin modules at dotted *paths*, each under its path; return the new ones.

    A module is registered itself, or what its ``make_plugin()`` returns if
    it defines one. A path already registered (by an earlier call, or by the
    module's own ``install()``) is left as it is.

    :raises PluginError: a path that is not a dotted module name, or a module
        that cannot be imported; the message names *source* (where the path
        was written) and the error.
    """
    manager = manager or get_plugin_manager()
    added = []
    for path in paths:
        if not isinstance(path, str) or not _MODULE_RE.match(path):
            raise PluginError(
                f"{source} names {path!r}, which is not a module path; accepted: dotted "
                "module paths such as 'accord.contrib.prometheus'."
            )
        if manager.has_plugin(path):
            continue
        try:
            module = importlib.import_module(path)
        except Exception as exc:
            raise PluginError(
                f"{source} names the plugin module {path!r}, which failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        manager.register(_instantiate(module), name=path)
        added.append(path)
    return added


_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_lock = threading.Lock()
_manager: AccordPluginManager | None = None


def get_plugin_manager() -> AccordPluginManager:
    """Return the process's plugin manager, building it on first call.

    Thread-safe; later calls return the same object.

    :raises PluginError: a plugin is invalid, or ``ACCORD_DISABLE_PLUGINS`` is
        malformed (see the module docstring). The manager is then not kept,
        so a later call tries again.
    """
    global _manager
    manager = _manager
    if manager is None:
        with _lock:
            if _manager is None:
                _manager = _build()
            manager = _manager
    return manager


def reset_plugin_manager() -> None:
    """Forget the plugin manager; the next :func:`get_plugin_manager` builds a new one.

    For tests and for processes that install plugins at run time. Objects
    that already asked a provider hook keep what they were given.
    """
    global _manager
    with _lock:
        _manager = None


def first_result(hook_name: str, **kwargs: Any) -> Any:
    """``manager.hook.<hook_name>(**kwargs)`` for a first-result (provider) hook, made cheap.

    The implementations are asked in pluggy's order, each with the keyword
    arguments it names, until one answers something other than None; their
    exceptions propagate, as with pluggy. The order is looked up once per
    registration instead of on every call (pluggy's call costs several
    microseconds); when a wrapper implements the hook, pluggy itself runs it.
    """
    manager = _manager or get_plugin_manager()
    chain = manager.providers.get(hook_name, ())
    if chain is None:
        return getattr(manager.hook, hook_name)(**kwargs)
    for function, argnames in chain:
        result = function(*[kwargs[arg] for arg in argnames])
        if result is not None:
            return result
    return None


def observed(hook_name: str) -> bool:
    """Whether any registered plugin implements the observer hook *hook_name*.

    One set lookup once the manager is built: call it on a hot path before
    measuring something only an observer needs (a latency, a hit count).
    """
    manager = _manager or get_plugin_manager()
    return hook_name in manager.observed


#: What :func:`observers` returns: (function, argument positions or None, plugin name).
Observers = tuple[tuple[Any, tuple[int, ...] | None, str], ...]


def observers(hook_name: str) -> Observers:
    """The implementations of observer hook *hook_name*, empty if none: for :func:`emit_to`.

    For the hottest paths (a cache call): one lookup tells whether to measure
    anything, and gives what to call with the measurements.
    """
    manager = _manager or get_plugin_manager()
    return manager.positional.get(hook_name, ())


def emit(hook_name: str, *args: Any) -> None:
    """:func:`notify` for hot paths: the hook's arguments by position, in the spec's order.

    Same isolation of failures as :func:`notify`, without building a keyword
    dict per event: an implementation that takes all of the spec's arguments
    (in its order) gets *args* as they are.
    """
    manager = _manager or get_plugin_manager()
    emit_to(manager.positional.get(hook_name, ()), hook_name, *args)


def emit_to(impls: Observers, hook_name: str, *args: Any) -> None:
    """:func:`emit` to *impls*, what :func:`observers` returned for *hook_name*."""
    for function, picks, plugin_name in impls:
        try:
            if picks is None:
                function(*args)
            else:
                function(*[args[i] for i in picks])
        except Exception:
            _observer_failed(plugin_name, hook_name)


def _observer_failed(plugin_name: str, hook_name: str) -> None:
    """Log the exception an observer raised (called in its ``except``); the others still run."""
    logger.exception(
        "accord plugin %r failed in %s; the event is not lost for other plugins",
        plugin_name,
        hook_name,
    )


def notify(hook_name: str, **kwargs: Any) -> None:
    """Call the observer hook *hook_name* on every plugin, isolating failures.

    Each implementation gets the keyword arguments it names. One that raises
    is logged with its traceback (logger ``accord.plugins``) and the others
    still run; the caller is never disturbed. Returns at once when no plugin
    implements the hook.
    """
    manager = _manager or get_plugin_manager()
    impls = manager.observers.get(hook_name)
    if not impls:
        return
    for function, argnames, plugin_name in impls:
        try:
            function(*[kwargs[arg] for arg in argnames])
        except Exception:
            _observer_failed(plugin_name, hook_name)
