"""The hub assembled from its parts.

settings → HTTPS client → session, connectivity, presence, uploader; device models → the
registry of attached sub-devices, fed by the plugins' sources → the channel manager (each
sub-device a Frame.io channel) and the recorder (each microphone a track, uploaded on its
channel).

:class:`Hub` is what ``c2c-hub run`` (and the CLI's other commands, and tests) build. It owns the
one ``httpx.AsyncClient``; ``async with Hub(settings) as hub`` closes everything on the way out.
Constructing it first takes the data directory's lock (:mod:`c2c_hub.datadir`): a second hub on
the same directory raises :class:`~c2c_hub.datadir.DataDirBusy` having touched nothing; the lock
is released by :meth:`Hub.aclose`.
Start order: session, connectivity, presence, uploader, channels, timecode, recorder, then the
plugins' sources (so the first sub-device finds everything ready); stop runs it backwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import Clock, SystemClock
from c2c_hub.connectivity import ConnectivityMonitor
from c2c_hub.datadir import DataDirLock
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.devices import DeviceRegistry
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.frameio.congestion import choose as choose_congestion
from c2c_hub.identity import resolve_client_id
from c2c_hub.logs import register_secret
from c2c_hub.network import NetworkControl
from c2c_hub.network.summary import network_summary
from c2c_hub.pairing import Pairing, PairingUpdate
from c2c_hub.plugin import PluginHost, route_file
from c2c_hub.presence import Presence
from c2c_hub.presses import DB_FILE as PRESSES_FILE
from c2c_hub.presses import PressLog
from c2c_hub.process_stats import process_stats
from c2c_hub.recorder.derived import derived_settings
from c2c_hub.recorder.meters import Meters
from c2c_hub.recorder.record_run import RecordRun
from c2c_hub.recorder.takes import Recorder
from c2c_hub.session import Session
from c2c_hub.settings import HubSettings, apply_credential_files
from c2c_hub.status import build_status, write_status
from c2c_hub.subdevices import AudioBlock, QueuedFile, RouteRule
from c2c_hub.tasks import cancel_and_wait
from c2c_hub.timecode import FrameRate
from c2c_hub.timecode.ptp import PtpMonitor
from c2c_hub.timecode.timeline import HubTimecode
from c2c_hub.tokens import ensure_private_dir, open_token_store
from c2c_hub.uploader import Uploader, guess_filetype
from c2c_hub.uploader.config import from_settings as upload_config
from c2c_hub.uploader.progress import EventStream
from c2c_hub.uploader.queue import QUEUE_FILE

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 2.0


class Hub:
    def __init__(
        self, settings: HubSettings, *, clock: Clock | None = None, lock: bool = True
    ) -> None:
        """Build the hub; first of all, take the data directory's lock.

        ``lock=False`` is for a look at what is stored (``c2c-hub status`` with no hub
        running): such a hub must not be started, and nothing it does may write.
        """
        # Before anything else: one hub per data directory (DataDirBusy if another holds it).
        self.lock = DataDirLock(settings.storage.data_dir)
        if lock:
            self.lock.acquire()
        try:
            self._build(settings, clock)
        except BaseException:
            self.lock.release()
            raise

    def _build(self, settings: HubSettings, clock: Clock | None) -> None:
        self.settings = resolve_client_id(apply_credential_files(settings))
        self.clock: Clock = clock or SystemClock()
        register_secret(self.settings.frameio.client_secret.get_secret_value())
        self.data_dir = ensure_private_dir(self.settings.storage.data_dir)
        self.congestion = choose_congestion(self.settings.uploads.congestion_control)
        self.http = make_http_client(self.settings.frameio, self.congestion)
        self.client = FrameioClient.from_settings(self.settings.frameio, self.http)
        storage = self.settings.storage
        self.store = open_token_store(self.data_dir, storage.key_provider, storage.key_file)
        self.session = Session(self.client, self.store, self.settings.frameio, clock=self.clock)
        self.connectivity = ConnectivityMonitor(self.client, clock=self.clock)
        self.presence = Presence(self.session, self.settings.frameio, clock=self.clock)
        self.models = DeviceModelRegistry.load(self.settings.device_models.directory)
        pins = self.settings.recorder.tracks
        names = {serial: pin.name for serial, pin in pins.items() if pin.name}
        self.devices = DeviceRegistry(self.models, self.clock.now, names=names)
        self.channels = ChannelManager(self.session, self.devices, clock=self.clock)
        self.connectivity.on_change(self._network_changed)
        self.network = NetworkControl(clock=self.clock)
        self.network.on_change(self._network_switched)
        self.uploader = Uploader(
            self.data_dir / QUEUE_FILE,
            self.session,
            self.http,
            clock=self.clock,
            pause=self.presence,
            connectivity=self.connectivity,
            channels=self.channels,
            config=upload_config(self.settings.uploads),
            congestion=self.congestion,
        )
        self.channels.on_change(self.uploader.channels_changed)
        rec = self.settings.recorder
        tc = self.settings.timecode
        self.timecode = HubTimecode(
            self.clock,
            FrameRate.parse(rec.timecode_rate),
            sample_rate=rec.sample_rate,
            source=tc.source,
            data_dir=self.data_dir,
            system_offset_s=rec.timecode_offset_s,
            offset_frames=tc.offset_frames,
            ltc_device=tc.ltc_device,
            ltc_channel=tc.ltc_channel,
            ltc_stop_after_s=tc.ltc_stop_after_s,
            drift_warn_ms=tc.drift_warn_ms,
            ptp=PtpMonitor(self.clock, uds=tc.ptp_uds) if tc.source == "ptp" else None,
        )
        self.recorder = Recorder(
            self.devices,
            self.uploader,
            directory=rec.directory,
            data_dir=self.data_dir,
            clock=self.clock,
            timecode=self.timecode,
            sample_rate=rec.sample_rate,
            default_scene=rec.default_scene,
            stop_grace_s=rec.stop_grace_s,
            fsync_interval_s=rec.fsync_interval_s,
            position_tolerance_s=rec.position_tolerance_s,
            min_free_minutes=rec.min_free_minutes,
            group=rec.group,
            pinned={serial: pin.track for serial, pin in rec.tracks.items() if pin.track},
            derived=derived_settings(rec),
            preroll_s=tc.preroll_s if tc.record_run else 0.0,
            project=lambda: (
                self.session.credentials.project_name if self.session.credentials else None
            ),
        )
        self.meters = Meters(
            self.devices,
            clock=self.clock,
            interval_s=rec.meter_interval_s,
            clip_hold_s=rec.clip_hold_s,
        )
        self.presses = PressLog(
            self.data_dir / PRESSES_FILE,
            self.session,
            self.devices,
            self.channels,
            self.timecode,
            clock=self.clock,
        )
        self.channels.on_change(self.presses.poke)
        self.record_run = (
            RecordRun(self.recorder, self.timecode, preroll_s=tc.preroll_s)
            if tc.record_run
            else None
        )
        self.plugins = PluginHost(self.settings.plugins)
        self.events = EventStream()
        self._wire_events()
        self.pairing_flow: Pairing | None = None
        self._routes: list[tuple[str, RouteRule]] = []
        self._status_task: asyncio.Task[None] | None = None
        self._attached: dict[str, Attachment] = {}
        self.running = False

    def attach(self, name: str, attachment: Attachment) -> None:
        """Run ``attachment`` with the hub (see :class:`Attachment`); call before :meth:`start`."""
        if self.running:
            raise RuntimeError("attach before the hub starts")
        self._attached[name] = attachment

    def attached(self, name: str) -> Attachment | None:
        return self._attached.get(name)

    def pairing(self) -> Pairing:
        return Pairing(self.client, self.session, self.settings.frameio, clock=self.clock)

    # ------------------------------------------------------------------ one stream of events
    def _wire_events(self) -> None:
        """Every part's events, as one stream (``kind`` says whose) for the live views."""
        emit = self.events.emit
        self.uploader.on_event(lambda e: emit({"kind": "upload", **e}))
        self.presses.on_event(lambda e: emit({"kind": "press", **e}))
        self.recorder.on_event(lambda e: emit({"kind": "take", **e}))
        self.meters.on_reading(lambda e: emit({"kind": "meters", **e}))
        self.timecode.on_event(lambda e: emit({"kind": "timecode", **e}))
        self.devices.on_change(
            lambda c: emit(
                {"kind": "devices", "type": c.kind, "serial": c.serial, "reason": c.reason}
            )
        )
        self.channels.on_change(lambda: emit({"kind": "channels", "type": "changed"}))

    # ------------------------------------------------------------------ pairing from a UI
    def start_pairing(self) -> Pairing:
        """Pair in the background (the web page, the control API); progress in the status."""
        if self.pairing_flow is not None and self.pairing_flow.running:
            raise RuntimeError("pairing is already running")
        flow = self.pairing()
        flow.subscribe(lambda update: self.events.emit({"kind": "pairing", **_pairing(update)}))
        flow.start()
        self.pairing_flow = flow
        return flow

    def cancel_pairing(self) -> bool:
        return self.pairing_flow.cancel() if self.pairing_flow is not None else False

    def pairing_state(self) -> dict[str, Any]:
        flow = self.pairing_flow
        if flow is None or flow.last is None:
            return {"running": False, "step": None}
        return {"running": flow.running, **_pairing(flow.last)}

    def _network_changed(self, reason: str) -> None:
        if reason == "network_changed":  # connections may be bound to the network that went
            self.presence.network_changed()
            self.uploader.network_changed()
        else:  # "frameio_back": a joined socket stays joined
            self.presence.frameio_back()
        self.channels.network_back()
        self.presses.poke()

    def _network_switched(self, reason: str) -> None:
        """NetworkManager says the connection in use changed: as for any network change."""
        using = self.network.in_use()
        self.events.emit(
            {"kind": "network", "type": reason, "in_use": using.name if using else None}
        )
        self.connectivity.poke()
        self._network_changed("network_changed")

    async def start(
        self,
        *,
        presence: bool = True,
        status_file: bool = True,
        plugins: bool = True,
    ) -> None:
        """Load credentials and start the background parts (see the module docstring).

        The plugins are loaded first (nothing runs yet): options for a plugin that is not
        installed refuse the start (:class:`~c2c_hub.plugin.PluginSettingsError`), and the
        plugins' own kinds and device models join the hub's before anything reads them.
        """
        if not self.lock.held:
            raise RuntimeError("a hub built with lock=False is for looking only; it never starts")
        if plugins:
            await asyncio.to_thread(self.plugins.load)  # imports are bounded, but may block
            self.plugins.check_options(self.settings.plugins.options)
            self.plugins.add_device_models(self.models)
        await self.session.start()
        self.connectivity.start()
        await self.network.start()
        if presence:
            await self.presence.start()
        # A take cut short by a power cut or a kill: its tracks made valid before the uploader
        # queues them.
        await self.recorder.recover()
        await self.uploader.start()
        await self.channels.start()
        await self.timecode.start(self._timecode_audio)
        await self.recorder.start()
        await self.meters.start()
        await self.presses.start()
        if plugins:
            self._routes = self.plugins.routes()
            await self.plugins.start_all(
                self.devices, self.models, self.settings.plugins.options, self.clock
            )
        for attachment in self._attached.values():
            await attachment.start()
        if status_file:
            self._status_task = asyncio.create_task(self._publish_status(), name="hub-status")
        self.running = True

    async def stop(self) -> None:
        """Stop every part, the reverse of the start order; each one even when the stop of a
        part before it failed or was cut short, and the first error is raised at the end (a
        cancellation or an interrupt before any other).

        A stop can be cut short without anyone cancelling it: asyncio.run, ended by a
        SystemExit or KeyboardInterrupt raised outside every task (a signal handler's, landing
        in the loop's select(): ``c2c-hub demo``'s SIGTERM handler once raised it; a second
        Ctrl-C under asyncio.run still does), cancels every task at once, so a part that waits
        for a task of its own (the take's writer) gets that task's CancelledError. Once, the
        rest of the stop was skipped, the uploader's among them: its queue's aiosqlite thread,
        not a daemon, was left running, and the process could not end.
        """
        self.running = False
        stopping = _Teardown()
        await stopping.step("status file", cancel_and_wait(self._status_task))
        self._status_task = None
        if self.pairing_flow is not None:
            self.pairing_flow.cancel()
        for name, attachment in reversed(self._attached.items()):
            await stopping.step(name, attachment.stop())
        await stopping.step("plugins", self.plugins.stop_all())
        await stopping.step("press log", self.presses.stop())
        await stopping.step("meters", self.meters.stop())
        if self.record_run is not None:
            await stopping.step("record-run", self.record_run.stop())
        await stopping.step("recorder", self.recorder.stop())
        await stopping.step("timecode", self.timecode.stop())
        # every channel, at Frame.io, bounded
        await stopping.step("channels", self.channels.stop(disconnect=True))
        await stopping.step("uploader", self.uploader.stop())
        await stopping.step("presence", self.presence.stop())
        await stopping.step("network", self.network.stop())
        await stopping.step("connectivity monitor", self.connectivity.stop())
        await stopping.step("session", self.session.stop())
        stopping.raise_first()

    def status(self) -> dict[str, Any]:
        presence = self.presence.snapshot()
        status = build_status(
            self.session,
            self.connectivity.status,
            firmware_version=self.settings.frameio.firmware_version,
            socket=presence,
            paused=presence.get("paused"),
            running=self.running,
        )
        status["networks"] = network_summary(self.network, self.connectivity.status, self.clock)
        status["uploads"] = self.uploader.snapshot()
        status["devices"] = self.devices.snapshot()
        status["channels"] = self.channels.snapshot()
        status["plugins"] = self.plugins.snapshot()
        status["recorder"] = self.recorder.snapshot()
        status["meters"] = self.meters.snapshot()
        status["mix"] = self.recorder.mix_snapshot()
        status["timecode"] = {
            **self.timecode.snapshot(),
            "record_run": self.record_run.snapshot() if self.record_run else {"on": False},
        }
        status["presses"] = self.presses.snapshot()
        status["pairing_flow"] = self.pairing_state()
        status["process"] = process_stats()
        status["control"] = None
        for name, attachment in self._attached.items():
            status[name] = attachment.describe()
        return status

    def _timecode_audio(self, listener: Any) -> Any:
        """The device registry's audio, with each source's sample rate, for the timecode."""

        def audio(serial: str, block: AudioBlock) -> None:
            attached = self.devices.get(serial)
            audio_format = attached.device.audio if attached is not None else None
            listener(serial, block, audio_format.sample_rate if audio_format else None)

        return self.devices.on_audio(audio)

    async def enqueue(self, path: str, **kwargs: Any) -> int:
        """Queue a finished file, on the channel the plugins' routing rules pick (if any)."""
        if kwargs.get("device") is None and not kwargs.get("channel"):
            name = Path(path).name
            queued = QueuedFile(path, name, kwargs.get("filetype") or guess_filetype(name))
            kwargs["device"] = self.route(queued)
        return await self.uploader.enqueue(path, **kwargs)

    async def enqueue_many(self, paths: list[str], **kwargs: Any) -> list[int]:
        """Queue finished files in batches (one commit each), each routed as :meth:`enqueue`."""
        if kwargs.get("device") is not None or kwargs.get("channel"):
            return await self.uploader.enqueue_many(paths, **kwargs)
        by_device: dict[str | None, list[int]] = {}
        for index, path in enumerate(paths):
            name = Path(path).name
            queued = QueuedFile(path, name, kwargs.get("filetype") or guess_filetype(name))
            by_device.setdefault(self.route(queued), []).append(index)
        ids = [0] * len(paths)
        for device, indices in by_device.items():
            batch = await self.uploader.enqueue_many(
                [paths[i] for i in indices], **(kwargs | {"device": device})
            )
            for index, file_id in zip(indices, batch, strict=True):
                ids[index] = file_id
        return ids

    def route(self, queued: QueuedFile) -> str | None:
        """The sub-device the first routing rule with an opinion names (attached ones only)."""
        found = route_file(self._routes, queued, self.devices.devices())
        if found is None:
            return None
        rule, serial = found
        log.info("%s goes on the channel of %s (rule %s)", queued.name, serial, rule)
        return serial

    async def _publish_status(self) -> None:
        while True:
            try:
                write_status(self.data_dir, self.status())
            except OSError as exc:
                log.warning("could not write the status file: %s", exc)
            await self.clock.sleep(STATUS_INTERVAL_S)

    async def aclose(self) -> None:
        try:
            await self.stop()
            await self.http.aclose()
        finally:
            self.lock.release()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _Teardown:
    """Stops awaited one after another, each whatever became of the one before
    (:meth:`Hub.stop`); what each raised is kept for the end."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    async def step(self, name: str, stop: Awaitable[Any]) -> None:
        try:
            await stop
        except BaseException as exc:  # kept, and raised by raise_first
            self.errors.append(exc)
            if isinstance(exc, Exception):
                log.error("stopping the %s failed; stopping the rest", name, exc_info=exc)
            else:
                log.warning("stopping the %s was cut short (%r); stopping the rest", name, exc)

    def raise_first(self) -> None:
        """The first cancellation or interrupt, else the first error (if any)."""
        if self.errors:
            raise next((e for e in self.errors if not isinstance(e, Exception)), self.errors[0])


class Attachment(Protocol):
    """Something the edge runs alongside the hub (the control API): started last, stopped first.

    The core never imports the user interface; the interface hands the hub what it wants run
    with :meth:`Hub.attach`, and its ``describe()`` appears in the status under its name.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


def _pairing(update: PairingUpdate) -> dict[str, Any]:
    """What a UI shows of a pairing step (never the device code or a token)."""
    return {
        "step": update.step.value,
        "user_code": update.user_code,
        "verification_uri": update.verification_uri,
        "verification_uri_complete": update.verification_uri_complete,
        "expires_at": update.expires_at,
        "message": update.message,
    }
