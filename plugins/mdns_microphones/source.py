"""The ``mdns-microphones`` source: browse, track each service, report health, clean up.

The trackers live in a :class:`~c2c_hub.kit.TrackerPool`: one task per service, a serial claimed
by one service at a time, a tracker that crashes made again after a backoff, health reported
only when it changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from c2c_hub import kit
from c2c_hub_plugins.mdns_microphones.options import Options
from c2c_hub_plugins.mdns_microphones.tracker import MicState, MicTracker


class MdnsMicrophoneSource:
    """Network microphones announced over mDNS, streaming the protocol of
    :mod:`c2c_hub_plugins.mdns_microphones.protocol`.

    One :class:`~c2c_hub_plugins.mdns_microphones.tracker.MicTracker` per service. Options:
    :class:`~c2c_hub_plugins.mdns_microphones.options.Options`.
    """

    name = "mdns-microphones"

    def __init__(self) -> None:
        self._browse: _Browse | None = None

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)
        models = [m for m in ctx.models.of_kind(kit.MICROPHONE) if m.discovery.mdns is not None]
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

    def __init__(
        self, ctx: kit.SourceContext, options: Options, models: list[kit.DeviceModel]
    ) -> None:
        self.ctx = ctx
        self.options = options
        self.models = models
        self.types = sorted({m.discovery.mdns.service_type for m in models if m.discovery.mdns})
        self._zc: Zeroconf | None = None
        self.pool: kit.TrackerPool[str, MicTracker] = kit.TrackerPool(
            ctx, name=MdnsMicrophoneSource.name, on_change=self._report
        )

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
            await self.pool.close()
            if browser is not None:
                await browser.async_cancel()
            await aiozc.async_close()
            self._zc = None

    def snapshot(self) -> list[dict[str, Any]]:
        return [t.snapshot() for t in sorted(self.pool, key=lambda t: t.service)]

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
            if name in self.pool:
                self.ctx.log.info("%s: mDNS goodbye", name)
                self.pool.retire(name, "left (mDNS goodbye)")
            return
        tracker = self.pool.get(name)
        if tracker is not None:
            tracker.changed.set()
            return
        if self._zc is not None:
            zc = self._zc
            self.pool.start(
                name,
                lambda: MicTracker(
                    ctx=self.ctx,
                    zeroconf=zc,
                    service_type=service_type,
                    service=name,
                    models=self.models,
                    options=self.options,
                    pool=self.pool,
                    on_state=self._report,
                ),
            )

    # ------------------------------------------------------------------ health
    def _report(self) -> None:
        trackers = list(self.pool)
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
        self.pool.report(True, detail)
