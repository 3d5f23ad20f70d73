"""The ``ble-remotes`` source: scan, match, one tracker per remote, watchdog, health, clean up.

::

    run ─► start the scan ──(RadioUnavailable)──► report "no BlueZ …", retry in N s ─┐
              ▲   │                                                                  │
              │   └─► scanning: each advertisement matched against the models;       │
              │       a matching address gets a RemoteTracker (plugins/…/tracker.py) │
              │            │                                                         │
              │            └─(nothing at all for scanner_watchdog_s)─► stop the scan ┤
              └──────────────────────────────────────────────────────────────────────┘

The trackers live in a :class:`~c2c_hub.kit.TrackerPool` (one task per address, a serial claimed
by one address at a time, a crashed tracker made again after a backoff, health reported only
when it changes). Cancelling ``run`` stops everything: trackers cancelled (each disconnects its
remote), the scan stopped, no task left behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

from c2c_hub import kit
from c2c_hub_plugins.ble_remotes.options import Options
from c2c_hub_plugins.ble_remotes.protocol import match_model
from c2c_hub_plugins.ble_remotes.radio import Advertisement, RadioUnavailable, RemoteRadio
from c2c_hub_plugins.ble_remotes.tracker import RemoteState, RemoteTracker


def make_radio(options: Options) -> RemoteRadio:
    """The radio the options name: bleak on BlueZ, or a named emulated radio."""
    if options.radio == "emulated":
        from c2c_hub_plugins.ble_remotes.emulated import (
            radio,  # the demo's; imported only when asked for
        )

        return radio(options.emulated_radio)
    from c2c_hub_plugins.ble_remotes.bleak_radio import BleakRadio

    return BleakRadio(options.adapter)


class BleRemoteSource:
    """BLE button remotes: each press becomes ``ctx.press(serial, input_index, at=...)``.

    :param clock: for press timestamps, backoff, grace and the watchdog (tests inject one).
    :param radio: use this radio instead of the one the options name (tests, embedders).
    """

    name = "ble-remotes"

    def __init__(self, *, clock: kit.Clock | None = None, radio: RemoteRadio | None = None) -> None:
        self._clock: kit.Clock = clock or kit.SystemClock()
        self._radio = radio
        self._scan: _Scan | None = None

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)
        models = [
            m
            for m in ctx.models.of_kind(kit.BUTTON_REMOTE)
            if m.discovery.ble is not None and m.discovery.ble.button_characteristic is not None
        ]
        if not models:
            ctx.report(
                False,
                "no button_remote device model declares [discovery.ble] with a "
                "button_characteristic",
            )
            await asyncio.Event().wait()
        radio = self._radio if self._radio is not None else make_radio(options)
        scan = _Scan(ctx, options, models, radio, self._clock)
        self._scan = scan
        try:
            await scan.run()
        finally:
            self._scan = None

    def remotes(self) -> list[dict[str, Any]]:
        """Every remote seen: address, serial, state, reason and counters."""
        return self._scan.snapshot() if self._scan is not None else []

    def status(self) -> dict[str, Any]:
        """The scanner's state: scanning, starts, watchdog restarts, the radio's problem."""
        return self._scan.status() if self._scan is not None else {"scanning": False}


class _Scan:
    """One run of the source: its radio, its scan, its trackers."""

    def __init__(
        self,
        ctx: kit.SourceContext,
        options: Options,
        models: list[kit.DeviceModel],
        radio: RemoteRadio,
        clock: kit.Clock,
    ) -> None:
        self.ctx = ctx
        self.options = options
        self.models = models
        self.radio = radio
        self.clock = clock
        self.scanning = False
        self.unavailable: str | None = None
        self.scan_starts = 0
        self.watchdog_restarts = 0
        self._last_heard = 0.0
        self.pool: kit.TrackerPool[str, RemoteTracker] = kit.TrackerPool(
            ctx, name=BleRemoteSource.name, on_change=self._report
        )
        self._restarting_note = ""

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        try:
            while True:
                if not await self._start_scan():
                    await self.clock.sleep(self.options.unavailable_retry_s)
                    continue
                await self._watch()
                await self._stop_scan()
        finally:
            await self.pool.close()
            await self._stop_scan()

    async def _start_scan(self) -> bool:
        try:
            await self.radio.start_scan(self._on_advertisement)
        except RadioUnavailable as exc:
            reason = str(exc)
            if reason != self.unavailable:
                self.ctx.log.warning(
                    "%s; looking again every %g s", reason, self.options.unavailable_retry_s
                )
            self.unavailable = reason
            self._report()
            return False
        if self.unavailable is not None:
            self.ctx.log.info("%s is back", self.radio.description)
        self.unavailable = None
        self.scanning = True
        self.scan_starts += 1
        self._last_heard = self.clock.now()
        self._report()
        return True

    async def _stop_scan(self) -> None:
        if self.scanning:
            self.scanning = False
            await self.radio.stop_scan()

    async def _watch(self) -> None:
        """Returns when the scan has reported nothing at all for ``scanner_watchdog_s``."""
        limit = self.options.scanner_watchdog_s
        while True:
            quiet = self.clock.now() - self._last_heard
            if quiet >= limit:
                break
            await self.clock.sleep(limit - quiet)
        self.watchdog_restarts += 1
        self.ctx.log.warning(
            "the scanner reported nothing for %.1f s; restarting it (restart %d)",
            quiet,
            self.watchdog_restarts,
        )
        self._restarting_note = f"scanner quiet for {quiet:.1f} s: restarting it"
        self._report()
        self._restarting_note = ""

    # ------------------------------------------------------------------ advertisements (sync)
    def _on_advertisement(self, adv: Advertisement) -> None:
        """Only schedules work: feeds a tracker, or starts one for a new matching remote."""
        self._last_heard = self.clock.now()
        tracker = self.pool.get(adv.address)
        if tracker is not None:
            tracker.seen(adv)
            return
        model = match_model(adv, self.models)
        if model is None:
            return
        tracker = self.pool.start(
            adv.address,
            lambda: RemoteTracker(
                ctx=self.ctx,
                radio=self.radio,
                model=model,
                adv=adv,
                options=self.options,
                clock=self.clock,
                pool=self.pool,
                on_state=self._report,
            ),
        )
        self.ctx.log.info(
            "found %s %r (%s) at %s, serial %s%s",
            model.name,
            tracker.name,
            ", ".join(adv.service_uuids) or "no service UUIDs",
            adv.address,
            tracker.serial,
            " (no serial in its manufacturer data: the address stands in)"
            if tracker.serial_from_address
            else "",
        )
        tracker.seen(adv)

    # ------------------------------------------------------------------ health
    def _report(self) -> None:
        if self.unavailable is not None:
            report = (
                False,
                f"{self.unavailable}; looking again every {self.options.unavailable_retry_s:g} s",
            )
        elif not self.scanning:
            report = (False, f"starting the scan on {self.radio.description}")
        else:
            trackers = list(self.pool)
            connected = sum(1 for t in trackers if t.state is RemoteState.CONNECTED)
            reconnecting = sum(1 for t in trackers if t.state is RemoteState.LOST)
            refused = sum(1 for t in trackers if t.state is RemoteState.REFUSED)
            detail = (
                f"scanning on {self.radio.description}; "
                f"{connected} remote{'' if connected == 1 else 's'} connected"
            )
            if reconnecting:
                detail += f" ({reconnecting} reconnecting)"
            if refused:
                detail += f"; {refused} refused"
            if self._restarting_note:
                detail += f"; {self._restarting_note}"
            elif self.watchdog_restarts:
                detail += f"; scanner restarted {self.watchdog_restarts}x by the watchdog"
            report = (True, detail)
        self.pool.report(*report)

    def snapshot(self) -> list[dict[str, Any]]:
        return [t.snapshot() for t in sorted(self.pool, key=lambda t: t.address)]

    def status(self) -> dict[str, Any]:
        return {
            "scanning": self.scanning,
            "radio": self.radio.description,
            "unavailable": self.unavailable,
            "scan_starts": self.scan_starts,
            "watchdog_restarts": self.watchdog_restarts,
        }
