"""Sub-devices as Frame.io channels: Frame.io's boot-time flow, kept true afterwards.

Frame.io advises a host not to trust channel state it stored (a power cut between a connect and
storing its id, sub-devices plugged in while off). So nothing here is persisted:

1. once per power cycle (and again after pairing to another device), **bulk disconnect**;
2. then **connect** each sub-device attached now (``client_id`` = its serial,
   ``device_model_id`` from its device model file);
3. afterwards, connect each one that arrives and **disconnect** (by Frame.io's channel id) each
   one that leaves; never a bulk disconnect for a single arrival.

It is level-triggered: one worker compares what is attached
(:class:`~c2c_hub.devices.DeviceRegistry`) with the channels it knows and makes the calls that
close the gap, so a call that failed (network down, 5xx, 429) is simply made again, after a
capped jittered backoff, and events that came meanwhile fold into the same pass. When the
network or Frame.io comes back, the next pass first reads ``GET /v2/devices/me`` and reconciles:
channels Frame.io no longer lists are connected again, channels it lists that no attached
sub-device owns are disconnected.

409 "Already Exists" on connect (a connect whose answer was lost, say) is resolved from ``/me``:
exactly one channel nobody here owns is adopted; when several are unowned, each of them is
disconnected by its own id and the sub-device connected again (logged as a warning with what it
cost). After boot there is never a bulk disconnect: Frame.io's channels guide forbids clearing
sub-devices then, and a bulk clear would drop every healthy channel with the one in doubt.

Which channel is the primary one is read from Frame.io, not assumed: it is the channel whose
``device_id`` is the project device's own (Frame.io's channels guide: "the device_id for the
first channel matches the device_id of our Project Device"). Its ``external_index`` is usually
0, but the channels guide's own examples give a sub-device channel ``external_index: 0`` too. A
sub-device's files are created with ``channel: <external_index>``
(docs/rulings.md#asset-channel), so a channel whose index is the primary's, or another
channel's, cannot be told apart on asset create: the sub-device shows why (its link's ``error``,
``routable: false``), the log says so once, and its files wait (never sent on the primary
channel silently) until ``/v2/devices/me`` numbers it apart, asked again when the minute allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tenacity import wait_exponential_jitter

from c2c_hub.backoff import backoff_delay
from c2c_hub.clock import Clock, SystemClock
from c2c_hub.devices import DeviceChange, DeviceRegistry
from c2c_hub.frameio import (
    ConflictError,
    ErrorShape,
    FrameioError,
    NotFoundError,
    UnprocessableError,
)
from c2c_hub.frameio.models import Channel, ProjectDevice
from c2c_hub.session import NeedsPairing, Session
from c2c_hub.tasks import cancel_and_wait, sleep_or_wake

log = logging.getLogger(__name__)

UNKNOWN_DEVICE = "unknown"  # booted_for, when the bulk disconnect came before /me named the device
STOP_DISCONNECT_S = 10.0
"""How long stopping the hub waits for its channels' disconnects at Frame.io."""

LinkState = Literal["connecting", "connected", "disconnecting", "refused"]


@dataclass
class ChannelLink:
    """What this power cycle knows of one sub-device's channel."""

    serial: str
    model_id: str
    name: str
    state: LinkState = "connecting"
    channel_id: str | None = None
    external_index: int | None = None
    attached_at: float = 0.0
    connected_at: float | None = None
    error: str | None = None
    unroutable: str | None = None  # why its files cannot be told apart on asset create
    answer_at_connect: object = None  # the /me answer current when it connected (not newer)

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "name": self.name,
            "model_id": self.model_id,
            "state": self.state,
            "channel_id": self.channel_id,
            "external_index": self.external_index,
            "attached_at": self.attached_at,
            "connected_at": self.connected_at,
            "error": self.error or self.unroutable,
            "routable": self.state == "connected" and self.unroutable is None,
        }


@dataclass
class ChannelStats:
    bulk_disconnects: int = 0
    connects: int = 0
    disconnects: int = 0
    conflicts: int = 0
    reconciles: int = 0
    failures: int = 0
    individual_clears: int = 0  # channels in doubt disconnected one by one after a 409
    last_error: str | None = None


