"""Each source under its own supervision: its own thread, its own event loop, its own backoff.

A plugin's :class:`~c2c_hub.subdevices.DeviceSource` is third-party code. :class:`SourceRunner` runs
its ``run(ctx)`` on an event loop of its own, in a daemon thread of its own, so a source that
raises, hangs, or blocks its loop with a synchronous call never stalls the hub or another
source. What the source reports through its context (:class:`SourceContext`) is handed to the
hub's loop: the :class:`~c2c_hub.devices.DeviceRegistry` is only ever touched there. Reports are
queued, in order, and the hub's loop is woken once for all that arrived since it last looked
(one ``loop.call_soon_threadsafe`` per delivery, not one per audio block: a source of 16
inputs or of 1 ms packets posts thousands of blocks a second, and each wake-up of the loop is
a write to its self-pipe and a read on the other side).

The supervision itself runs on the hub's loop, on the hub's clock::

    starting ──> running ──(run raised or returned)──> failed ──> restarting (in N s) ──┐
       ^                                                                                │
       └────────────────────────────────────────────────────────────────────────────────┘
    stop(): running ──(cancelled in time)──> stopped
                    └─(did not stop within the timeout)──> hung (its thread abandoned)

On a failure the source's sub-devices are detached, and it runs again after a capped, jittered
exponential backoff (:class:`RestartPolicy`, tenacity's ``wait_exponential_jitter``); retries
never end, and a run that lasted ``reset_after`` seconds starts the backoff over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock, SystemClock
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.devices import DeviceRegistry
from c2c_hub.subdevices import AudioBlock, DeviceSource, SubDevice
from c2c_hub.tasks import sleep_or_wake

log = logging.getLogger(__name__)

SOURCE_THREAD_PREFIX = "c2c-source:"
#: The parent of every plugin's loggers: ``c2c_hub.plugins.<plugin>.<source>``.
PLUGIN_LOGGER = "c2c_hub.plugins"
SUPERVISE_TASK_PREFIX = "c2c-supervise:"
#: How long a stopped source's leftover tasks get to end before its loop is closed anyway.
SHUTDOWN_GRACE_S = 1.0


class Health(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    RESTARTING = "restarting"
    HUNG = "hung"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RestartPolicy:
    """How long a failed source waits before it runs again (the policy is data)."""

    initial: float = 1.0
    max: float = 60.0
    exp_base: float = 2.0
    jitter: float = 1.0
    #: A run that lasted this long counts as healthy: the next failure waits ``initial`` again.
    reset_after: float = 60.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (counted from 1)."""
        wait = wait_exponential_jitter(
            multiplier=self.initial, max=self.max, exp_base=self.exp_base, jitter=self.jitter
        )
        return backoff_delay(wait, failures)


@dataclass(frozen=True)
class _Outcome:
    kind: Literal["returned", "raised", "cancelled"]
    error: BaseException | None = None


