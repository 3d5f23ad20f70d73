"""The ``hid-remotes`` source: HID-over-GATT remotes found by their 0x1812 advertisement.

::

    advertisement (0x1812, a model matches) ─► HidRemoteTracker (one per address)
        connect ─► read the Report Map, parse it ─► identity (address kind, serial)
        ─► subscribe to every Input Report ─► attach ─► reports ─► presses
        link lost ─► grace ─► detach (unless it reconnects)

A Report Map that does not parse, or a remote with no stable identity, is *refused*: it is
not attached, and the source's health and :meth:`HidRemoteSource.remotes` say why. A report
that does not fit the descriptor is counted and logged, never a press.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from c2c_hub import kit
from c2c_hub_plugins.hid_remotes.descriptor import (
    DescriptorError,
    ReportDescriptor,
    ReportError,
    Usage,
    parse,
    usage_text,
)
from c2c_hub_plugins.hid_remotes.identity import NoIdentity, address_kind, client_id
from c2c_hub_plugins.hid_remotes.options import Options
from c2c_hub_plugins.hid_remotes.presses import HeldKeys
from c2c_hub_plugins.hid_remotes.radio import (
    HID_SERVICE_UUID,
    Advertisement,
    ConnectFailed,
    HidLink,
    HidRadio,
    HidRadioError,
    RadioUnavailable,
)

_ATTEMPTS = 3  # connection attempts in a row before waiting for the remote to advertise


def hid_models(models: list[kit.DeviceModel]) -> list[kit.DeviceModel]:
    """The button-remote models that declare a BLE HID remote: service 0x1812 and usages."""
    return [
        m
        for m in models
        if m.discovery.ble is not None
        and m.discovery.ble.service_uuid == HID_SERVICE_UUID
        and any(i.hid_usages for i in m.inputs)
    ]


def match_model(adv: Advertisement, models: list[kit.DeviceModel]) -> kit.DeviceModel | None:
    """The model ``adv`` matches (HID service advertised, name prefix if any); the one with a
    name prefix wins over one without."""
    uuids = set()
    for u in adv.service_uuids:
        with contextlib.suppress(ValueError):
            uuids.add(str(uuid.UUID(u)))
    if HID_SERVICE_UUID not in uuids:
        return None
    best: kit.DeviceModel | None = None
    for model in models:
        ble = model.discovery.ble
        assert ble is not None
        if ble.name_prefix is not None and not (adv.name or "").startswith(ble.name_prefix):
            continue
        if best is None or (ble.name_prefix is not None):
            best = model
    return best


class State(StrEnum):
    WAITING = "waiting"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    LOST = "lost"
    REFUSED = "refused"


class Refused(kit.HubError):
    """This remote cannot be used; the message says why."""


class HidRemoteTracker:
    """Follows one HID remote (by address)."""

    def __init__(
        self,
        *,
        ctx: kit.SourceContext,
        radio: HidRadio,
        model: kit.DeviceModel,
        adv: Advertisement,
        options: Options,
        clock: kit.Clock,
        pool: kit.TrackerPool[str, HidRemoteTracker],
        on_state: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.radio = radio
        self.model = model
        self.address = adv.address
        self.address_type = adv.address_type
        self.name = adv.name or model.name
        self.serial: str | None = None
        self.state = State.WAITING
        self.reason = ""
        self.report_ids: list[int] = []
        self.device: kit.SubDevice | None = None
        self.counters = {
            "connects": 0,
            "links_lost": 0,
            "presses": 0,
            "reports": 0,
            "bad_reports": 0,
            "unmapped": 0,
        }
        self.advertised = asyncio.Event()
        self._options = options
        self._clock = clock
        self._pool = pool
        self._on_state = on_state
        self._link: kit.LinkKeeper[HidLink] = kit.LinkKeeper(
            clock=clock, name=f"hid-remotes {self.address} grace"
        )
        self._descriptor: ReportDescriptor | None = None
        self._held: HeldKeys[int, Usage] = HeldKeys()
        self._early: list[tuple[int, float]] = []
        self._failures = 0

    # ------------------------------------------------------------------ control
    def seen(self, adv: Advertisement) -> None:
        if adv.address_type is not None:
            self.address_type = adv.address_type
        self.advertised.set()

    def retired(self, reason: str) -> None:
        self._link.cancel_grace()
        self._detach(reason)

    def snapshot(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "address_kind": address_kind(self.address, self.address_type).value,
            "serial": self.serial,
            "name": self.name,
            "model": self.model.name,
            "state": self.state.value,
            "reason": self.reason,
            "report_ids": self.report_ids,
            **self.counters,
        }

    @property
    def _label(self) -> str:
        return f"HID remote {self.name} ({self.address})"

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        try:
            while True:
                await self.advertised.wait()
                self.advertised.clear()
                try:
                    await self._connect()
                except Refused as exc:
                    self._set(State.REFUSED, str(exc))
                    self.ctx.log.warning("%s: not used: %s", self._label, exc)
                    await self._close()
                    # Not again at every advertisement: after a while, if it still advertises.
                    await self._clock.sleep(self._options.unavailable_retry_s)
                    self.advertised.clear()
                    continue
                except ConnectFailed as exc:
                    self._failures += 1
                    self._set(State.WAITING, str(exc))
                    self.ctx.log.info("%s: %s", self._label, exc)
                    await self._close()
                    if exc.retry and self._failures < _ATTEMPTS:
                        await self._clock.sleep(self._options.retry_s)
                        self.advertised.set()
                    else:  # wait for it to advertise again (after a pause)
                        await self._clock.sleep(self._options.retry_s)
                        self.advertised.clear()
                    continue
                self._failures = 0
                await self._link.lost.wait()
                self._link_lost()
                await self._close()
        finally:
            if self._link.link is not None:
                self._held.clear()
            await self._link.finish()

    async def _connect(self) -> None:
        self._set(State.CONNECTING)
        self._link.opening()
        try:
            link = await self.radio.connect(
                self.address,
                on_disconnect=self._link.on_disconnect,
                timeout_s=self._options.connect_timeout_s,
            )
        except ConnectFailed:
            raise
        except HidRadioError as exc:
            raise ConnectFailed(str(exc)) from exc
        self._link.open(link)
        try:
            report_map = await link.read_report_map()
            try:
                self._descriptor = parse(report_map)
            except DescriptorError as exc:
                raise Refused(f"its Report Map does not parse: {exc}") from None
            self._check_usages(self._descriptor)
            serial = await link.read_serial()
            try:
                self.serial = client_id(self.address, self.address_type, serial)
            except NoIdentity as exc:
                raise Refused(str(exc)) from None
            self._held.clear()
            self.report_ids = await link.subscribe_inputs(self._on_report)
            if self._link.lost.is_set():
                raise ConnectFailed("the link dropped while subscribing")
            self._attach()
        except BaseException:
            await self._close()
            raise
        self.counters["connects"] += 1
        self._set(State.CONNECTED, "")
        self.ctx.log.info(
            "%s: connected as %s, input reports %s",
            self._label,
            self.serial,
            ", ".join(str(i) for i in self.report_ids),
        )
        early, self._early = self._early, []
        for index, at in early:
            self.ctx.press(self.serial, index, at=at)

    def _check_usages(self, descriptor: ReportDescriptor) -> None:
        declared = {u for i in self.model.inputs for u in i.hid_usages}
        reachable = {usage_text(u) for u in descriptor.usages()}
        if declared and not declared & reachable:
            raise Refused(
                f"none of {self.model.name}'s usages ({', '.join(sorted(declared))}) is in "
                "its Report Map: not this model?"
            )

    # ------------------------------------------------------------------ callbacks
    def _on_report(self, report_id: int, value: bytes) -> None:
        at = self._clock.now()
        descriptor = self._descriptor
        if descriptor is None:
            return
        self.counters["reports"] += 1
        report = (bytes([report_id]) if descriptor.uses_report_ids else b"") + value
        try:
            _, down = descriptor.decode(report)
        except ReportError as exc:
            self.counters["bad_reports"] += 1
            self.ctx.log.warning(
                "%s sent a report that does not fit its Report Map (%s): %s; ignored",
                self._label,
                report.hex(" "),
                exc,
            )
            return
        for usage in self._held.update(report_id, down):
            button = self.model.input_by_hid_usage(*usage)
            if button is None:
                self.counters["unmapped"] += 1
                self.ctx.log.debug("%s: usage %s is no input", self._label, usage_text(usage))
                continue
            self.counters["presses"] += 1
            if self.device is None or self.serial is None:
                self._early.append((button.index, at))
            else:
                self.ctx.press(self.serial, button.index, at=at)

    # ------------------------------------------------------------------ attach, lose, detach
    def _attach(self) -> None:
        assert self.serial is not None
        owner = self._pool.holder(self.serial)
        if owner is not None and owner is not self:
            if owner.state is State.CONNECTED:
                raise Refused(f"{self.serial} is already connected as {owner.address}")
            owner.device = None
        self._link.cancel_grace()
        if self.device is not None:
            return  # reconnected within the grace: still attached
        device = kit.SubDevice(
            serial=self.serial,
            model_id=self.model.id,
            name=self.name,
            address=self.address,
            details={
                "identity": address_kind(self.address, self.address_type).value,
                "protocol": "HID over GATT",
            },
        )
        self._pool.take(self.serial, self.address)
        self.device = device
        self.ctx.attach(device)

    def _link_lost(self) -> None:
        self.counters["links_lost"] += 1
        self._held.clear()
        grace = self._options.reconnect_grace_s
        self.ctx.log.info("%s: link lost; detached in %g s unless it is back", self._label, grace)
        self._set(State.LOST, "link lost")
        self._link.start_grace(grace, self._grace_over)

    def _grace_over(self) -> None:
        """The grace after a drop ended: detached, unless it is connected again by now."""
        if self.state is not State.CONNECTED:
            self._set(State.WAITING, f"not back within {self._options.reconnect_grace_s:g} s")
            self._detach("disconnected")

    def _detach(self, reason: str) -> None:
        if self.device is None or self.serial is None:
            return
        self.device = None
        if self._pool.release(self.serial, self.address):
            self.ctx.detach(self.serial, reason)
        self._on_state()

    async def _close(self) -> None:
        if self._link.link is not None:
            self._held.clear()
        await self._link.close()

    def _set(self, state: State, reason: str | None = None) -> None:
        changed = state is not self.state or (reason is not None and reason != self.reason)
        self.state = state
        if reason is not None:
            self.reason = reason
        if changed:
            self._on_state()


def make_radio(options: Options) -> HidRadio:
    if options.radio == "emulated":
        from c2c_hub_plugins.hid_remotes.emulated import radio

        return radio(options.emulated_radio)
    from c2c_hub_plugins.hid_remotes.bleak_radio import BleakHidRadio

    return BleakHidRadio(options.adapter)


class HidRemoteSource:
    """HID-over-GATT remotes: each key-down of a declared usage is ``ctx.press``.

    :param clock: for press timestamps, retries and the grace (tests inject one).
    :param radio: use this radio instead of the one the options name.
    """

    name = "hid-remotes"

    def __init__(self, *, clock: kit.Clock | None = None, radio: HidRadio | None = None) -> None:
        self._clock: kit.Clock = clock or kit.SystemClock()
        self._radio = radio
        self._pool: kit.TrackerPool[str, HidRemoteTracker] | None = None
        self._status: dict[str, Any] = {"scanning": False}

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)
        models = hid_models(ctx.models.of_kind(kit.BUTTON_REMOTE))
        if options.radio == "off" or not models:
            ctx.report(
                True,
                "BLE scan off"
                if options.radio == "off"
                else "no button_remote model declares a BLE HID remote (service 0x1812)",
            )
            await asyncio.Event().wait()
        radio = self._radio if self._radio is not None else make_radio(options)
        pool: kit.TrackerPool[str, HidRemoteTracker] = kit.TrackerPool(
            ctx, name=self.name, on_change=lambda: self._report(pool, radio)
        )
        self._pool = pool

        def on_adv(adv: Advertisement) -> None:
            tracker = pool.get(adv.address)
            if tracker is None:
                model = match_model(adv, models)
                if model is None:
                    return
                tracker = pool.start(
                    adv.address,
                    lambda: HidRemoteTracker(
                        ctx=ctx,
                        radio=radio,
                        model=model,
                        adv=adv,
                        options=options,
                        clock=self._clock,
                        pool=pool,
                        on_state=lambda: self._report(pool, radio),
                    ),
                )
                ctx.log.info("found %s %r at %s", model.name, adv.name, adv.address)
            tracker.seen(adv)

        try:
            while True:
                try:
                    await radio.start_scan(on_adv)
                except RadioUnavailable as exc:
                    self._status = {"scanning": False, "unavailable": str(exc)}
                    ctx.report(False, f"{exc}; looking again in {options.unavailable_retry_s:g} s")
                    await self._clock.sleep(options.unavailable_retry_s)
                    continue
                self._status = {"scanning": True, "radio": radio.description}
                self._report(pool, radio)
                await asyncio.Event().wait()
        finally:
            await pool.close()
            await radio.stop_scan()
            self._pool = None

    def _report(self, pool: kit.TrackerPool[str, HidRemoteTracker], radio: HidRadio) -> None:
        trackers = list(pool)
        connected = sum(t.state is State.CONNECTED for t in trackers)
        detail = f"scanning on {radio.description}; {connected} HID remote(s) connected"
        refused = [t for t in trackers if t.state is State.REFUSED]
        for t in refused:
            detail += f"; refused {t.address}: {t.reason}"
        pool.report(not refused, detail)

    def remotes(self) -> list[dict[str, Any]]:
        pool = self._pool
        return [] if pool is None else [t.snapshot() for t in sorted(pool, key=lambda t: t.address)]

    def status(self) -> dict[str, Any]:
        return dict(self._status)