class ChannelManager:
    """Keeps Frame.io's channels equal to the attached sub-devices (see the module docstring)."""

    def __init__(
        self,
        session: Session,
        devices: DeviceRegistry,
        *,
        clock: Clock | None = None,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.session = session
        self.devices = devices
        self.clock: Clock = clock or SystemClock()
        self._wait = wait_exponential_jitter(
            multiplier=0.5, max=backoff_max_s, exp_base=2, jitter=1
        )
        self.links: dict[str, ChannelLink] = {}  # by serial: attached, or still to disconnect
        self._departed: dict[str, ChannelLink] = {}  # detached, channel not yet disconnected
        self.booted_for: str | None = None  # the project device the bulk disconnect was for
        self._reconcile = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._listeners: list[Callable[[], None]] = []
        self.stats = ChannelStats()
        self.state: str = "idle"
        self._gone: dict[str, float] = {}  # serial -> when it was detached
        self._in_flight: str | None = None  # the serial whose connect awaits its answer
        self._started_at = self.clock.now()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._task is not None:
            return
        self._unsubscribe.append(self.devices.on_change(self._device_changed))
        self._unsubscribe.append(self.session.on_change(lambda _s: self.poke()))
        for attached in self.devices:
            self._device_changed(DeviceChange("attached", attached.device.serial, attached))
        self._task = asyncio.create_task(self._run(), name="channel-manager")

    async def stop(self, *, disconnect: bool = False, within_s: float = STOP_DISCONNECT_S) -> None:
        """Stop the worker; with ``disconnect``, first disconnect every channel at Frame.io.

        The hub stops with ``disconnect=True`` (its sub-devices go with it): every channel it
        knows is disconnected by id, at once, within ``within_s``; when a connect was in flight
        (its channel id never came back) one bulk disconnect covers it instead. What could not
        be disconnected in time is logged; the next boot's bulk disconnect clears it.
        """
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        in_flight = self._in_flight
        await cancel_and_wait(self._task)
        self._task = None
        if disconnect:
            await self._disconnect_on_stop(in_flight, within_s)

    async def _disconnect_on_stop(self, in_flight: str | None, within_s: float) -> None:
        links = [*self._departed.values(), *self.links.values()]
        known = {link.channel_id: link for link in links if link.channel_id is not None}
        if not self.session.paired:
            return
        # Each may have gone already, as its sub-device left (the plugins stop first).
        if not known and in_flight is None:
            log.info("channels: stopping: 0 channel(s) disconnected at Frame.io (none was left)")
            return
        self.state = "disconnecting every channel (stopping)"
        client = self.session.client

        async def one(channel_id: str) -> None:
            with contextlib.suppress(NotFoundError):  # already gone: what we want
                await self.session.call(lambda t: client.disconnect_channel(t, channel_id))

        try:
            async with asyncio.timeout(within_s):
                if in_flight is not None:
                    log.info("channels: a connect was in flight (%s): bulk disconnect", in_flight)
                    await self.session.call(client.disconnect_all_channels)
                else:
                    results = await asyncio.gather(
                        *(one(channel_id) for channel_id in known), return_exceptions=True
                    )
                    failed = [r for r in results if isinstance(r, BaseException)]
                    if failed:
                        raise failed[0]
        except TimeoutError:
            log.error(
                "channels: stopping: %d channel(s) not disconnected within %.0f s; the next "
                "start clears them",
                len(known),
                within_s,
            )
            return
        except (FrameioError, NeedsPairing) as exc:
            log.error("channels: stopping: could not disconnect every channel: %s", exc)
            return
        for link in links:
            link.state, link.channel_id, link.external_index = "disconnecting", None, None
        self._departed.clear()
        self.stats.disconnects += len(known)
        self.state = "stopped: every channel disconnected"
        log.info("channels: stopping: %d channel(s) disconnected at Frame.io", len(known))
        self._changed()

    def poke(self) -> None:
        """Look again now (an event happened)."""
        self._wake.set()

    def network_back(self) -> None:
        """The network or Frame.io came back: reconcile with ``/me`` on the next pass."""
        self._reconcile = True
        self._wake.set()

    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Called after any channel is connected or disconnected (e.g. the uploader waits)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("a channel listener failed")

    # ------------------------------------------------------------------ what the rest asks
    def index_of(self, serial: str) -> int | None:
        """The channel (``external_index``) a sub-device's files go on now: None unless it is
        connected and its index tells it apart from every other channel (the primary's too)."""
        link = self.links.get(serial)
        if link is None or link.state != "connected" or link.unroutable is not None:
            return None
        return link.external_index

    def channel_id_of(self, serial: str) -> str | None:
        link = self.links.get(serial)
        return link.channel_id if link is not None and link.state == "connected" else None

    def available(self) -> set[str]:
        """Sub-devices whose files can go on their own channel now."""
        return {
            s
            for s, link in self.links.items()
            if link.state == "connected" and link.unroutable is None
        }

    def absent_for(self, serial: str) -> float:
        """Seconds ``serial`` has not been attached: 0 while it is; since it left, or since this
        manager started for one it never saw (a file from an earlier power cycle)."""
        if serial in self.links:
            return 0.0
        since = self._gone.get(serial, self._started_at)
        return max(0.0, self.clock.now() - since)

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "channels": [link.to_json() for link in self.links.values()],
            "departing": [link.to_json() for link in self._departed.values()],
            "bulk_disconnects": self.stats.bulk_disconnects,
            "connects": self.stats.connects,
            "disconnects": self.stats.disconnects,
            "conflicts": self.stats.conflicts,
            "reconciles": self.stats.reconciles,
            "individual_clears": self.stats.individual_clears,
            "last_error": self.stats.last_error,
        }

    # ------------------------------------------------------------------ events
    def _device_changed(self, change: DeviceChange) -> None:
        if change.attached is not None and change.attached.kind.primary_channel:
            return  # the recorder's own input: no channel of its own (its files: the primary)
        if change.kind == "detached":
            self._gone[change.serial] = self.clock.now()
            link = self.links.pop(change.serial, None)
            if link is not None and link.channel_id is not None:
                link.state = "disconnecting"
                self._departed[change.serial] = link
        elif change.attached is not None:
            self._gone.pop(change.serial, None)
            attached = change.attached
            link = self.links.get(change.serial)
            if link is None or link.model_id != attached.model.id:
                departed = self._departed.pop(change.serial, None)
                if departed is not None and departed.model_id == attached.model.id:
                    # Back before its disconnect was sent: keep the channel it has.
                    departed.state = "connected"
                    self.links[change.serial] = departed
                else:
                    if departed is not None:
                        self._departed[change.serial + "#old"] = departed
                    self.links[change.serial] = ChannelLink(
                        change.serial,
                        attached.model.id,
                        attached.device.name,
                        attached_at=self.clock.now(),
                    )
            else:
                link.name = attached.device.name
        self._changed()
        self.poke()

    # ------------------------------------------------------------------ the worker
    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            if not self.session.paired:
                creds = self.session.credentials
                reason = creds.reason if creds is not None else None
                self.state = f"waiting for pairing ({reason})" if reason else "waiting for pairing"
                await self._wake.wait()
                continue
            try:
                await self._pass()
            except NeedsPairing as exc:
                self.state = f"waiting for pairing ({exc.reason})"
                await self._wake.wait()
                continue
            except FrameioError as exc:
                failures += 1
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                delay = backoff_delay(self._wait, failures)
                self.state = f"retrying in {delay:.1f} s: {exc}"
                log.warning("channels: %s; again in %.1f s", exc, delay)
                await sleep_or_wake(self.clock, delay, self._wake)
                continue
            failures = 0
            self.stats.last_error = None
            if not self._wake.is_set():
                self.state = "in sync"
                if self._routing_waits():
                    # /v2/devices/me may number the channels apart: ask when the minute allows.
                    gate = self.session.identity_gate
                    delay = max(0.0, gate.due_at() - self.session.clock.now())
                    self.state = "in sync; some channels cannot be told apart (see devices)"
                    await sleep_or_wake(self.session.clock, delay, self._wake)
                else:
                    await self._wake.wait()

    async def _pass(self) -> None:
        device_id = self._device_id()
        if self.booted_for == UNKNOWN_DEVICE and device_id is not None:
            # Booted before /v2/devices/me named the device: the same pairing, not a new one.
            self.booted_for = device_id
        if self.booted_for is None or (device_id is not None and device_id != self.booted_for):
            await self._boot()
            return
        if self._reconcile:
            await self._reconcile_with_frameio()
        elif self._routing_waits():
            gate = self.session.identity_gate
            if gate.due_at() <= self.session.clock.now():
                await self._identity()
        self._check_routing()
        for key, link in list(self._departed.items()):
            await self._disconnect(key, link)
        for serial, link in list(self.links.items()):
            if link.state == "connecting" and self.links.get(serial) is link:
                await self._connect(link)

    def _device_id(self) -> str | None:
        creds = self.session.credentials
        return creds.device_id if creds is not None else None

    async def _boot(self) -> None:
        self.state = "bulk disconnect"
        await self.session.call(self.session.client.disconnect_all_channels)
        self.stats.bulk_disconnects += 1
        self.booted_for = self._device_id() or UNKNOWN_DEVICE
        self._reconcile = False
        self._departed.clear()
        for link in self.links.values():
            link.state, link.channel_id, link.external_index = "connecting", None, None
        log.info("channels: bulk disconnect done; connecting %d sub-device(s)", len(self.links))
        self._changed()
        self._wake.set()  # the connects follow in the next pass

    async def _connect(self, link: ChannelLink) -> None:
        self.state = f"connecting {link.serial}"
        client = self.session.client
        self._in_flight = link.serial
        try:
            channel = await self.session.call(
                lambda token: client.connect_channel(token, link.serial, link.model_id)
            )
        except ConflictError:
            self.stats.conflicts += 1
            await self._resolve_conflict(link)
            return
        except UnprocessableError as exc:
            link.state, link.error = "refused", str(exc)
            log.error("channels: Frame.io refused %s: %s", link.serial, exc)
            return
        finally:
            self._in_flight = None
        if self.links.get(link.serial) is not link:
            # Detached while the connect was in flight: disconnect what was just made.
            link.channel_id, link.external_index = channel.id, channel.external_index
            self._departed[link.serial] = link
            link.state = "disconnecting"
            self._wake.set()
            return
        self._connected(link, channel)

    def _connected(self, link: ChannelLink, channel: Channel) -> None:
        link.state, link.error = "connected", None
        link.channel_id, link.external_index = channel.id, channel.external_index
        link.connected_at = self.clock.now()
        link.answer_at_connect = self.session.identity
        self.stats.connects += 1
        log.info(
            "channel connected: %s (%s) is channel %d",
            link.serial,
            link.name,
            channel.external_index,
        )
        self._check_routing()
        self._changed()

    # ------------------------------------------------------------------ telling channels apart
    @staticmethod
    def is_primary(channel: Channel, me: ProjectDevice) -> bool:
        """Frame.io's primary channel: its ``device_id`` is the project device's own (the
        channels guide). Only when either side does not say is ``external_index`` 0 taken as the
        sign."""
        if me.device_id and channel.device_id:
            return channel.device_id == me.device_id
        return channel.external_index == 0

    def _routing_waits(self) -> bool:
        return any(
            link.state == "connected" and link.unroutable is not None
            for link in self.links.values()
        )

    def _check_routing(self) -> None:
        """Decide for each connected link whether its index tells its channel apart."""
        me = self.session.identity
        listed = {c.id: c for c in me.channels} if me is not None else {}
        primary = [c for c in listed.values() if me is not None and self.is_primary(c, me)]
        primary_index = primary[0].external_index if primary else 0
        connected = [x for x in self.links.values() if x.state == "connected" and x.channel_id]
        for link in connected:
            assert link.channel_id is not None
            # Only a /me answer newer than the connect's speaks of this channel and its
            # neighbours (an older one predates what this hub connected and disconnected).
            newer = listed if me is not link.answer_at_connect else {}
            if link.channel_id in newer:  # Frame.io's latest word on its number
                link.external_index = newer[link.channel_id].external_index
            index = link.external_index
            reason: str | None = None
            if index is None or index == primary_index:
                reason = (
                    f"Frame.io numbers its channel {index}, the same as the primary channel: "
                    "its files cannot be told apart on asset create and wait"
                )
            else:
                same = sorted(
                    {o.name for o in connected if o is not link and o.external_index == index}
                    | {
                        c.name or c.id
                        for c in newer.values()
                        if c.id != link.channel_id
                        and c.external_index == index
                        and c.id not in {o.channel_id for o in connected}
                    }
                )
                if same:
                    reason = (
                        f"Frame.io numbers its channel {index}, the same as {', '.join(same)}: "
                        "its files cannot be told apart on asset create and wait"
                    )
            if reason != link.unroutable:
                if reason is not None:
                    log.error("channels: %s (%s): %s", link.serial, link.name, reason)
                elif link.unroutable is not None:
                    log.info(
                        "channels: %s (%s) is told apart now (channel %s)",
                        link.serial,
                        link.name,
                        index,
                    )
                link.unroutable = reason
                self._changed()

    async def _disconnect(self, key: str, link: ChannelLink) -> None:
        assert link.channel_id is not None
        channel_id = link.channel_id
        self.state = f"disconnecting {link.serial}"
        client = self.session.client
        try:
            await self.session.call(lambda token: client.disconnect_channel(token, channel_id))
        except NotFoundError:
            log.info("channels: %s was already gone in Frame.io", link.serial)
        except UnprocessableError as exc:
            log.error("channels: Frame.io refused to disconnect %s: %s", link.serial, exc)
        self._departed.pop(key, None)
        self.stats.disconnects += 1
        log.info("channel disconnected: %s (%s)", link.serial, link.name)
        self._changed()

    async def _disconnect_id(self, channel_id: str) -> None:
        client = self.session.client
        await self.session.call(lambda token: client.disconnect_channel(token, channel_id))

    async def _identity(self, reason: str | None = None) -> ProjectDevice:
        """``/v2/devices/me`` through the session's gate (news ``reason`` asks at once)."""
        return await self.session.refresh_identity(reason)

    async def _reconcile_with_frameio(self) -> None:
        self.state = "reconciling with Frame.io"
        me = await self._identity("reconnect")
        self.stats.reconciles += 1
        listed = {c.id: c for c in me.channels if not self.is_primary(c, me)}
        owned: set[str] = set()
        for link in self.links.values():
            if link.channel_id is None:
                continue
            if link.channel_id in listed:
                owned.add(link.channel_id)
                link.external_index = listed[link.channel_id].external_index
            else:
                log.info("channels: Frame.io no longer lists %s; connecting it again", link.serial)
                link.state, link.channel_id, link.external_index = "connecting", None, None
        for link in self._departed.values():
            if link.channel_id in listed:
                owned.add(link.channel_id)
        for channel_id, channel in listed.items():
            if channel_id not in owned:
                log.info("channels: %s is not ours (any more); disconnecting it", channel.name)
                with contextlib.suppress(NotFoundError):
                    await self._disconnect_id(channel_id)
                self.stats.disconnects += 1
        self._reconcile = False
        for link in self.links.values():
            if link.state == "refused":
                link.state = "connecting"
        self._changed()

    async def _resolve_conflict(self, link: ChannelLink) -> None:
        """409 "Already Exists": find the sub-device's channel in ``/me``, never bulk-clear."""
        me = await self._identity("conflict")
        known = {x.channel_id for x in [*self.links.values(), *self._departed.values()]}
        unknown = [c for c in me.channels if not self.is_primary(c, me) and c.id not in known]
        if len(unknown) == 1:
            log.info(
                "channels: %s already existed; adopting channel %s", link.serial, unknown[0].id
            )
            self._connected(link, unknown[0])
            return
        if not unknown:
            # Frame.io says it exists but lists no channel we could adopt (yet): try again.
            log.warning(
                "channels: %s already exists, but /v2/devices/me lists no channel it could be; "
                "connecting it again",
                link.serial,
            )
            raise ConflictError(
                f"channel connect of {link.serial}: Already Exists, and no unowned channel",
                endpoint="POST /v2/devices/channels/connect",
                status=409,
                shape=ErrorShape.OTHER,
            )
        # Several channels nobody here owns: which is this sub-device's cannot be told. Each is
        # disconnected by its own id (a sub-device still attached connects again and gets its
        # channel, with its settings, back: the channels guide); the healthy channels are left
        # alone.
        names = ", ".join(sorted(c.name or c.id for c in unknown))
        log.warning(
            "channels: %s already exists and %d channels are unaccounted for (%s); "
            "disconnecting those %d one by one and connecting again (cost: %d disconnects, "
            "no other channel touched)",
            link.serial,
            len(unknown),
            names,
            len(unknown),
            len(unknown),
        )
        for channel in unknown:
            with contextlib.suppress(NotFoundError):
                await self._disconnect_id(channel.id)
            self.stats.disconnects += 1
            self.stats.individual_clears += 1
        self._wake.set()  # the connect follows in the next pass
