"""The hub's networks through NetworkManager: what is in use and why, and the operator's controls.

:class:`NetworkControl` keeps one view of NetworkManager (and ModemManager), read again whenever
either says anything on the bus (a raw ``AddMatch`` on their names; also every ``refresh_s``),
and tells listeners ``"network_changed"`` when the connection carrying the hub's traffic changes:
the hub then reconnects its socket and lets uploads resume, as for any network change.

Operator controls (:meth:`connect`, :meth:`forget`, :meth:`set_priority`, :meth:`set_addressing`)
run one at a time and never leave the hub worse off: a Wi-Fi network is joined through a new
profile that is kept only once NetworkManager has it up (a wrong password, a network gone out of
range or an address another host holds leaves no profile behind), and the previous working
connection is activated again when the new one fails. When the connection in use goes away
(out of range, forgotten) and NetworkManager has not brought another up within ``fallback_s``,
the best saved network in range is joined.

PSKs are registered with the log redaction before anything else, go to NetworkManager only, and
are never kept, returned, logged or put in status or events.

Without a system bus or NetworkManager the controls are off and :meth:`snapshot` says why;
the hub keeps its read-only view (:mod:`c2c_hub.connectivity`). If NetworkManager (re)appears on
the bus, the controls come back by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from dbus_fast import Message

from c2c_hub.clock import Clock, SystemClock
from c2c_hub.logs import register_secret
from c2c_hub.network.bus import DBUS, BusCallError, SystemBus
from c2c_hub.network.errors import ConnectFailed, NetworkRefused, NetworkUnavailable
from c2c_hub.network.model import ACTIVATED, FAILED, Addressing, InUse, Modem, reason_text
from c2c_hub.network.modem import MM, read_modems
from c2c_hub.network.nm import (
    NM,
    NO_PATH,
    NmClient,
    NmView,
    wifi_settings,
    with_changes,
)
from c2c_hub.tasks import cancel_and_wait, wait_event

log = logging.getLogger(__name__)

Listener = Callable[[str], None]
SETTLE_S = 0.5
SCAN_WAIT_S = 8.0  # a full scan of 2.4, 5 and 6 GHz takes NetworkManager a few seconds


def check_psk(psk: str) -> None:
    """WPA2/WPA3 personal: 8 to 63 printable ASCII characters, or 64 hex digits."""
    if len(psk) == 64 and all(c in "0123456789abcdefABCDEF" for c in psk):
        return
    if not 8 <= len(psk) <= 63 or not all(32 <= ord(c) < 127 for c in psk):
        raise NetworkRefused("a Wi-Fi password has 8 to 63 printable ASCII characters")


def check_ssid(ssid: str) -> None:
    if not 1 <= len(ssid.encode()) <= 32:
        raise NetworkRefused("an SSID has 1 to 32 bytes")


class NetworkControl:
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        refresh_s: float = 15.0,
        activation_timeout_s: float = 45.0,
        fallback_s: float = 10.0,
    ) -> None:
        self.clock = clock or SystemClock()
        self.refresh_s = refresh_s
        self.activation_timeout_s = activation_timeout_s
        self.fallback_s = fallback_s
        self.bus = SystemBus()
        self.nm = NmClient(self.bus)
        self.view: NmView | None = None
        self.modems: list[Modem] = []
        # Reads of NetworkManager are numbered as they start, and a read is shown only if none
        # that started after it has been: the watch's read that began before a control's write
        # and ended after it would otherwise put the old settings back in the status.
        self._reads_started = 0
        self._shown_read = 0
        self.available = False
        self.reason: str | None = "not started"
        self.last_action: dict[str, Any] | None = None
        self.busy: str | None = None
        self._listeners: list[Listener] = []
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._fallback_task: asyncio.Task[None] | None = None
        self._in_use_key: tuple[str, str] | None = None
        self._chosen: dict[str, str] = {}  # uuid -> why (the operator's choice)
        self._last_good: str | None = None  # uuid of the last connection that was up

    # ------------------------------------------------------------------ lifecycle
    def on_change(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def start(self) -> None:
        if not await self._attach():
            log.info("network controls off: %s", self.reason)
            return
        await self._refresh()
        self._task = asyncio.create_task(self._run(), name="network-control")

    async def _attach(self) -> bool:
        """Connect to the system bus and hear NetworkManager and ModemManager (and their names
        coming and going); False (and why, in ``reason``) when there is no bus."""
        self.bus.disconnect()
        try:
            await self.bus.connect()
            self.bus.on_signal(self._signal)
            for name in (NM, MM):
                await self.bus.add_match(f"type='signal',sender='{name}'")
                await self.bus.add_match(
                    f"type='signal',sender='{DBUS}',member='NameOwnerChanged',arg0='{name}'"
                )
        except NetworkUnavailable as exc:
            self.bus.disconnect()
            self._off(str(exc))
            return False
        return True

    async def stop(self) -> None:
        await cancel_and_wait(self._fallback_task)
        await cancel_and_wait(self._task)
        self._task = self._fallback_task = None
        self.bus.disconnect()

    def _signal(self, message: Message) -> None:
        if message.member == "NameOwnerChanged" and message.body and message.body[0] == NM:
            if not message.body[2]:
                self._off("NetworkManager left the system bus (stopped or restarting)")
                log.warning("NetworkManager left the system bus")
            else:
                log.info("NetworkManager is on the system bus")
        self._dirty.set()

    def _off(self, reason: str) -> None:
        was = self.available
        self.available = False
        self.reason = reason
        if was:
            self._tell("network_changed")

    def _tell(self, reason: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(reason)
            except Exception:
                log.exception("network listener failed")

    async def _run(self) -> None:
        while True:
            await wait_event(self._dirty, self.refresh_s)
            # A burst of signals (a scan moves every access point's strength) is one read, and
            # reads are at most every SETTLE_S: the recorder's CPU is for audio.
            await asyncio.sleep(SETTLE_S)
            self._dirty.clear()
            try:
                await self._refresh()
            except Exception:  # an answer we cannot read must not end the watch
                log.exception("reading NetworkManager failed")

    async def _refresh(self) -> None:
        if not self.bus.connected and not await self._attach():
            return  # the system bus itself went away (a restart of dbus): next round retries
        try:
            if not await self.bus.name_has_owner(NM):
                self._off("NetworkManager is not running on the system bus")
                return
            read = self._start_read()
            view = await self.nm.read()
            modems = await read_modems(self.bus)
        except NetworkUnavailable as exc:
            self._off(f"NetworkManager does not answer: {exc}")
            return
        if self._observe(view, read):
            self.modems = modems

    def _start_read(self) -> int:
        self._reads_started += 1
        return self._reads_started

    def _observe(self, view: NmView, read: int) -> bool:
        """Every read of NetworkManager lands here: a change of the connection in use is told
        (and, when nothing is up any more and no control is running, falling back starts).
        A read that started before one already shown is older than it, and is dropped
        (returns False)."""
        if read < self._shown_read:
            return False
        self._shown_read = read
        self.view = view
        came_back = not self.available
        self.available, self.reason = True, None
        using = view.in_use()
        key = (using.uuid, ",".join(using.devices)) if using else None
        if using is not None:
            self._last_good = using.uuid
        if key != self._in_use_key or came_back:
            previous, self._in_use_key = self._in_use_key, key
            log.info(
                "network in use: %s",
                f"{using.name} ({using.kind})" if using else "none",
            )
            if previous is not None or key is not None:
                self._tell("network_changed")
            if key is None and previous is not None and self.busy is None:
                self._schedule_fallback()
        return True

    # ------------------------------------------------------------------ falling back
    def _schedule_fallback(self) -> None:
        if self._fallback_task is None or self._fallback_task.done():
            self._fallback_task = asyncio.create_task(self._fallback(), name="network-fallback")

    async def _fallback(self) -> None:
        """Nothing is up: give NetworkManager ``fallback_s`` to bring one up, then join the
        best saved network in range (highest priority, then strongest)."""
        await self.clock.sleep(self.fallback_s)
        async with self._lock:
            view = await self._fresh()
            if view.in_use() is not None:
                return
            device = view.wifi_device()
            if device is None:
                return
            in_range = {n.ssid: n.signal for n in view.networks}
            candidates = sorted(
                (
                    s
                    for s in view.saved
                    if s.kind == "wifi" and s.autoconnect and s.ssid in in_range
                ),
                key=lambda s: (s.uuid != self._last_good, -s.priority, -in_range[s.ssid or ""]),
            )
            for saved in candidates:
                log.info("no network up: joining saved network %s", saved.name)
                ok, _reason = await self._activate(saved.path, device.path)
                if ok:
                    self._chosen[saved.uuid] = (
                        "joined by the hub when the previous network went away"
                    )
                    self._record("fallback", saved.name, True, f"joined {saved.name}")
                    return
            self._record("fallback", None, False, "no saved network in range could be joined")
        self._dirty.set()

    # ------------------------------------------------------------------ reading
    async def _fresh(self) -> NmView:
        if not self.available:
            raise NetworkUnavailable(self.reason or "NetworkManager is not available")
        read = self._start_read()
        try:
            view = await self.nm.read()
        except NetworkUnavailable as exc:
            self._off(f"NetworkManager does not answer: {exc}")
            raise
        self._observe(view, read)
        return view

    def in_use(self) -> InUse | None:
        view = self.view
        if view is None or not self.available:
            return None
        using = view.in_use()
        if using is None:
            return None
        device = next((d for d in view.devices if d.path in using.devices), None)
        saved = next((s for s in view.saved if s.uuid == using.uuid), None)
        ap = view.ap_by_path.get(using.specific_object)
        ssid = saved.ssid if saved else (ap.ssid if ap else None)
        if ap is None and ssid:
            ap = next((n for n in view.networks if n.ssid == ssid), None)
        rate = None
        if device is not None and device.path in view.link_kbps:
            rate = view.link_kbps[device.path] / 1000 or None
        kind = using.kind
        signal = ap.signal if ap else None
        operator = technology = None
        if kind == "cellular":
            ssid = None
            if self.modems:
                modem = self.modems[0]
                signal, operator, technology = modem.signal, modem.operator, modem.technology
        return InUse(
            name=using.name,
            uuid=using.uuid,
            kind=kind,
            interface=device.interface if device else None,
            ssid=ssid,
            signal=signal,
            link_rate_mbps=rate,
            why=self._why(using.uuid, using.path == view.primary, saved),
            operator=operator,
            technology=technology,
        )

    def _why(self, uuid: str, primary: bool, saved: Any) -> str:
        if uuid in self._chosen:
            return self._chosen[uuid]
        route = "NetworkManager's primary connection (it holds the default route)"
        if not primary:
            route = "the only connection up"
        if saved is not None and saved.autoconnect:
            return f"{route}; joined automatically (priority {saved.priority})"
        return route

    def snapshot(self) -> dict[str, Any]:
        view = self.view if self.available else None
        using = self.in_use()
        return {
            "controls": self.available,
            "why_no_controls": None if self.available else self.reason,
            "busy": self.busy,
            "in_use": using.to_json() if using else None,
            "devices": [d.to_json() for d in view.devices] if view else [],
            "wifi": [n.to_json() for n in view.networks] if view else [],
            "saved": [s.to_json() for s in view.saved] if view else [],
            "modems": [m.to_json() for m in self.modems] if view else [],
            "last_action": self.last_action,
        }

    # ------------------------------------------------------------------ controls
    async def scan(self) -> list[dict[str, Any]]:
        async with self._lock:
            view = await self._fresh()
            device = view.wifi_device()
            if device is None:
                raise NetworkRefused("this hub has no Wi-Fi adapter")
            before = await self.nm.last_scan(device.path)
            with contextlib.suppress(BusCallError):  # "scanning not allowed" while busy
                await self.nm.request_scan(device.path)
            deadline = time.monotonic() + SCAN_WAIT_S
            while before is not None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)  # NetworkManager moves LastScan when it is done
                if await self.nm.last_scan(device.path) != before:
                    break
            view = await self._fresh()
            return [n.to_json() for n in view.networks]

    async def connect(
        self,
        ssid: str,
        psk: str | None,
        *,
        priority: int | None = None,
        autoconnect: bool = True,
        addressing: Addressing | None = None,
        hidden: bool = False,
    ) -> dict[str, Any]:
        """Join ``ssid`` (saving it); on failure the previous connection is kept or restored."""
        check_ssid(ssid)
        if psk is not None:
            register_secret(psk)
            check_psk(psk)
        async with self._lock:
            self.busy = f"joining {ssid}"
            try:
                return await self._connect(ssid, psk, priority, autoconnect, addressing, hidden)
            finally:
                self.busy = None
                await self._settle()

    async def _connect(
        self,
        ssid: str,
        psk: str | None,
        priority: int | None,
        autoconnect: bool,
        addressing: Addressing | None,
        hidden: bool,
    ) -> dict[str, Any]:
        view = await self._fresh()
        device = view.wifi_device()
        if device is None:
            raise NetworkRefused("this hub has no Wi-Fi adapter")
        seen = next((n for n in view.networks if n.ssid == ssid), None)
        if seen is None and not hidden:
            raise NetworkRefused(f"no network named {ssid!r} is in range (scan again?)")
        security = seen.security if seen else "WPA2"
        if seen is not None and security not in {"open", "WPA", "WPA2", "WPA3", "WPA2/WPA3"}:
            raise NetworkRefused(
                f"{ssid} uses {security}; the hub joins open and WPA2/WPA3-PSK networks"
            )
        if security != "open" and psk is None:
            raise NetworkRefused(f"{ssid} needs a password")
        older = [s for s in view.saved if s.ssid == ssid]
        base = older[0] if older else None
        new_settings = wifi_settings(
            ssid,
            psk if security != "open" else None,
            security=security,
            priority=priority if priority is not None else (base.priority if base else 0),
            autoconnect=autoconnect,
            addressing=addressing or (base.addressing if base else Addressing()),
            hidden=hidden,
        )
        previous = view.in_use()
        previous_device = previous.devices[0] if previous and previous.devices else device.path
        previous_path = next(
            (s.path for s in view.saved if previous and s.uuid == previous.uuid), None
        )
        new_path = await self.nm.add(new_settings)
        ok, reason = await self._activate(new_path, device.path)
        if not ok:
            with contextlib.suppress(NetworkUnavailable):
                await self.nm.delete(new_path)
            restored = await self._restore(previous_path, previous_device, previous is not None)
            message = f"could not join {ssid}: {reason}; {restored}"
            self._record("connect", ssid, False, message)
            log.warning("%s", message)
            raise ConnectFailed(message)
        for old in older:  # the new profile replaces them (same SSID)
            with contextlib.suppress(NetworkUnavailable):
                await self.nm.delete(old.path)
        uuid = new_settings["connection"]["uuid"].value
        self._chosen = {uuid: "chosen by the operator"}
        message = f"joined {ssid}"
        self._record("connect", ssid, True, message)
        log.info("%s", message)
        await self._fresh()
        return {"joined": ssid, "uuid": uuid}

    async def _activate(self, connection: str, device: str) -> tuple[bool, str]:
        """Activate and wait: (True, "") once up, (False, why) when NetworkManager gives up."""
        try:
            active = await self.nm.activate(connection, device)
        except BusCallError as exc:
            return False, str(exc)
        deadline = time.monotonic() + self.activation_timeout_s
        while time.monotonic() < deadline:
            state = await self.nm.active_state(active) if active != NO_PATH else None
            code, why = await self.nm.device_state(device)
            if state == 2 and code == ACTIVATED:
                return True, ""
            if code == FAILED or state in (None, 4):
                return False, reason_text(why) or "NetworkManager gave up"
            await asyncio.sleep(0.1)  # D-Bus polling: real time, whatever the clock
        with contextlib.suppress(NetworkUnavailable):
            await self.nm.deactivate(active)
        return False, f"not up within {self.activation_timeout_s:.0f} s"

    async def _restore(self, previous_path: str | None, device: str, had_one: bool) -> str:
        if previous_path is None:
            return "no network was in use before" if not had_one else "the previous one is kept"
        view = await self._fresh()
        using = view.in_use()
        if using is not None and any(
            s.path == previous_path and s.uuid == using.uuid for s in view.saved
        ):
            return "the previous network is kept"
        ok, why = await self._activate(previous_path, device)
        name = next((s.name for s in view.saved if s.path == previous_path), "the previous network")
        return f"{name} is restored" if ok else f"{name} could not be restored either: {why}"

    async def _saved_named(self, name: str) -> Any:
        view = await self._fresh()
        for saved in view.saved:
            if name in (saved.uuid, saved.name, saved.ssid):
                return saved, view
        raise NetworkRefused(f"no saved network named {name!r}")

    async def use(self, name: str) -> dict[str, Any]:
        """Switch to a saved network of any kind (Wi-Fi, Ethernet, cellular): it is brought up,
        then the connection it replaces is taken down, so the hub's traffic goes over it; on
        failure the previous connection is kept or restored."""
        async with self._lock:
            saved, view = await self._saved_named(name)
            self.busy = f"switching to {saved.name}"
            try:
                return await self._use(saved, view)
            finally:
                self.busy = None
                await self._settle()

    async def _use(self, saved: Any, view: NmView) -> dict[str, Any]:
        device = next((d for d in view.devices if d.kind == saved.kind), None)
        if device is None:
            raise NetworkRefused(f"{saved.name} is {saved.kind}, and this hub has no such device")
        if saved.kind == "wifi" and saved.ssid not in {n.ssid for n in view.networks}:
            raise NetworkRefused(f"{saved.name} is not in range (scan again?)")
        previous = view.in_use()
        if previous is not None and previous.uuid == saved.uuid:
            return {"joined": saved.name, "uuid": saved.uuid}
        previous_device = previous.devices[0] if previous and previous.devices else device.path
        previous_path = next(
            (s.path for s in view.saved if previous and s.uuid == previous.uuid), None
        )
        ok, reason = await self._activate(saved.path, device.path)
        if not ok:
            restored = await self._restore(previous_path, previous_device, previous is not None)
            message = f"could not switch to {saved.name}: {reason}; {restored}"
            self._record("use", saved.name, False, message)
            log.warning("%s", message)
            raise ConnectFailed(message)
        if previous is not None and previous_device != device.path:
            with contextlib.suppress(NetworkUnavailable):
                await self.nm.deactivate(previous.path)  # the traffic goes over the new one
        self._chosen = {saved.uuid: "chosen by the operator"}
        self._record("use", saved.name, True, f"switched to {saved.name}")
        log.info("switched to %s", saved.name)
        return {"joined": saved.name, "uuid": saved.uuid}

    async def forget(self, name: str) -> dict[str, Any]:
        async with self._lock:
            saved, _view = await self._saved_named(name)
            await self.nm.delete(saved.path)
            self._chosen.pop(saved.uuid, None)
            self._record("forget", saved.name, True, f"forgot {saved.name}")
            await self._settle()
            return {"forgot": saved.name, "was_in_use": saved.in_use}

    async def set_priority(
        self, name: str, priority: int, autoconnect: bool | None = None
    ) -> dict[str, Any]:
        if not -999 <= priority <= 999:
            raise NetworkRefused("a priority is between -999 and 999")
        async with self._lock:
            saved, _view = await self._saved_named(name)
            raw = await self.nm.raw_settings(saved.path)
            await self.nm.update(
                saved.path, with_changes(raw, priority=priority, autoconnect=autoconnect)
            )
            self._record("priority", saved.name, True, f"{saved.name}: priority {priority}")
            await self._settle()
            return {"network": saved.name, "priority": priority}

    async def set_addressing(self, name: str, addressing: Addressing) -> dict[str, Any]:
        """DHCP or a static address for a saved network; applied at once if it is in use, and
        undone if NetworkManager cannot bring it up (an address another host holds)."""
        async with self._lock:
            saved, view = await self._saved_named(name)
            self.busy = f"re-addressing {saved.name}"
            try:
                raw = await self.nm.raw_settings(saved.path)
                await self.nm.update(saved.path, with_changes(raw, addressing=addressing))
                text = "DHCP" if addressing.method == "auto" else addressing.address
                if not saved.in_use:
                    self._record(
                        "addressing", saved.name, True, f"{saved.name}: {text} (next time)"
                    )
                    return {
                        "network": saved.name,
                        "addressing": addressing.to_json(),
                        "applied": False,
                    }
                wifi = view.wifi_device()
                device = next(
                    (d.path for d in view.devices if d.connection == saved.name), None
                ) or (wifi.path if wifi else NO_PATH)
                ok, why = await self._activate(saved.path, device)
                if not ok:
                    await self.nm.update(saved.path, with_changes(raw, addressing=saved.addressing))
                    back, _ = await self._activate(saved.path, device)
                    undone = (
                        "the previous addressing is restored" if back else "restoring it failed too"
                    )
                    message = f"{saved.name} could not use {text}: {why}; {undone}"
                    self._record("addressing", saved.name, False, message)
                    raise ConnectFailed(message)
                self._record("addressing", saved.name, True, f"{saved.name}: {text}")
                return {"network": saved.name, "addressing": addressing.to_json(), "applied": True}
            finally:
                self.busy = None
                await self._settle()

    async def _settle(self) -> None:
        """After a control: the view as it is now (status shows the outcome at once)."""
        with contextlib.suppress(NetworkUnavailable):
            await self._fresh()
        self._dirty.set()

    def _record(self, action: str, network: str | None, ok: bool, message: str) -> None:
        self.last_action = {
            "action": action,
            "network": network,
            "ok": ok,
            "message": message,
            "at": self.clock.now(),
        }
