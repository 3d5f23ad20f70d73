"""The ``mdns-microphones`` source: browse, track each service, report health, clean up."""

from __future__ import annotations

import asyncio
from typing import Any

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from c2c_hub.device_models import DeviceKind, DeviceModel
from c2c_hub.subdevices import SourceContext
from c2c_hub_plugins.mdns_microphones.options import Options, OptionsError
from c2c_hub_plugins.mdns_microphones.tracker import MicState, MicTracker

RESTART_DELAY_S = 1.0


class MdnsMicrophoneSource:
    """Network microphones announced over mDNS, streaming the protocol of
    :mod:`c2c_hub_plugins.mdns_microphones.protocol`.

    One :class:`~c2c_hub_plugins.mdns_microphones.tracker.MicTracker` per service. Options:
    :class:`~c2c_hub_plugins.mdns_microphones.options.Options`.
    """

    name = "mdns-microphones"

    def __init__(self) -> None:
        self._browse: _Browse | None = None

    async def run(self, ctx: SourceContext) -> None:
        try:
            options = Options.from_mapping(ctx.options)
        except OptionsError as exc:
            ctx.report(False, f"bad options: {exc}")
            raise
        models = [
            m for m in ctx.models.of_kind(DeviceKind.MICROPHONE) if m.discovery.mdns is not None
        ]
        if not models:
            ctx.report(False, "no microphone device model declares [discovery.mdns]")
            await asyncio.Event().wait()
        browse = _Browse(ctx, options, models)
        self._browse = browse
        try:
            await browse.run()
        finally:
            self._browse = None

    def microphones(self) -> list[dict[str, Any]]:
        """Every tracked service: state, reason, serial, address and stream counters."""
        return self._browse.snapshot() if self._browse is not None else []


class _Browse:
    """One run of the source: its zeroconf, its browser, its trackers."""

    def __init__(self, ctx: SourceContext, options: Options, models: list[DeviceModel]) -> None:
        self.ctx = ctx
        self.options = options
        self.models = models
        self.types = sorted({m.discovery.mdns.service_type for m in models if m.discovery.mdns})
        self._zc: Zeroconf | None = None
        self._trackers: dict[str, MicTracker] = {}
        self._claims: dict[str, MicTracker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_report: tuple[bool, str] | None = None
        self._restarts: set[asyncio.TimerHandle] = set()

    async def run(self) -> None:
        interfaces = list(self.options.interfaces)
        try:
            aiozc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        except OSError as exc:
            self.ctx.report(False, f"cannot open mDNS on {', '.join(interfaces)}: {exc}")
            raise
        browser: AsyncServiceBrowser | None = None
        try:
            self._zc = aiozc.zeroconf
            browser = AsyncServiceBrowser(aiozc.zeroconf, self.types, handlers=[self._on_change])
            self._report()
            await asyncio.Event().wait()
        finally:
            for handle in self._restarts:
                handle.cancel()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if browser is not None:
                await browser.async_cancel()
            await aiozc.async_close()
            self._zc = None

    def snapshot(self) -> list[dict[str, Any]]:
        return [t.snapshot() for t in sorted(self._trackers.values(), key=lambda t: t.service)]

    # ------------------------------------------------------------------ browser events (sync)
    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        """Only schedules work: a tracker task per service, woken by Added/Updated."""
        if state_change is ServiceStateChange.Removed:
            tracker = self._trackers.pop(name, None)
            if tracker is not None:
                self.ctx.log.info("%s: mDNS goodbye", name)
                tracker.retire("left (mDNS goodbye)")
                self._report()
            return
        tracker = self._trackers.get(name)
        if tracker is not None:
            tracker.changed.set()
            return
        self._track(service_type, name)

    def _track(self, service_type: str, name: str) -> None:
        assert self._zc is not None
        tracker = MicTracker(
            ctx=self.ctx,
            zeroconf=self._zc,
            service_type=service_type,
            service=name,
            models=self.models,
            options=self.options,
            claims=self._claims,
            on_state=self._report,
        )
        self._trackers[name] = tracker
        task = tracker.start()
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(tracker, t))

    def _task_done(self, tracker: MicTracker, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self.ctx.log.error(
            "%s: tracker failed (%r); restarting it", tracker.service, exc, exc_info=exc
        )
        tracker.retire(f"internal error: {exc!r}")
        if self._trackers.get(tracker.service) is tracker:
            del self._trackers[tracker.service]
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None

            def restart() -> None:
                if handle is not None:
                    self._restarts.discard(handle)
                if self._zc is not None and tracker.service not in self._trackers:
                    self._track(tracker.service_type, tracker.service)

            handle = loop.call_later(RESTART_DELAY_S, restart)
            self._restarts.add(handle)

    # ------------------------------------------------------------------ health
    def _report(self) -> None:
        trackers = list(self._trackers.values())
        attached = sum(1 for t in trackers if t.device is not None)
        ignored = sum(1 for t in trackers if t.state in (MicState.IGNORED, MicState.REFUSED))
        waiting = sum(1 for t in trackers if t.device is not None and t.state != MicState.STREAMING)
        detail = (
            f"browsing {', '.join(self.types)} on {', '.join(self.options.interfaces)}; "
            f"{attached} microphone{'' if attached == 1 else 's'}"
        )
        if waiting:
            detail += f" ({waiting} reconnecting)"
        if ignored:
            detail += f"; {ignored} ignored"
        report = (True, detail)
        if report != self._last_report:
            self._last_report = report
            self.ctx.report(*report)
