"""One tracker per remote (by BLE address): connect, subscribe, decode presses, reconnect.

States (:class:`RemoteState`)::

    waiting ──(it advertises)──► connecting ──► connected ──(link drops)──► lost
       ▲                           │    ▲                                  │
       │                           ▼    │                                  │ it advertises:
       ├──(N attempts failed)── backoff ┘                                  │ connecting ...
       └───────────────(not reconnected within reconnect_grace_s: detach)──┘

A connection attempt is tried up to ``connect_attempts`` times with capped, jittered backoff
(:class:`~c2c_hub_plugins.ble_remotes.options.BackoffPolicy`); then the tracker waits for the
remote to
advertise again, and the backoff goes on from where it was until a connection succeeds.
Nothing a remote sends makes a tracker raise: bad notifications are logged and dropped. The
source keeps its trackers in a :class:`~c2c_hub.kit.TrackerPool`, which also holds the claims: one
remote per serial, whatever address it advertises from. The link itself (a drop told apart from
the tracker's own close, the close that never hangs, the grace) is a
:class:`~c2c_hub.kit.LinkKeeper`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from c2c_hub import kit
from c2c_hub_plugins.ble_remotes.options import Options
from c2c_hub_plugins.ble_remotes.protocol import PayloadError, decode_notification, serial_from
from c2c_hub_plugins.ble_remotes.radio import (
    Advertisement,
    ConnectFailed,
    RadioError,
    RemoteConnection,
    RemoteRadio,
)

DETACH_REASON = "disconnected"


class RemoteState(StrEnum):
    WAITING = "waiting"  # not connected; the next advertisement starts a connection
    CONNECTING = "connecting"
    BACKOFF = "backoff"  # an attempt failed; the next one is due after the backoff
    CONNECTED = "connected"  # connected, subscribed and attached
    LOST = "lost"  # the link dropped; still attached until the grace ends
    REFUSED = "refused"  # its serial is another connected remote's: not used


class Refused(kit.HubError):
    """This remote cannot be used (the message says why)."""


class RemoteTracker:
    """Follows one remote. Created by the source on the first advertisement that matches a
    model; :meth:`seen` feeds it every later advertisement."""

    def __init__(
        self,
        *,
        ctx: kit.SourceContext,
        radio: RemoteRadio,
        model: kit.DeviceModel,
        adv: Advertisement,
        options: Options,
        clock: kit.Clock,
        pool: kit.TrackerPool[str, RemoteTracker],
        on_state: Callable[[], None],
    ) -> None:
        ble = model.discovery.ble
        assert ble is not None and ble.button_characteristic is not None
        self.ctx = ctx
        self.radio = radio
        self.model = model
        self.address = adv.address
        self.characteristic = ble.button_characteristic
        serial = serial_from(adv, model)
        self.serial_from_address = serial is None
        self.serial = serial or adv.address
        self.name = adv.name or f"{model.name} {self.serial}"
        self.rssi = adv.rssi
        self.state = RemoteState.WAITING
        self.reason = ""
        self.device: kit.SubDevice | None = None  # attached (connected, or lost within the grace)
        self.counters: dict[str, int] = {
            "connects": 0,
            "connect_failures": 0,
            "links_lost": 0,
            "presses": 0,
            "duplicates": 0,
            "garbage": 0,
            "unknown_codes": 0,
        }
        self.advertised = asyncio.Event()
        self._options = options
        self._policy = options.backoff
        self._clock = clock
        self._pool = pool
        self._on_state = on_state
        # The drop that came with a lost link was reported as an "advertisement" by BlueZ
        # scans: only advertisements after the drop mean the remote is back.
        self._link: kit.LinkKeeper[RemoteConnection] = kit.LinkKeeper(
            clock=clock, name=f"ble-remotes {self.address} grace", on_drop=self.advertised.clear
        )
        self._failures = 0  # failed attempts in a row, across waits for an advertisement
        self._last_counter: int | None = None  # kept across reconnects: a re-sent press is a dup
        self._early: list[tuple[int, float]] = []  # presses notified before the attach

    # ------------------------------------------------------------------ control (sync)
    def seen(self, adv: Advertisement) -> None:
        """An advertisement (or a change of one) from this remote: only schedules work."""
        if adv.name and adv.name != self.name and self.device is None:
            self.name = adv.name
        if adv.rssi is not None:
            self.rssi = adv.rssi
        self.advertised.set()

    def retired(self, reason: str) -> None:
        """The pool let it go (its task crashed): detach its remote now."""
        self._link.cancel_grace()
        self._detach(reason)

    def release(self, why: str) -> None:
        """Another tracker now holds this one's serial (the remote changed address)."""
        self._link.cancel_grace()
        if self.device is not None:
            self.ctx.log.info("%s: %s", self._label, why)
        self.device = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "serial": self.serial,
            "name": self.name,
            "model": self.model.name,
            "state": self.state.value,
            "reason": self.reason,
            "rssi": self.rssi,
            **self.counters,
        }

    @property
    def connected(self) -> bool:
        return self.state is RemoteState.CONNECTED

    @property
    def _label(self) -> str:
        return f"remote {self.serial} ({self.address})"

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        try:
            while True:
                await self.advertised.wait()
                try:
                    connected = await self._connect_with_retry()
                except Refused as exc:
                    self._set_state(RemoteState.REFUSED, str(exc))
                    self.ctx.log.warning("%s: not used: %s", self._label, exc)
                    return
                if not connected:
                    continue
                await self._link.lost.wait()
                self._lost()
                await self._link.close()  # bleak frees a dropped link's bus only on disconnect()
        finally:
            await self._link.finish()

    async def _connect_with_retry(self) -> bool:
        """One round of up to ``connect_attempts`` attempts; True once connected and attached."""
        attempts = self._options.connect_attempts
        if self._failures:  # the last round failed: the backoff goes on
            await self._backoff(self._policy.delay(self._failures))
        for attempt in range(1, attempts + 1):
            self.advertised.clear()
            try:
                await self._connect_once()
            except ConnectFailed as exc:
                self._failures += 1
                self.counters["connect_failures"] += 1
                delay = self._policy.after(exc, self._failures)
                if delay is None or attempt == attempts:
                    self.ctx.log.warning(
                        "%s: cannot connect (%s) after %d attempt%s; waiting for it to "
                        "advertise again",
                        self._label,
                        exc,
                        attempt,
                        "" if attempt == 1 else "s",
                    )
                    self.advertised.clear()  # our own attempts' property changes do not count
                    self._set_state(RemoteState.WAITING, str(exc))
                    return False
                self.ctx.log.info(
                    "%s: connect attempt %d/%d failed (%s); next in %.2f s",
                    self._label,
                    attempt,
                    attempts,
                    exc,
                    delay,
                )
                await self._backoff(delay, str(exc))
                continue
            self._failures = 0
            return True
        return False  # pragma: no cover - the loop always returns

    async def _backoff(self, delay: float, reason: str | None = None) -> None:
        self._set_state(RemoteState.BACKOFF, reason)
        await self._clock.sleep(delay)

    async def _connect_once(self) -> None:
        self._set_state(RemoteState.CONNECTING)
        self._link.opening()
        try:
            conn = await self.radio.connect(
                self.address,
                on_disconnect=self._link.on_disconnect,
                timeout_s=self._options.connect_timeout_s,
            )
        except ConnectFailed:
            raise
        except RadioError as exc:  # the radio went away under us: count it as a failed attempt
            raise ConnectFailed(str(exc)) from exc
        self._link.open(conn)
        try:
            await conn.start_notify(self.characteristic, self._on_notify)
            if self._link.lost.is_set():
                raise ConnectFailed("the link dropped while subscribing")
            self._attach()
        except BaseException:
            await self._link.close()
            raise
        self.counters["connects"] += 1
        self._set_state(RemoteState.CONNECTED, "")
        self.ctx.log.info("%s: connected and subscribed", self._label)
        self._flush_early()

    # ------------------------------------------------------------------ radio callbacks (sync)
    def _on_notify(self, data: bytes) -> None:
        at = self._clock.now()
        try:
            notification = decode_notification(data)
        except PayloadError as exc:
            self.counters["garbage"] += 1
            self.ctx.log.warning(
                "%s sent garbage %s: %s; ignored", self._label, data.hex(" ") or "(empty)", exc
            )
            return
        if notification.counter == self._last_counter:
            self.counters["duplicates"] += 1
            self.ctx.log.debug(
                "%s: duplicate notification %s (counter %d); dropped",
                self._label,
                data.hex(" "),
                notification.counter,
            )
            return
        self._last_counter = notification.counter
        button = self.model.input_by_code(notification.code)
        if button is None:
            self.counters["unknown_codes"] += 1
            codes = ", ".join(str(i.code) for i in self.model.inputs if i.code is not None)
            self.ctx.log.warning(
                "remote %s sent code %d, which %s does not declare (codes %s); ignored",
                self.serial,
                notification.code,
                self.model.name,
                codes or "none",
            )
            return
        self.counters["presses"] += 1
        if self.device is None:  # notified between the subscription and the attach
            self._early.append((button.index, at))
            return
        self.ctx.press(self.serial, button.index, at=at)

    def _flush_early(self) -> None:
        early, self._early = self._early, []
        for index, at in early:
            self.ctx.press(self.serial, index, at=at)

    # ------------------------------------------------------------------ attach, lose, detach
    def _attach(self) -> None:
        owner = self._pool.holder(self.serial)
        if owner is not None and owner is not self:
            if owner.connected:
                raise Refused(
                    f"serial {self.serial} is already connected as {owner.address} "
                    "(two remotes with one serial?)"
                )
            owner.release(f"now connected as {self.address}")
        try:
            device = kit.SubDevice(
                serial=self.serial,
                model_id=self.model.id,
                name=self.name,
                address=self.address,
                details={
                    "serial_from": "address" if self.serial_from_address else "manufacturer data",
                },
            )
        except kit.SubDeviceError as exc:
            raise Refused(str(exc)) from None
        self._link.cancel_grace()
        self._pool.take(self.serial, self.address)
        self.device = device
        self.ctx.attach(device)

    def _lost(self) -> None:
        self.counters["links_lost"] += 1
        grace = self._options.reconnect_grace_s
        self.ctx.log.info(
            "%s: link lost; detached in %g s unless it reconnects", self._label, grace
        )
        self._set_state(RemoteState.LOST, "link lost")
        self._link.start_grace(grace, self._grace_over)

    def _grace_over(self) -> None:
        """The grace after a drop ended: detached, unless it is connected again by now."""
        if self.state is RemoteState.CONNECTED:
            return
        grace = self._options.reconnect_grace_s
        self._set_state(RemoteState.WAITING, f"not reconnected within {grace:g} s")
        self._detach(DETACH_REASON)

    def _detach(self, reason: str) -> None:
        if self.device is None:
            return
        self.device = None
        if self._pool.release(self.serial, self.address):
            self.ctx.detach(self.serial, reason)
        self._on_state()

    # ------------------------------------------------------------------ helpers
    def _set_state(self, state: RemoteState, reason: str | None = None) -> None:
        changed = state is not self.state or (reason is not None and reason != self.reason)
        self.state = state
        if reason is not None:
            self.reason = reason
        if changed:
            self._on_state()