def describe_error(exc: BaseException) -> str:
    """``Type: message``, on one line, as the host reports a plugin's exceptions."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Context:
    """A :class:`~c2c_hub.subdevices.SourceContext` for one run of one source.

    Its methods are called on the source's thread; each checks its arguments there (a bad call
    is logged once and dropped, never raised) and posts the call to the hub's loop. Calls from
    a run that has ended (a leaked thread of a failed run, say) are dropped on arrival.
    """

    def __init__(self, runner: SourceRunner, attempt: int) -> None:
        self._runner = runner
        self.attempt = attempt
        self.closed = False
        self._warned: set[tuple[str, str]] = set()

    @property
    def plugin(self) -> str:
        return self._runner.plugin

    @property
    def models(self) -> DeviceModelRegistry:
        return self._runner.models

    @property
    def options(self) -> Mapping[str, Any]:
        return self._runner.options

    @property
    def log(self) -> logging.Logger:
        return self._runner.source_log

    def _drop(self, what: str, why: str, mistake: str | None = None) -> None:
        """Log ``why`` once per ``mistake`` (``why`` itself by default) of a kind of call, not
        once per audio block."""
        key = (what, why if mistake is None else mistake)
        if key not in self._warned:
            self._warned.add(key)
            self._runner.source_log.warning("%s dropped: %s", what, why)

    def _post(self, action: Callable[..., Any], *args: Any) -> None:
        if not self.closed:
            self._runner._post(self._runner._deliver, self.attempt, action, *args)

    def attach(self, device: SubDevice) -> None:
        if not isinstance(device, SubDevice):
            self._drop("attach", f"expected a SubDevice, got {type(device).__name__}")
            return
        registry, key = self._runner.registry, self._runner.key
        self._post(registry.attach, key, device)

    def detach(self, serial: str, reason: str) -> None:
        if not isinstance(serial, str):
            self._drop("detach", f"serial must be a str, got {type(serial).__name__}")
            return
        self._post(self._runner.registry.detach, self._runner.key, serial, str(reason))

    def audio(self, serial: str, block: AudioBlock) -> None:
        if not isinstance(serial, str) or not isinstance(block, AudioBlock):
            self._drop("audio", "expected audio(serial: str, block: AudioBlock)")
            return
        if not isinstance(block.samples, np.ndarray) or block.samples.dtype != np.int32:
            self._drop("audio", "AudioBlock.samples must be a numpy int32 array")
            return
        shape = block.samples.shape
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] < 1):
            # (frames,) or (frames, channels): any other shape would reach the recorder, the
            # mix and the meters, each of which would fail on it for every track
            why = f"AudioBlock.samples must be (frames,) or (frames, channels), not {shape}"
            self._drop("audio", why, mistake="shape")  # the shape names the frames: not the key
            return
        self._post(self._runner.registry.audio, self._runner.key, serial, block)

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        if not isinstance(serial, str) or not isinstance(input_index, int):
            self._drop("press", "expected press(serial: str, input_index: int, at=None)")
            return
        if at is not None and not isinstance(at, int | float):
            self._drop("press", f"at must be epoch seconds or None, got {type(at).__name__}")
            return
        when = None if at is None else float(at)
        self._post(self._runner.registry.press, self._runner.key, serial, input_index, when)

    def report(self, healthy: bool, detail: str) -> None:
        self._post(self._runner._reported, bool(healthy), str(detail))


class SourceRunner:
    """Runs one plugin's source in its own thread and event loop, restarting it when it fails.

    :param plugin: the plugin's name; the source's devices are reported as
        ``f"{plugin}:{source.name}"`` (:attr:`key`).
    :param options: the plugin's options (the source gets a read-only copy).
    :param clock: the hub's clock, for the backoff and the health timestamps.
    """

    def __init__(
        self,
        plugin: str,
        source: DeviceSource,
        registry: DeviceRegistry,
        *,
        models: DeviceModelRegistry,
        options: Mapping[str, Any],
        clock: Clock | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.plugin = plugin
        self.source = source
        self.registry = registry
        self.models = models
        self.options: Mapping[str, Any] = MappingProxyType(copy.deepcopy(dict(options)))
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or RestartPolicy()
        self.key = f"{plugin}:{source.name}"
        # One name per plugin everywhere: its loggers are named for it (and the source).
        self.source_log = logging.getLogger(f"{PLUGIN_LOGGER}.{plugin}.{source.name}")
        # health
        self.state = Health.STOPPED
        self.since = self.clock.now()
        self.restarts = 0
        self.failures = 0  # in a row
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.restart_at: float | None = None
        self.reported: dict[str, Any] | None = None
        # machinery
        self._hub_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the source's own
        self._thread: threading.Thread | None = None
        self._thread_done: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None  # _supervise, on the hub's loop
        self._source_task: asyncio.Task[None] | None = None  # run(ctx), on the source's loop
        self._stopping = asyncio.Event()
        self._attempt = 0
        self._live: _Context | None = None
        self._started = False
        # reports from the source's thread, in order, for the hub's loop (see _post)
        self._inbox: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._inbox_lock = threading.Lock()
        self._wake_posted = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the source's thread and its first run; returns at once."""
        if self._started:
            raise RuntimeError(f"source {self.key} was already started")
        self._started = True
        self._hub_loop = asyncio.get_running_loop()
        self._thread_done = self._hub_loop.create_future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._thread_main, name=f"{SOURCE_THREAD_PREFIX}{self.key}", daemon=True
        )
        self._thread.start()
        self._set(Health.STARTING)
        self._task = self._hub_loop.create_task(
            self._supervise(), name=f"{SUPERVISE_TASK_PREFIX}{self.key}"
        )
        self._task.add_done_callback(self._supervise_ended)

    # The timeout is the source's grace period, not the caller's deadline: wrapping stop() in
    # asyncio.timeout would cancel it midway and leave the source's devices attached.
    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Cancel the run, wait up to ``timeout`` s, detach the source's devices. Never hangs.

        A source still running after ``timeout`` is marked hung and its daemon thread abandoned.
        """
        task, self._task = self._task, None
        if task is None:
            return
        assert self._hub_loop is not None and self._loop is not None
        deadline = self._hub_loop.time() + timeout
        self._stopping.set()
        self._in_source_loop(self._cancel_source_task)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        hung = not done
        if hung:
            task.cancel()  # it only waits for the source: nothing to clean up on this side
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.warning(
                "plugin %s: source %s did not stop within %g s: marked hung, its thread abandoned",
                self.plugin,
                self.source.name,
                timeout,
            )
        self._close_live()
        self.registry.detach_source(self.key, "source hung" if hung else "source stopped")
        self._in_source_loop(self._loop.stop)
        if hung:
            self._set(Health.HUNG)
            return
        assert self._thread_done is not None
        grace = max(deadline - self._hub_loop.time(), 0.0) + 0.1
        await asyncio.wait({self._thread_done}, timeout=grace)
        self._set(Health.STOPPED)

    # ------------------------------------------------------------------ supervision (hub loop)
    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            self._attempt += 1
            ctx = _Context(self, self._attempt)
            self._live = ctx
            self._set(Health.STARTING)
            began = self.clock.now()
            outcome = await asyncio.wrap_future(self._submit(ctx))
            if self._stopping.is_set():
                if outcome.kind == "raised":
                    log.warning(
                        "plugin %s: source %s raised while stopping: %s",
                        self.plugin,
                        self.source.name,
                        describe_error(outcome.error) if outcome.error else "?",
                    )
                return
            self._close_live()
            if self.clock.now() - began >= self.policy.reset_after:
                self.failures = 0
            self.failures += 1
            self._failed(outcome)
            delay = self.policy.delay(self.failures)
            self.restart_at = self.clock.now() + delay
            self._set(Health.RESTARTING)
            log.info(
                "plugin %s: source %s restarts in %.1f s", self.plugin, self.source.name, delay
            )
            if await sleep_or_wake(self.clock, delay, self._stopping):
                return
            self.restart_at = None
            self.restarts += 1

    def _failed(self, outcome: _Outcome) -> None:
        if outcome.kind == "raised" and outcome.error is not None:
            error = describe_error(outcome.error)
        elif outcome.kind == "cancelled":
            error = "run was cancelled, but not by the hub"
        else:
            error = "run returned (a source runs until it is cancelled)"
        self.last_error, self.last_error_at = error, self.clock.now()
        self._set(Health.FAILED)
        log.error(
            "plugin %s: source %s failed (%d in a row): %s",
            self.plugin,
            self.source.name,
            self.failures,
            error,
            # the traceback once per streak, not every minute of a source that keeps failing
            exc_info=outcome.error if self.failures == 1 else None,
        )
        self.registry.detach_source(self.key, f"source failed: {error}")

    def _supervise_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "plugin %s: the supervision of source %s crashed",
                self.plugin,
                self.source.name,
                exc_info=task.exception(),
            )

    def _close_live(self) -> None:
        if self._live is not None:
            self._live.closed = True
            self._live = None

    def _set(self, state: Health) -> None:
        if state is not self.state:
            log.debug("source %s: %s -> %s", self.key, self.state.value, state.value)
        self.state, self.since = state, self.clock.now()

    # ------------------------------------------------------------------ calls into the hub
    def _post(self, callback: Callable[..., Any], *args: Any) -> None:
        """From any thread: run ``callback(*args)`` on the hub's loop (dropped if it is gone).

        Calls are queued in order; the loop is woken only when the queue was empty, so a burst
        of audio blocks costs one wake-up and one callback on the hub's loop (:meth:`_drain`).
        """
        assert self._hub_loop is not None
        with self._inbox_lock:
            self._inbox.append((callback, args))
            if self._wake_posted:
                return
            self._wake_posted = True
        try:
            self._hub_loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the hub's loop is closed: nobody to tell
            with self._inbox_lock:
                self._inbox.clear()
                self._wake_posted = False

    def _drain(self) -> None:
        """On the hub's loop: every call queued since the last drain, in the order posted."""
        with self._inbox_lock:
            calls, self._inbox = self._inbox, []
            self._wake_posted = False
        for callback, args in calls:
            try:
                callback(*args)
            except Exception:
                log.exception("source %s: the hub failed to take a call", self.key)

    def _deliver(self, attempt: int, action: Callable[..., Any], *args: Any) -> None:
        """On the hub's loop: a source's report, if it comes from the live run."""
        if self._live is None or self._live.attempt != attempt:
            log.debug("source %s: a call from an ended run dropped", self.key)
            return
        try:
            action(*args)
        except Exception:
            log.exception("source %s: the hub failed to take a report", self.key)

    def _reported(self, healthy: bool, detail: str) -> None:
        previous = self.reported
        self.reported = {"healthy": healthy, "detail": detail[:200], "at": self.clock.now()}
        if previous is None or previous["healthy"] != healthy or previous["detail"] != detail:
            level = logging.INFO if healthy else logging.WARNING
            log.log(
                level,
                "source %s reports %s: %s",
                self.key,
                "healthy" if healthy else "unhealthy",
                detail,
            )

    def _running(self, attempt: int) -> None:
        if self._live is not None and self._live.attempt == attempt:
            if self.state is Health.STARTING:
                self._set(Health.RUNNING)

    # ------------------------------------------------------------------ the source's thread
    def _in_source_loop(self, callback: Callable[[], Any]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # its loop already closed
            self._loop.call_soon_threadsafe(callback)

    def _submit(self, ctx: _Context) -> concurrent.futures.Future[_Outcome]:
        """Start ``run(ctx)`` on the source's loop; the future resolves when it has ended."""
        assert self._loop is not None
        loop = self._loop
        done: concurrent.futures.Future[_Outcome] = concurrent.futures.Future()

        def finished(task: asyncio.Task[None]) -> None:
            if done.cancelled():  # the hub stopped waiting (it is shutting down): nobody to tell
                return
            if task.cancelled():
                done.set_result(_Outcome("cancelled"))
            elif (error := task.exception()) is not None:
                done.set_result(_Outcome("raised", error))
            else:
                done.set_result(_Outcome("returned"))

        def create() -> None:  # on the source's thread
            try:
                task = loop.create_task(
                    self.source.run(ctx), name=f"{SOURCE_THREAD_PREFIX}{self.key}#{ctx.attempt}"
                )
            except Exception as exc:  # run() itself raised before giving a coroutine
                done.set_result(_Outcome("raised", exc))
                return
            self._source_task = task
            task.add_done_callback(finished)
            self._post(self._running, ctx.attempt)

        try:
            loop.call_soon_threadsafe(create)
        except RuntimeError as exc:  # the loop is closed (its thread died)
            done.set_result(_Outcome("raised", exc))
        return done

    def _cancel_source_task(self) -> None:  # on the source's thread
        task = self._source_task
        if task is not None and not task.done():
            task.cancel()

    def _thread_main(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            _shutdown(loop)
        except Exception:
            log.exception("source %s: its event loop failed", self.key)
        finally:
            loop.close()
            asyncio.set_event_loop(None)
            self._post(self._thread_finished)

    def _thread_finished(self) -> None:
        if self._thread_done is not None and not self._thread_done.done():
            self._thread_done.set_result(None)

    # ------------------------------------------------------------------ reading
    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def snapshot(self) -> dict[str, Any]:
        now = self.clock.now()
        restart_in = None
        if self.state is Health.RESTARTING and self.restart_at is not None:
            restart_in = max(0.0, self.restart_at - now)
        return {
            "plugin": self.plugin,
            "source": self.source.name,
            "key": self.key,
            "state": self.state.value,
            "since": self.since,
            "restarts": self.restarts,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "restart_in": restart_in,
            "reported": dict(self.reported) if self.reported else None,
            "devices": sum(1 for a in self.registry if a.source == self.key),
        }


def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does on the way out, bounded: a stubborn task cannot keep it open."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S))
    loop.run_until_complete(loop.shutdown_asyncgens())
    with contextlib.suppress(TimeoutError):
        loop.run_until_complete(
            asyncio.wait_for(loop.shutdown_default_executor(), SHUTDOWN_GRACE_S)
        )


class SourceSupervisor:
    """Every source of the loaded plugins, each under its own :class:`SourceRunner`."""

    def __init__(
        self,
        registry: DeviceRegistry,
        *,
        models: DeviceModelRegistry,
        options_by_plugin: Mapping[str, Mapping[str, Any]],
        clock: Clock | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.registry = registry
        self.models = models
        self.options_by_plugin = options_by_plugin
        self.clock: Clock = clock or SystemClock()
        self.policy = policy
        self._runners: dict[str, SourceRunner] = {}

    async def start(self, sources: Iterable[tuple[str, DeviceSource]]) -> None:
        for plugin, source in sources:
            runner = SourceRunner(
                plugin,
                source,
                self.registry,
                models=self.models,
                options=self.options_by_plugin.get(plugin, {}),
                clock=self.clock,
                policy=self.policy,
            )
            if runner.key in self._runners:
                log.error("plugin %s: a second source named %s is skipped", plugin, source.name)
                continue
            self._runners[runner.key] = runner
            await runner.start()

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (a grace period)
        """Stop every source at once; returns within about ``timeout`` whatever they do."""
        results = await asyncio.gather(
            *(runner.stop(timeout) for runner in self._runners.values()), return_exceptions=True
        )
        for runner, result in zip(self._runners.values(), results, strict=True):
            if isinstance(result, BaseException):
                log.error("source %s: stop failed", runner.key, exc_info=result)

    @property
    def runners(self) -> list[SourceRunner]:
        return list(self._runners.values())

    def get(self, key: str) -> SourceRunner | None:
        return self._runners.get(key)

    def snapshot(self) -> list[dict[str, Any]]:
        return [runner.snapshot() for runner in self._runners.values()]
