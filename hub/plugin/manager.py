"""The plugin host: finds plugins, loads each one in isolation, and hands out what they register.

:class:`PluginHost` is the only door between the hub and pluggy. Core code calls its typed
methods (:meth:`~PluginHost.sources`, :meth:`~PluginHost.routes`), never ``pm.hook.x(**loose)``.

Loading (:meth:`PluginHost.load`) is one idempotent function:

1. every entry point of the group ``c2c_hub`` (first-party plugins in ``plugins/`` register
   through the same group as third-party ones);
2. the allow-list (``plugins.allow``: only these load), then the block-list (``plugins.block``,
   through pluggy's ``set_blocked``);
3. each plugin imported on its own daemon thread with a time limit, so one that raises, or hangs,
   at import is reported with its name and entry point, and the others load;
4. each registered plugin checked against the hookspecs (``check_pending``): a misspelled hook
   fails that plugin, loudly, and only that plugin.

Hooks only *register* objects; the host validates each one, and a plugin whose hook raises is
reported without costing the others their registrations. Then, before any source runs:

5. every ``[plugins.options.<name>]`` table must name an installed plugin, by the one name a
   plugin has everywhere (its entry point's name: the options table, its loggers
   ``c2c_hub.plugins.<name>``, ``c2c-hub plugins``): :meth:`PluginHost.check_options` refuses
   the hub's start otherwise, rather than ignore the options;
6. each plugin's kinds of device and device model files join the hub's
   (:meth:`PluginHost.add_device_models`); a plugin whose kind or model is refused fails, alone.

The sources then run under :class:`~c2c_hub.plugin.runner.SourceSupervisor`
(:meth:`PluginHost.start_all`).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import io
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pluggy
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from c2c_hub.clock import Clock
from c2c_hub.device_kinds import DeviceKind, DeviceKindError
from c2c_hub.device_models import DeviceModelError, DeviceModelRegistry, load_device_models
from c2c_hub.devices import DeviceRegistry
from c2c_hub.errors import HubError
from c2c_hub.plugin import spec
from c2c_hub.plugin.runner import RestartPolicy, SourceSupervisor, describe_error
from c2c_hub.settings import PluginSettings
from c2c_hub.subdevices import DeviceSource, QueuedFile, RouteRule, SubDevice

log = logging.getLogger(__name__)

IMPORT_TIMEOUT_S = 10.0
IMPORT_THREAD_PREFIX = "c2c-plugin-import:"
TRACE = "plugin trace:"

PluginState = Literal["loaded", "blocked", "failed", "not allowed"]


class PluginError(HubError, RuntimeError):
    """Something a plugin registered that the host cannot use (the message names the plugin)."""


class PluginSettingsError(PluginError):
    """The ``[plugins]`` settings name a plugin that is not installed: the hub does not start."""


@dataclass
class PluginRecord:
    """What the host knows about one plugin, whatever became of it."""

    name: str
    #: The entry point's value (``package.module[:attr]``), or the registered object's module.
    origin: str
    distribution: str | None = None
    version: str | None = None
    state: PluginState = "loaded"
    #: Why it is not loaded (failed, blocked, not allowed).
    reason: str = ""
    #: Problems met after loading: a hook that raised, a registration that was refused.
    errors: list[str] = field(default_factory=list)
    #: The kinds of device and the device models (by name) it added to the hub's.
    kinds: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    plugin: object | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "distribution": self.distribution,
            "version": self.version,
            "state": self.state,
            "reason": self.reason,
            "errors": list(self.errors),
            "kinds": list(self.kinds),
            "models": list(self.models),
        }


class PluginHost:
    """pluggy's ``PluginManager("c2c_hub")`` behind one typed facade.

    :param settings: the ``[plugins]`` settings: ``allow``, ``block``, ``trace``, ``options``.
    :param group: the entry-point group to load (tests may use their own).
    :param import_timeout: seconds a plugin may take to import before it is reported hung.
    """

    def __init__(
        self,
        settings: PluginSettings | None = None,
        *,
        group: str = spec.ENTRY_POINT_GROUP,
        import_timeout: float = IMPORT_TIMEOUT_S,
    ) -> None:
        self.settings = settings or PluginSettings()
        self.group = group
        self.import_timeout = import_timeout
        self.pm = pluggy.PluginManager(spec.PROJECT)
        self.pm.add_hookspecs(spec)
        self._records: dict[str, PluginRecord] = {}
        self._warned_allow = False
        self.supervisor: SourceSupervisor | None = None
        self._last_sources: list[dict[str, Any]] = []
        for name in self.settings.block:
            self.pm.set_blocked(name)
        if self.settings.trace:
            self.pm.add_hookcall_monitoring(self._trace_before, self._trace_after)

    # ------------------------------------------------------------------ loading
    def load(self) -> list[PluginRecord]:
        """Load every plugin of the entry-point group, by name; again, it loads only new ones.

        Never raises for a plugin's fault: each problem is logged with the plugin's name and
        kept in its record (``c2c-hub plugins`` shows it). Imports block (up to
        ``import_timeout`` each): from async code, call it through ``asyncio.to_thread``.
        """
        allow = self.settings.allow
        found: set[str] = set()
        entry_points = importlib.metadata.entry_points(group=self.group)
        for ep in sorted(entry_points, key=lambda ep: ep.name):  # a stable order, run to run
            found.add(ep.name)
            if ep.name in self._records:
                known = self._records[ep.name]
                if known.origin != ep.value:
                    log.warning(
                        "plugin %s (%s) skipped: the name is already taken by %s",
                        ep.name,
                        ep.value,
                        known.origin,
                    )
                continue
            dist = ep.dist
            record = PluginRecord(
                ep.name,
                ep.value,
                distribution=dist.name if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            self._records[ep.name] = record
            if allow is not None and ep.name not in allow:
                record.state, record.reason = "not allowed", "not in plugins.allow"
                log.info("plugin %s (%s) not loaded: not in plugins.allow", ep.name, ep.value)
                continue
            if self.pm.is_blocked(ep.name):
                record.state, record.reason = "blocked", "in plugins.block"
                log.info("plugin %s (%s) not loaded: in plugins.block", ep.name, ep.value)
                continue
            plugin = self._import(record, ep)
            if plugin is not None:
                self._register(record, plugin)
        self._check_pending()
        if allow is not None and not self._warned_allow:
            self._warned_allow = True
            for name in sorted(set(allow) - found - set(self._records)):
                log.warning("plugins.allow names %s, which is not installed", name)
        return self.records()

    def _import(self, record: PluginRecord, ep: importlib.metadata.EntryPoint) -> object | None:
        """``ep.load()`` on a daemon thread, bounded in time; None (and a report) on failure."""
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["plugin"] = ep.load()
            except BaseException as exc:  # a plugin's SystemExit must not end the hub either
                outcome["error"] = exc

        thread = threading.Thread(
            target=target, name=f"{IMPORT_THREAD_PREFIX}{ep.name}", daemon=True
        )
        thread.start()
        thread.join(self.import_timeout)
        if thread.is_alive():
            self._fail(record, f"hung at import (still importing after {self.import_timeout:g} s)")
            return None
        if "error" in outcome:
            exc: BaseException = outcome["error"]
            self._fail(record, f"failed at import: {describe_error(exc)}", exc)
            return None
        plugin: object = outcome["plugin"]
        return plugin

    def _fail(self, record: PluginRecord, reason: str, exc: BaseException | None = None) -> None:
        record.state, record.reason, record.plugin = "failed", reason, None
        log.error("plugin %s (%s) %s", record.name, record.origin, reason)
        if exc is not None:
            log.debug("plugin %s: traceback", record.name, exc_info=exc)

    def _register(self, record: PluginRecord, plugin: object) -> None:
        try:
            registered = self.pm.register(plugin, name=record.name)
        except Exception as exc:  # pluggy's PluginValidationError, or a plugin registered twice
            self._fail(record, f"refused by the plugin manager: {describe_error(exc)}", exc)
            return
        if registered is None:  # blocked by name
            record.state, record.reason = "blocked", "in plugins.block"
            log.info("plugin %s (%s) not loaded: in plugins.block", record.name, record.origin)
            return
        pending = self._pending(plugin)
        if pending:
            self.pm.unregister(plugin)
            self._fail(record, "; ".join(pending))
            return
        record.state, record.plugin = "loaded", plugin
        if not self.pm.get_hookcallers(plugin):
            log.warning("plugin %s (%s) implements no hooks", record.name, record.origin)
        log.info("plugin %s loaded (%s)", record.name, record.origin)

    def _check_pending(self) -> None:
        """pluggy's own ``check_pending``, as a last net: it names one plugin at a time."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self.pm.get_name(exc.plugin)
                self.pm.unregister(exc.plugin)
                record = self._records.get(name or "")
                if record is None:
                    log.error("a plugin was refused: %s", exc)
                else:
                    self._fail(record, str(exc))

    def _pending(self, plugin: object) -> list[str]:
        """Hookimpls of ``plugin`` with no hookspec: pluggy's ``check_pending``, per plugin."""
        problems = []
        specs = [
            name
            for name, caller in vars(self.pm.hook).items()
            if isinstance(caller, pluggy.HookCaller) and caller.has_spec()
        ]
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not impl.optionalhook:
                    close = difflib.get_close_matches(caller.name, specs, n=1)
                    hint = f" (did you mean {close[0]}?)" if close else ""
                    problems.append(f"unknown hook {caller.name!r}{hint}")
        return problems

    def register_object(self, plugin: object, name: str) -> PluginRecord:
        """Register a plugin object (a module, a class instance) directly: tests, embedders.

        The block-list applies, the allow-list does not (registering is explicit). The same
        checks as for entry points: a misspelled hook fails it, with the record saying why.
        """
        if name in self._records and self._records[name].state == "loaded":
            raise PluginError(f"plugin {name}: a plugin of that name is already loaded")
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        record = PluginRecord(name, str(module))
        self._records[name] = record
        if self.pm.is_blocked(name):
            record.state, record.reason = "blocked", "in plugins.block"
            return record
        self._register(record, plugin)
        return record

    def records(self) -> list[PluginRecord]:
        return list(self._records.values())

    def loaded(self) -> list[PluginRecord]:
        return [r for r in self._records.values() if r.state == "loaded"]

    # ------------------------------------------------------------------ the hooks, typed
    def sources(self) -> list[tuple[str, DeviceSource]]:
        """Every plugin's sources, as (plugin name, source), checked; in loading order.

        Each plugin's ``register_sources`` is called on its own: one that raises is reported
        (and what it registered before raising is dropped) while the others' sources still come.
        """
        found: list[tuple[str, DeviceSource]] = []
        for record in self.loaded():
            names: set[str] = set()

            def check(obj: object, names: set[str] = names) -> str:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name.strip():
                    raise PluginError("has no name (a non-empty str attribute `name`)")
                if name in names:
                    raise PluginError(
                        f"{name!r}: this plugin already registered a source of that name"
                    )
                run = getattr(obj, "run", None)
                if run is None:
                    raise PluginError(f"{name!r} has no run method")
                if not inspect.iscoroutinefunction(run):
                    raise PluginError(f"{name!r}: run must be a coroutine function (async def)")
                names.add(name)
                return name

            found += self._collect(record, "register_sources", "source", check)
        return found

    def routes(self) -> list[tuple[str, RouteRule]]:
        """Every plugin's routing rules, as (plugin name, rule), checked; in loading order."""
        found: list[tuple[str, RouteRule]] = []
        for record in self.loaded():

            def check(obj: object) -> str:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name.strip():
                    raise PluginError("has no name (a non-empty str attribute `name`)")
                route = getattr(obj, "route", None)
                if not callable(route):
                    raise PluginError(f"{name!r} has no route method")
                if inspect.iscoroutinefunction(route):
                    raise PluginError(f"{name!r}: route must be a plain function, not async")
                return name

            found += self._collect(record, "register_routes", "route", check)
        return found

    def _collect(
        self, record: PluginRecord, hook: str, what: str, check: Callable[[object], str]
    ) -> list[tuple[str, Any]]:
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        if not any(impl.plugin is record.plugin for impl in caller.get_hookimpls()):
            return []
        others = [p for p in self.pm.get_plugins() if p is not record.plugin]
        got: list[tuple[str, Any]] = []
        calling = [True]

        def register(obj: object) -> None:
            if not calling[0]:
                raise PluginError(
                    f"plugin {record.name}: {hook}'s register called after the hook returned"
                )
            try:
                name = check(obj)
            except PluginError as exc:
                self._error(record, f"{hook}: {what} {obj!r} refused: {exc}")
                return
            if self.settings.trace:
                log.info("%s %s: plugin %s registered %s %r", TRACE, hook, record.name, what, name)
            got.append((record.name, obj))

        try:
            self.pm.subset_hook_caller(hook, others)(register=register)
        except Exception as exc:
            self._error(
                record, f"{hook} raised {describe_error(exc)}; its registrations are dropped", exc
            )
            return []
        finally:
            calling[0] = False
        return got

    def device_kinds(self) -> list[tuple[str, DeviceKind]]:
        """Every plugin's kinds of device, as (plugin name, kind), checked."""
        found: list[tuple[str, DeviceKind]] = []
        for record in self.loaded():

            def check(obj: object) -> str:
                if not isinstance(obj, DeviceKind):
                    raise PluginError(f"expected a DeviceKind, got {type(obj).__name__}")
                return obj.name

            found += self._collect(record, "register_device_kinds", "kind", check)
        return found

    def device_model_paths(self) -> list[tuple[str, Path]]:
        """Every plugin's device model files or folders, as (plugin name, path), checked."""
        found: list[tuple[str, Path]] = []
        for record in self.loaded():

            def check(obj: object) -> str:
                if not isinstance(obj, str | Path):
                    raise PluginError(f"expected a path, got {type(obj).__name__}")
                if not Path(obj).is_absolute():
                    raise PluginError(
                        "must be an absolute path, e.g. Path(__file__).parent / 'device_models'"
                    )
                return str(obj)

            found += [
                (plugin, Path(path))
                for plugin, path in self._collect(record, "register_device_models", "path", check)
            ]
        return found

    def add_device_models(self, models: DeviceModelRegistry) -> None:
        """Each loaded plugin's kinds, then its device models, into ``models`` (and its kinds).

        A plugin whose kind clashes with another's, or whose model file is bad or declares a
        model id already declared, fails (its sources never start), with a reason that names
        the plugin and the file; the hub and the other plugins go on.
        """
        kinds = self.device_kinds()
        paths = self.device_model_paths()
        for record in self.loaded():
            try:
                for plugin, kind in kinds:
                    if plugin == record.name:
                        models.kinds.register(kind, origin=plugin)
                found = []
                for plugin, path in paths:
                    if plugin == record.name:
                        found += load_device_models(path)
                models.add(found, origin=record.name)
            except (DeviceKindError, DeviceModelError) as exc:
                plugin_object = record.plugin
                self._fail(record, f"its device kinds or models are refused: {exc}")
                if plugin_object is not None:
                    self.pm.unregister(plugin_object)
                continue
            record.kinds = [kind.name for plugin, kind in kinds if plugin == record.name]
            record.models = [model.name for model in found]
            if found:
                log.info(
                    "plugin %s: %d device model(s): %s",
                    record.name,
                    len(found),
                    ", ".join(record.models),
                )

    def check_options(self, options: Mapping[str, object]) -> None:
        """Refuse options for a plugin that is not installed (a typo would be silently ignored).

        Call after :meth:`load` (and any :meth:`register_object`). A plugin is named by its entry
        point's name, the name ``c2c-hub plugins`` shows.
        """
        known = sorted(self._records)
        problems = []
        for name in sorted(set(options) - set(known)):
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean [plugins.options.{close[0]}]?)" if close else ""
            problems.append(f"[plugins.options.{name}] names no installed plugin{hint}")
        if problems:
            raise PluginSettingsError(
                "; ".join(problems)
                + f". Installed plugins (entry-point names): {', '.join(known) or 'none'}"
            )

    def _error(self, record: PluginRecord, problem: str, exc: BaseException | None = None) -> None:
        if problem not in record.errors:  # the hooks may be asked again: say it once in the table
            record.errors.append(problem)
        log.error("plugin %s: %s", record.name, problem)
        if exc is not None:
            log.debug("plugin %s: traceback", record.name, exc_info=exc)

    # ------------------------------------------------------------------ tracing
    @staticmethod
    def _trace_before(
        hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, object]
    ) -> None:
        plugins = ", ".join(impl.plugin_name for impl in impls) or "(none)"
        log.info("%s %s(%s) -> %s", TRACE, hook_name, ", ".join(kwargs), plugins)

    @staticmethod
    def _trace_after(
        outcome: pluggy.Result[object],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, object],
    ) -> None:
        if outcome.exception is not None:
            log.info("%s %s raised %s", TRACE, hook_name, describe_error(outcome.exception))
        else:
            log.info("%s %s returned %r", TRACE, hook_name, outcome.get_result())

    # ------------------------------------------------------------------ running the sources
    async def start_all(
        self,
        registry: DeviceRegistry,
        models: DeviceModelRegistry | None = None,
        options_by_plugin: Mapping[str, Mapping[str, Any]] | None = None,
        clock: Clock | None = None,
        *,
        policy: RestartPolicy | None = None,
    ) -> SourceSupervisor:
        """Start every loaded plugin's sources, each in its own thread (call :meth:`load` first).

        ``options_by_plugin`` defaults to the settings' ``plugins.options``.
        """
        if self.supervisor is not None:
            raise RuntimeError("the plugin sources are already started")
        self.supervisor = SourceSupervisor(
            registry,
            models=models if models is not None else registry.models,
            options_by_plugin=(
                options_by_plugin if options_by_plugin is not None else self.settings.options
            ),
            clock=clock,
            policy=policy,
        )
        await self.supervisor.start(self.sources())
        return self.supervisor

    async def stop_all(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a grace period)
        """Stop every source (in parallel, within about ``timeout``); never hangs."""
        supervisor = self.supervisor
        if supervisor is None:
            return
        try:
            await supervisor.stop(timeout)
        finally:
            self._last_sources = supervisor.snapshot()  # the table still shows how they ended
            self.supervisor = None

    # ------------------------------------------------------------------ what the operator sees
    def snapshot(self) -> list[dict[str, Any]]:
        """Every plugin with its state; loaded ones with their sources' health (if running)."""
        if self.supervisor is not None:
            sources = self.supervisor.snapshot()
        else:
            sources = self._last_sources
        out = []
        for record in self._records.values():
            entry = record.summary()
            entry["sources"] = [s for s in sources if s["plugin"] == record.name]
            out.append(entry)
        return out


def route_file(
    rules: Sequence[tuple[str, RouteRule]], file: QueuedFile, attached: Mapping[str, SubDevice]
) -> tuple[str, str] | None:
    """Ask ``rules`` in order; the first naming an attached serial wins: (rule, serial).

    A rule that raises, or names a serial that is not attached, is logged and skipped.
    """
    for plugin, rule in rules:
        try:
            serial = rule.route(file, attached)
        except Exception as exc:
            log.error(
                "plugin %s: route %s raised %s on %s",
                plugin,
                rule.name,
                describe_error(exc),
                file.name,
            )
            continue
        if serial is None:
            continue
        if serial not in attached:
            log.warning(
                "plugin %s: route %s named %r for %s, which is not attached",
                plugin,
                rule.name,
                serial,
                file.name,
            )
            continue
        return f"{plugin}:{rule.name}", serial
    return None


# ---------------------------------------------------------------------- c2c-hub plugins
def _source_detail(source: Mapping[str, Any]) -> str:
    parts = [f"{source['devices']} device(s)"]
    if source.get("restarts"):
        parts.append(f"{source['restarts']} restart(s)")
    if source.get("restart_in") is not None:
        parts.append(f"restart in {source['restart_in']:.1f} s")
    reported = source.get("reported")
    if reported:
        parts.append(("ok: " if reported["healthy"] else "unhealthy: ") + reported["detail"])
    if source.get("last_error"):
        at = source.get("last_error_at")
        when = f" at {time.strftime('%H:%M:%S', time.localtime(at))}" if at else ""
        parts.append(f"last error{when}: {source['last_error']}")
    return "; ".join(parts)


def format_plugins(snapshot: Sequence[Mapping[str, Any]], *, width: int = 100) -> str:
    """A readable table of :meth:`PluginHost.snapshot` (what ``c2c-hub plugins`` prints)."""
    if not snapshot:
        return f"no plugins installed (entry-point group {spec.ENTRY_POINT_GROUP})\n"
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("plugin", "state", "version", "from", "detail"):
        table.add_column(column, overflow="fold")
    for plugin in snapshot:
        detail = plugin["reason"] or "; ".join(plugin["errors"])
        ships = [f"kind {k}" for k in plugin.get("kinds", [])]
        ships += [f"model {m}" for m in plugin.get("models", [])]
        if ships and plugin["state"] == "loaded":
            detail = "; ".join([*filter(None, [detail]), "ships " + ", ".join(ships)])
        table.add_row(
            Text(plugin["name"]),
            Text(plugin["state"]),
            Text(plugin["version"] or "-"),
            Text(plugin["origin"]),
            Text(detail),
        )
        for source in plugin["sources"]:
            table.add_row(
                Text(f"  source {source['source']}"),
                Text(source["state"]),
                Text(""),
                Text(""),
                Text(_source_detail(source)),
            )
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(table)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())
