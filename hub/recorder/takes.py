"""Takes: every attached microphone recorded to its own track and uploaded on its own channel.

A take has a scene and a take number (numbering persisted in ``<data_dir>/takes.json``, so it
carries on after a restart), a start and an end on the hub's timecode clock, and one track per
microphone: a BWF file (:mod:`c2c_hub.recorder.wav`) placed by sample position, so a dropout is
silence of the right length and every track of the take has exactly the take's length.

Each track is handed to the uploader as a growing file the moment it is opened
(:meth:`~c2c_hub.uploader.Uploader.begin_recording`, routed to the microphone's serial: it goes up
on
that microphone's channel) and closed at stop (:meth:`~c2c_hub.uploader.Uploader.end_recording`).
A microphone that arrives during a take gets a track from the take's start (silence until its
first sample); one that leaves keeps its track, filled with silence to the end.

The recorder's own inputs (a kind with ``primary_channel``, such as the ``jack_inputs`` plugin's
JACK ports) are tracks like any other, but uploaded on the primary channel (no sub-device
channel of their own). They set the take's sample rate (their server's, else
``recorder.sample_rate``); when their rate changes mid-take, the take is **split**: it stops
there, every track closed valid, and the next take starts at the new rate, the reason logged,
emitted (``take_split``) and kept in the take's ``split``.

Samples arrive on the hub's loop (:class:`~c2c_hub.devices.DeviceRegistry` audio listeners) and
are written to disk in a worker thread, a batch every ``flush_s``, so the loop never blocks on
disk.

Nothing lost, ever (docs/recording-files.md):

- every track is fsynced every ``fsync_interval_s`` and the uploader is told how many of its
  bytes are durable (``recording_grew(file_id, durable_size=N)``): no part is sent from bytes a
  power cut could take back;
- ``<data_dir>/recording.json`` lists the open take's tracks; at the next start, :meth:`recover`
  makes each one a valid WAV of what survived before the uploader queues anything;
- each source's positions pass a :class:`~c2c_hub.recorder.guard.SourceGuard` (a jump is bounded,
  a source faster than real time is cut off): one bad microphone never harms another's track;
- a take refuses to start without room for ``min_free_minutes`` of every track, and a disk that
  fills mid-take stops it with every track closed valid at what reached the disk.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import grp
import json
import logging
import os
import re
import stat
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from c2c_hub.clock import Clock
from c2c_hub.devices import DeviceChange, DeviceRegistry
from c2c_hub.errors import HubError
from c2c_hub.private_files import write_private
from c2c_hub.recorder.derived import DerivedSettings, EncoderFactory, TakeDerived
from c2c_hub.recorder.guard import SourceGuard
from c2c_hub.recorder.mix import MixSettings
from c2c_hub.recorder.proxy import ProxyEncoder, rebuild_proxy
from c2c_hub.recorder.recovery import Repair, TakeJournal, repair_track
from c2c_hub.recorder.wav import TrackAssembler, TrackInfo, track_filename
from c2c_hub.subdevices import AudioBlock
from c2c_hub.tasks import sleep_or_wake
from c2c_hub.timecode import Timecode, TimecodeClock
from c2c_hub.timecode.timeline import HubTimecode, TakeSync
from c2c_hub.uploader import Uploader
from c2c_hub.uploader.content_types import WAV

log = logging.getLogger(__name__)

SCENE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$")
NUMBERING_FILE = "takes.json"
TRACK_BITS = 24  # every track: mono, 24-bit PCM
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
EARLY_SECONDS = 20  # samples kept for a track still being opened


class _Phases:
    """How long each phase of a stop took, for its log line (a slow stop says where)."""

    def __init__(self) -> None:
        self._last = self._start = time.monotonic()
        self._spent: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self._spent.append((name, now - self._last))
        self._last = now

    def spent(self) -> dict[str, float]:
        return dict(self._spent)

    def __str__(self) -> str:
        parts = ", ".join(f"{name} {spent:.2f} s" for name, spent in self._spent)
        return f"{self._last - self._start:.2f} s ({parts})"


class TakeError(HubError, RuntimeError):
    """A take command that cannot be carried out now (the message says why)."""


@dataclass
class Track:
    index: int
    serial: str
    name: str
    path: Path
    assembler: TrackAssembler
    guard: SourceGuard
    file_id: int | None = None
    pending: list[AudioBlock] = field(default_factory=list)
    blocks: int = 0
    error: str | None = None
    durable_size: int = 0  # bytes fsynced (what the uploader may send)
    synced_at: float = 0.0
    sealed: Repair | None = None  # closed at what reached the disk (a full disk, a failed write)

    @property
    def frames(self) -> int:
        return self.sealed.frames if self.sealed is not None else self.assembler.frames_written

    @property
    def warning(self) -> str | None:
        g = self.guard
        if g.cut_off is not None:
            return g.cut_off
        if g.discontinuities and g.last_finding is not None:
            n = g.discontinuities
            return f"{n} discontinuit{'y' if n == 1 else 'ies'}; last: {g.last_finding.detail}"
        return None

    def to_json(self) -> dict[str, Any]:
        a = self.assembler
        return {
            "index": self.index,
            "serial": self.serial,
            "name": self.name,
            "path": str(self.path),
            "file_id": self.file_id,
            "frames": self.frames,
            "dropouts": a.dropouts,
            "dropout_samples": a.dropout_samples,
            "discarded_samples": a.discarded_samples,
            "durable_bytes": self.durable_size,
            "source": self.guard.snapshot(),
            "warning": self.warning,
            "error": self.error,
        }


@dataclass
class Take:
    scene: str
    number: int
    directory: Path
    started_at: float
    start_position: int
    start_timecode: str
    sample_rate: int
    tracks: dict[str, Track] = field(default_factory=dict)
    early: dict[str, list[AudioBlock]] = field(default_factory=dict)  # before a track opened
    early_frames: dict[str, int] = field(default_factory=dict)
    guards: dict[str, SourceGuard] = field(default_factory=dict)
    ended_at: float | None = None
    stop_phases: dict[str, float] = field(default_factory=dict)  # seconds each phase of the stop
    end_position: int | None = None
    failure: str | None = None  # why the take stopped by itself (a full disk)
    split: str | None = None  # why the take ended to go on in the next (a sample rate change)
    derived: TakeDerived | None = None  # the mix, the proxies, the poly file
    sync: TakeSync | None = None  # the timecode it took at its start, to its end
    warnings: list[str] = field(default_factory=list)  # timecode warnings at its start
    trigger: str = "operator"  # or "record-run"

    @property
    def shift(self) -> int:
        """Added to every source position: the reference count to the take's timecode."""
        return self.sync.shift if self.sync is not None else 0

    @property
    def label(self) -> str:
        return f"scene {self.scene} take {self.number}"

    @property
    def frames(self) -> int | None:
        if self.end_position is None:
            return None
        return self.end_position - self.start_position

    def to_json(self) -> dict[str, Any]:
        return {
            "scene": self.scene,
            "take": self.number,
            "directory": str(self.directory),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "start_timecode": self.start_timecode,
            "start_position": self.start_position,
            "sample_rate": self.sample_rate,
            "frames": self.frames,
            "seconds": None if self.frames is None else self.frames / self.sample_rate,
            "failure": self.failure,
            "split": self.split,
            "timecode_sync": self.sync.to_json() if self.sync is not None else None,
            "warnings": self.warnings,
            "trigger": self.trigger,
            "tracks": [t.to_json() for t in sorted(self.tracks.values(), key=lambda t: t.index)],
            "derived": self.derived.to_json() if self.derived is not None else None,
        }

    def journal(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        take = {
            "scene": self.scene,
            "take": self.number,
            "directory": str(self.directory),
            "started_at": self.started_at,
            "start_position": self.start_position,
        }
        tracks = [
            {"path": str(t.path), "serial": t.serial, "file_id": t.file_id}
            for t in sorted(self.tracks.values(), key=lambda t: t.index)
        ]
        if self.derived is not None:
            tracks += self.derived.journal()
        return take, tracks


class Recorder:
    """Starts and stops takes; see the module docstring."""

    def __init__(
        self,
        devices: DeviceRegistry,
        uploader: Uploader,
        *,
        directory: Path,
        data_dir: Path,
        clock: Clock,
        timecode: TimecodeClock | HubTimecode,
        sample_rate: int = 48000,
        default_scene: str = "1",
        stop_grace_s: float = 0.25,
        flush_s: float = 0.1,
        fsync_interval_s: float = 1.0,
        position_tolerance_s: float = 2.0,
        min_free_minutes: float = 10.0,
        project: Callable[[], str | None] = lambda: None,
        group: str | None = None,
        pinned: Mapping[str, int] | None = None,
        derived: DerivedSettings | None = None,
        proxy_encoder: EncoderFactory = ProxyEncoder,
        preroll_s: float = 0.0,
    ) -> None:
        self.devices = devices
        #: fixed track numbers by serial (``recorder.tracks``); the others take the lowest
        #: numbers no pin holds
        self.pinned: Mapping[str, int] = pinned or {}
        self.group = recordings_gid(group)
        self.uploader = uploader
        self.directory = directory
        self.clock = clock
        self.timecode = timecode
        self.sample_rate = sample_rate
        self.stop_grace_s = stop_grace_s
        self.flush_s = flush_s
        self.fsync_interval_s = fsync_interval_s
        self.position_tolerance_s = position_tolerance_s
        self.min_free_minutes = min_free_minutes
        self.project = project
        self.derived = derived or DerivedSettings(mix=False, proxies=False)
        self.proxy_encoder = proxy_encoder
        self.journal = TakeJournal(data_dir)
        self.recovered: list[Repair] = []
        self.rebuilt_proxies: list[str] = []  # what recover() said of each proxy rebuilt
        self._numbering_path = data_dir / NUMBERING_FILE
        self._numbering = self._load_numbering(default_scene)
        self.take: Take | None = None
        self.last_take: Take | None = None
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._writer_stop = asyncio.Event()
        self._flush_lock = asyncio.Lock()  # one batch at a time reaches a track's file
        self._unsubscribe: list[Callable[[], None]] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        # Pre-roll: the last seconds of every source, so a take may start in the past.
        self.preroll_s = preroll_s
        self._recent: dict[str, deque[AudioBlock]] = {}

    # ------------------------------------------------------------------ numbering
    def _load_numbering(self, default_scene: str) -> dict[str, Any]:
        try:
            data = json.loads(self._numbering_path.read_text())
            if isinstance(data, dict) and isinstance(data.get("takes"), dict):
                data.setdefault("scene", default_scene)
                return data
            log.warning("%s: not a take numbering file; starting again", self._numbering_path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning(
                "%s: unreadable (%s); take numbering starts again", self._numbering_path, exc
            )
        return {"scene": default_scene, "takes": {}}

    def _save_numbering(self) -> None:
        write_private(self._numbering_path, json.dumps(self._numbering).encode())

    @property
    def scene(self) -> str:
        return str(self._numbering["scene"])

    def next_take_number(self, scene: str | None = None) -> int:
        return int(self._numbering["takes"].get(scene or self.scene, 0)) + 1

    # ------------------------------------------------------------------ events
    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a recorder listener failed")

    # ------------------------------------------------------------------ lifecycle
    async def recover(self) -> list[Repair]:
        """Make every track of a take interrupted by a power cut or a kill a valid WAV of what
        survived (see :func:`~c2c_hub.recorder.recovery.repair_track`). Call before the
        uploader starts, so that it queues the repaired files."""
        entry = await asyncio.to_thread(self.journal.read)
        if entry is None:
            return []
        label = _journal_label(entry.get("take"))
        repairs: list[Repair] = []
        proxies = []
        for item in entry["tracks"]:
            raw = item.get("path") if isinstance(item, dict) else None
            if not isinstance(raw, str):
                continue
            if item.get("kind") == "proxy":
                proxies.append(item)  # once every WAV (its hero among them) is repaired
                continue
            path = Path(raw)
            try:
                repair = await asyncio.to_thread(repair_track, path)
            except FileNotFoundError:
                log.error("%s: track %s is gone; nothing of it to recover", label, path)
                continue
            except (OSError, ValueError) as exc:
                log.error("%s: track %s cannot be recovered: %s", label, path, exc)
                continue
            repairs.append(repair)
            log.warning(
                "%s was interrupted; recovered %s (%.2f s)",
                label,
                repair.describe(),
                repair.frames / self.sample_rate,
            )
        rebuilt = [r for item in proxies if (r := await self._rebuild_proxy(label, item))]
        await asyncio.to_thread(self.journal.clear)
        self.recovered = repairs
        self.rebuilt_proxies = [r["detail"] for r in rebuilt]
        if repairs or rebuilt:
            self._emit(
                {
                    "type": "take_recovered",
                    "take": entry.get("take"),
                    "tracks": [
                        {"path": str(r.path), "frames": r.frames, "detail": r.describe()}
                        for r in repairs
                    ],
                    "proxies": rebuilt,
                }
            )
        return repairs

    async def _rebuild_proxy(self, label: str, item: dict[str, Any]) -> dict[str, Any] | None:
        """A proxy cut short: encoded again from its repaired hero, so it holds every sample
        the hero does (:func:`~c2c_hub.recorder.proxy.rebuild_proxy`)."""
        path, hero = Path(str(item["path"])), Path(str(item.get("hero")))
        try:
            size = await asyncio.to_thread(
                rebuild_proxy, path, hero, int(item.get("bitrate_kbps", 128))
            )
        except FileNotFoundError as exc:
            log.error("%s: proxy %s cannot be rebuilt: %s is gone", label, path.name, exc.filename)
            return None
        except (OSError, ValueError, RuntimeError) as exc:
            log.error("%s: proxy %s cannot be rebuilt (left as it is): %s", label, path.name, exc)
            return None
        log.warning(
            "%s was interrupted; proxy %s encoded again from %s (%d bytes)",
            label,
            path.name,
            hero.name,
            size,
        )
        detail = f"{path.name}: encoded again from {hero.name} ({size} bytes)"
        return {"path": str(path), "hero": str(hero), "bytes": size, "detail": detail}

    async def start(self) -> None:
        if self.derived.mix or self.derived.proxies or self.derived.poly:
            for key, priority in self.derived.type_priorities().items():
                await self.uploader.set_type_priority(key, priority)
        self._unsubscribe.append(self.devices.on_audio(self._audio))
        self._unsubscribe.append(self.devices.on_change(self._device_changed))

    async def stop(self) -> None:
        if self.take is not None:
            await self.stop_take()
        last = self.last_take
        if last is not None and last.derived is not None:
            await last.derived.wait()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # ------------------------------------------------------------------ takes
    async def start_take(
        self,
        scene: str | None = None,
        take: int | None = None,
        *,
        start_at: int | None = None,
        trigger: str = "operator",
    ) -> Take:
        """Start recording every attached microphone. Raises :class:`TakeError`.

        ``start_at`` (a timecode position, samples since midnight) starts the take in the past,
        from the pre-roll buffer (``preroll_s``; record-run uses it so the first second is not
        lost); never earlier than the buffer holds.
        """
        async with self._lock:
            if self.take is not None:
                raise TakeError(f"already recording {self.take.label}")
            scene = (scene or self.scene).strip()
            if not SCENE_RE.match(scene):
                raise TakeError(
                    f"scene {scene!r}: use up to 32 letters, digits, spaces and ._- "
                    "(starting with a letter or digit)"
                )
            number = take if take is not None else self.next_take_number(scene)
            if number < 1 or number > 999:
                raise TakeError(f"take {number}: must be 1 to 999")
            now = self.clock.now()
            rate = self.take_rate()
            directory = self.directory / _folder(scene, number)
            if directory.exists() and any(directory.iterdir()):
                raise TakeError(f"{directory} already holds files; pick another take number")
            await asyncio.to_thread(make_recordings_dirs, self.directory, directory, self.group)
            await asyncio.to_thread(self._check_room, directory, rate)
            self._numbering["scene"] = scene
            self._numbering["takes"][scene] = max(
                number, int(self._numbering["takes"].get(scene, 0))
            )
            self._save_numbering()
            # From here to the take's end the timecode holds still: no jam, no offset change.
            now = self.clock.now()
            sync = self._take_sync(rate)
            warnings = self.timecode.warnings() if isinstance(self.timecode, HubTimecode) else []
            position = self.timecode.sample_position(rate, at=now)
            started_at = now
            if start_at is not None and self.preroll_s > 0:
                earliest = position - round((self.preroll_s + 2.0) * rate)
                start_at = max(earliest, min(position, start_at))
                started_at = now - (position - start_at) / rate
                position = start_at
            self.take = Take(
                scene=scene,
                number=number,
                directory=directory,
                started_at=started_at,
                start_position=position,
                start_timecode=str(
                    self.timecode.timecode(at=now)
                    if started_at == now
                    else Timecode.from_seconds(position / rate, sync.rate)
                ),
                sample_rate=rate,
                sync=sync,
                warnings=warnings,
                trigger=trigger,
            )
            self.take.derived = TakeDerived(
                self.derived,
                self.uploader,
                base=self._info(self.take, directory / "take.wav", "", 1, ""),
                timecode=self.take.start_timecode,
                capture_time=now,
                encoder=self.proxy_encoder,
            )
            for warning in warnings:
                log.warning("%s: %s", self.take.label, warning)
                self._emit({"type": "timecode_warning", "detail": warning})
            if start_at is not None:
                self._replay_preroll(self.take)
            audio = [a for a in self.devices if a.kind.audio and a.device.audio]
            # pinned tracks first, by number; then the others as they attached
            audio.sort(key=lambda a: self.pinned.get(a.device.serial, 1 << 30))
            for attached in audio:
                await self._open_track(attached.device.serial, attached.device.name)
            await self.take.derived.open_mix([t.name for t in self.take.tracks.values()])
            await self._write_journal(self.take)
            self._writer_stop.clear()
            self._writer = asyncio.create_task(self._write_loop(), name="recorder-writer")
            log.info(
                "recording %s at %s: %d track(s) in %s",
                self.take.label,
                self.take.start_timecode,
                len(self.take.tracks),
                directory,
            )
            self._emit({"type": "take_started", "take": self.take.to_json()})
            return self.take

    def _take_sync(self, rate: int) -> TakeSync:
        if isinstance(self.timecode, HubTimecode):
            return self.timecode.take_began(rate)
        return TakeSync(
            shift=0, source="SYSTEM", rate=self.timecode.rate, offset_frames=0, jammed=False
        )

    def _replay_preroll(self, take: Take) -> None:
        """The buffered blocks from the take's (past) start on, as if they arrived now."""
        recent, self._recent = self._recent, {}
        for serial, blocks in recent.items():
            wanted = [b for b in blocks if b.position + take.shift + b.frames > take.start_position]
            for block in _coalesce(wanted):
                self._audio(serial, block)

    def _microphones(self) -> int:
        return sum(1 for attached in self.devices if attached.kind.audio and attached.device.audio)

    def take_rate(self) -> int:
        """The next take's sample rate: the recorder's own inputs' (their server's), when they
        agree on one, else ``recorder.sample_rate``."""
        rates = {
            a.device.audio.sample_rate
            for a in self.devices
            if a.kind.primary_channel and a.device.audio is not None
        }
        return rates.pop() if len(rates) == 1 else self.sample_rate

    def _check_room(self, directory: Path, rate: int) -> None:
        """Refuse a take the disk cannot hold for ``min_free_minutes`` at today's track count."""
        tracks = self._microphones()
        if not tracks or self.min_free_minutes <= 0:
            return
        per_minute = tracks * rate * (TRACK_BITS // 8) * 60
        need = int(per_minute * self.min_free_minutes)
        st = os.statvfs(directory)
        free = st.f_bavail * st.f_frsize
        if free < need:
            raise TakeError(
                f"not enough room to record in {directory}: {_mb(free)} free, and "
                f"{tracks} track(s) at {rate} Hz/{TRACK_BITS}-bit need {_mb(need)} "
                f"for {self.min_free_minutes:g} minutes (recorder.min_free_minutes); "
                "free some space or record elsewhere"
            )

    async def _write_journal(self, take: Take) -> None:
        entry, tracks = take.journal()
        try:
            await asyncio.to_thread(self.journal.write, entry, tracks)
        except OSError as exc:
            log.error("%s: cannot note the take in %s: %s", take.label, self.journal.path, exc)

    async def stop_take(self, *, _only: Take | None = None) -> Take:
        """Stop: every track gets exactly the take's length, then is closed and handed over.

        After a full disk (``take.failure``), or for a track whose file failed, the track is
        instead closed at what reached the disk: a valid WAV, shorter than the take.
        """
        async with self._lock:
            take = self.take
            if take is None or (_only is not None and take is not _only):
                raise TakeError("not recording")
            now = self.clock.now()
            take.ended_at = now
            take.end_position = take.start_position + round(
                (now - take.started_at) * take.sample_rate
            )
            phases = _Phases()
            if self.stop_grace_s:
                await asyncio.sleep(self.stop_grace_s)  # samples still on the wire
            phases.mark("grace")
            # Never cancel a batch half-written (its samples would be lost, or land after the
            # file is closed): the writer finishes the batch it has, then stops.
            self._writer_stop.set()
            if self._writer is not None:
                await self._writer
            self._writer = None
            await self._flush()
            phases.mark("writer")
            end = take.end_position
            for track in take.tracks.values():
                await self._close_track(take, track, end)
            phases.mark("tracks")
            derived = take.derived
            failed = [t.serial for t in take.tracks.values() if t.error or t.sealed is not None]
            heroes = []
            for track in take.tracks.values():
                if track.file_id is not None:
                    self.uploader.recording_grew(track.file_id, durable_size=track.durable_size)
                    heroes.append(("iso", track.file_id))
            if derived is not None:
                await asyncio.to_thread(derived.finish, end, failed)
                phases.mark("mix and proxies")
                await derived.end(heroes)  # proxies, the mix, the ISOs: in upload order
                isos = [
                    t.assembler.info
                    for t in sorted(take.tracks.values(), key=lambda t: t.index)
                    if t.serial not in failed
                ]
                derived.start_poly(isos, end)
            else:
                for _, file_id in heroes:
                    await self.uploader.end_recording(file_id)
            phases.mark("uploader")
            take.stop_phases = phases.spent()
            await asyncio.to_thread(self.journal.clear)
            self.take = None
            self.last_take = take
            if isinstance(self.timecode, HubTimecode):
                self.timecode.take_ended()
            log.info(
                "stopped %s: %.2f s, %d track(s); the stop took %s",
                take.label,
                (take.frames or 0) / take.sample_rate,
                len(take.tracks),
                phases,
            )
            self._emit({"type": "take_stopped", "take": take.to_json()})
            return take

    async def _close_track(self, take: Take, track: Track, end: int) -> None:
        writer = track.assembler.writer
        if take.failure is None and writer.failed is None:
            try:
                await asyncio.to_thread(track.assembler.finish, end)
                track.durable_size = await asyncio.to_thread(_size, track.path)
                return
            except OSError as exc:  # a disk that filled while padding to the end
                log.error("%s: could not close %s: %s", take.label, track.path, exc)
                track.error = f"could not close: {exc}"
            except Exception as exc:
                track.error = f"could not close: {exc}"
                log.exception("%s: could not close %s", take.label, track.path)
                return
        try:
            track.sealed = await asyncio.to_thread(_seal, track.assembler)
        except Exception as exc:
            track.error = f"could not close: {exc}"
            log.exception("%s: could not close %s", take.label, track.path)
            return
        track.durable_size = await asyncio.to_thread(_size, track.path)
        log.warning(
            "%s: %s closed at what reached the disk: %.2f s",
            take.label,
            track.path.name,
            track.sealed.frames / take.sample_rate,
        )

    def _free_index(self, take: Take) -> int:
        """The lowest track number neither pinned nor used in ``take``."""
        taken = {t.index for t in take.tracks.values()} | set(self.pinned.values())
        index = 1
        while index in taken:
            index += 1
        return index

    async def _open_track(self, serial: str, name: str) -> Track | None:
        take = self.take
        assert take is not None
        if serial in take.tracks:
            return take.tracks[serial]
        index = self.pinned.get(serial) or self._free_index(take)
        path = take.directory / track_filename(take.scene, take.number, index, name)
        info = self._info(take, path, name, index, f"{serial}-{take.scene}-{take.number}")
        try:
            assembler = await asyncio.to_thread(_open_assembler, info)
        except OSError as exc:
            log.error("%s: cannot create %s: %s", take.label, path, exc)
            self._emit({"type": "track_error", "serial": serial, "error": str(exc)})
            return None
        track = Track(index, serial, name, path, assembler, self._guard(take, serial))
        track.durable_size = assembler.writer.durable_size
        track.synced_at = self.clock.now()
        attached = self.devices.get(serial)
        # the recorder's own inputs (and their proxies) go on the primary channel; a microphone's
        # on its own
        device = None if attached is not None and attached.kind.primary_channel else serial
        if take.derived is not None:  # joins the mix, gets its proxy (queued first)
            await take.derived.track_opened(serial, assembler, device=device)
        track.pending.extend(take.early.pop(serial, []))
        take.tracks[serial] = track
        track.file_id = await self.uploader.begin_recording(
            path,
            filetype=WAV,
            device=device,
            channel=0,
            capture_time=take.started_at,
            kind="iso",
        )
        await self._write_journal(take)  # before a sample is written, the journal lists it
        self._emit({"type": "track_opened", "track": track.to_json()})
        return track

    def _info(self, take: Take, path: Path, name: str, index: int, reference: str) -> TrackInfo:
        return TrackInfo(
            path=path,
            sample_rate=take.sample_rate,
            channels=1,
            bits=24,
            start_position=take.start_position,
            timecode_rate=self.timecode.rate,
            project=self.project() or "",
            scene=take.scene,
            take=str(take.number),
            tape=_tape(take.started_at),
            track_name=name,
            track_index=index,
            note="",
            originator_reference=reference,
            timecode_source=take.sync.source if take.sync is not None else "",
            user_bits=(take.sync.user_bits or "") if take.sync is not None else "",
        )

    # ------------------------------------------------------------------ the mix
    def set_mix(self, settings: MixSettings) -> None:
        """New mix settings: the take rolling (if any) mixes with them from its next block;
        the mode (mono or stereo) applies from the next take."""
        self.derived = replace(self.derived, mix_settings=settings)
        take = self.take
        if take is not None and take.derived is not None:
            take.derived.set_mix(settings)

    def mix_snapshot(self) -> dict[str, Any]:
        """The mix's settings and, while a take rolls, what it mixes (status key ``mix``)."""
        take = self.take if self.take is not None else self.last_take
        d = self.derived
        return {
            "enabled": d.mix,
            "settings": d.mix_settings.to_json(),
            "proxies": {
                "enabled": d.proxies,
                "files": sorted(d.proxy_files),
                "bitrate_kbps": d.proxy_bitrate_kbps,
            },
            "poly": d.poly,
            "upload_order": list(d.upload_order),
            "take": take.label if take is not None else None,
            "live": take.derived.to_json() if take is not None and take.derived else None,
        }

    def _guard(self, take: Take, serial: str) -> SourceGuard:
        guard = take.guards.get(serial)
        if guard is None:
            attached = self.devices.get(serial)
            audio = attached.device.audio if attached is not None else None
            guard = SourceGuard(
                serial,
                sample_rate=take.sample_rate,
                tolerance=round(self.position_tolerance_s * take.sample_rate),
                source_rate=audio.sample_rate if audio is not None else None,
            )
            take.guards[serial] = guard
            if guard.cut_off is not None:
                self._found(take, guard, "cut_off", guard.cut_off)
        return guard

    def _found(self, take: Take, guard: SourceGuard, kind: str, detail: str) -> None:
        n = guard.discontinuities
        if kind == "discontinuity" and n > 3 and n % 100:
            return  # a source that keeps jumping: every 100th is enough
        log.warning("%s: microphone %s: %s", take.label, guard.serial, detail)
        self._emit(
            {
                "type": kind,
                "serial": guard.serial,
                "detail": detail,
                "discontinuities": n,
                "dropped_samples": guard.dropped_samples,
            }
        )

    # ------------------------------------------------------------------ samples
    def _audio(self, serial: str, block: AudioBlock) -> None:
        take = self.take
        if take is None:
            if self.preroll_s > 0:
                self._keep_recent(serial, block)
            return
        if take.failure is not None:
            return
        if take.split is not None and self._rate_of(serial) != take.sample_rate:
            return  # at the next take's rate: the split is under way
        if take.shift:
            # The source's position (the reference count) on the take's timecode.
            block = AudioBlock(block.position + take.shift, block.samples)
        guard = self._guard(take, serial)
        now = self.clock.now()
        # A take counts on from the midnight before its start, past the next one; a source
        # counts from the midnight of its samples' own day: one day on, add that day.
        expected = self.timecode.sample_position(
            take.sample_rate, at=now, midnight_of=take.started_at
        )
        day = expected - self.timecode.sample_position(take.sample_rate, at=now)
        if day and abs(block.position + day - expected) < abs(block.position - expected):
            block = AudioBlock(block.position + day, block.samples)
        position, finding = guard.check(block.position, block.frames, expected=expected, now=now)
        if finding is not None:
            self._found(take, guard, finding.kind, finding.detail)
        if position is None:
            return
        if position != block.position:
            block = AudioBlock(position, block.samples)
        track = take.tracks.get(serial)
        if track is not None:
            track.pending.append(block)
        elif take.end_position is None:
            # Its track is being opened (files are created one after another): keep the samples.
            early = take.early.setdefault(serial, [])
            # 20 s of samples, whatever the block size (1 ms AES67 packets, 10 ms microphone
            # frames); a track never opened stops here.
            kept = take.early_frames.get(serial, 0)
            if kept < EARLY_SECONDS * take.sample_rate:
                early.append(block)
                take.early_frames[serial] = kept + block.frames

    def _keep_recent(self, serial: str, block: AudioBlock) -> None:
        blocks = self._recent.get(serial)
        if blocks is None:
            blocks = self._recent[serial] = deque()
        blocks.append(block)
        keep = round((self.preroll_s + 2.0) * self.sample_rate)
        while blocks and blocks[-1].position + blocks[-1].frames - blocks[0].position > keep:
            blocks.popleft()

    def _rate_of(self, serial: str) -> int | None:
        attached = self.devices.get(serial)
        audio = attached.device.audio if attached is not None else None
        return audio.sample_rate if audio is not None else None

    def _device_changed(self, change: DeviceChange) -> None:
        take = self.take
        if take is None or change.attached is None:
            return
        attached = change.attached
        audio = attached.device.audio
        if (
            attached.kind.primary_channel
            and audio is not None
            and audio.sample_rate != take.sample_rate
            and take.split is None
            and take.failure is None
        ):
            take.split = (
                f"the recorder's inputs now run at {audio.sample_rate} Hz ({attached.device.name}"
                f"), the take at {take.sample_rate} Hz: {take.label} ends here and the next "
                f"take goes on at {audio.sample_rate} Hz"
            )
            asyncio.get_running_loop().create_task(self._split(take), name="recorder-split")
            return
        if change.serial in take.tracks:
            return
        if attached.kind.audio and attached.device.audio is not None:
            # Arrived during the take: a track from the take's start, silent until now.
            asyncio.get_running_loop().create_task(
                self._join(change.serial, attached.device.name), name="recorder-join"
            )

    async def _join(self, serial: str, name: str) -> None:
        async with self._lock:
            if self.take is not None:
                await self._open_track(serial, name)

    async def _write_loop(self) -> None:
        while not self._writer_stop.is_set():
            await sleep_or_wake(self.clock, self.flush_s, self._writer_stop)
            await self._flush()

    async def flush(self) -> None:
        """Write every track's samples received so far (the writer does so every ``flush_s``)."""
        await self._flush()

    async def _flush(self) -> None:
        async with self._flush_lock:
            await self._flush_now()

    async def _flush_now(self) -> None:
        """One batch: every track's due samples, then the mix, written in one worker job (one
        hop to a thread per ``flush_s``, not one per track), then the uploader told."""
        take = self.take if self.take is not None else self.last_take
        if take is None or take.failure is not None:
            return
        now = self.clock.now()
        # Nothing past the hub's "now" reaches the disk (a source may run up to the guard's
        # tolerance ahead): what a take's end cuts is then always still in memory, and the
        # file the uploader follows never shrinks.
        limit = take.start_position + round((now - take.started_at) * take.sample_rate)
        if take.end_position is not None:
            limit = max(limit, take.end_position)
        aligns = take.derived is not None and take.derived.aligns and take.end_position is None
        jobs: list[_TrackJob] = []
        for track in list(take.tracks.values()):
            if track.sealed is not None or track.assembler.finished:
                continue
            if track.assembler.writer.failed is not None:
                track.pending.clear()
                continue
            blocks, track.pending = _due(track.pending, limit)
            sync = now - track.synced_at >= self.fsync_interval_s
            pad = None
            if aligns:
                # A quiet track is silence once it is this late: the mix follows every track.
                pad = limit - round((self.position_tolerance_s + 0.5) * take.sample_rate)
                if track.assembler.head >= pad:
                    pad = None
            if not blocks and not sync and pad is None:
                continue
            synced = None
            if sync and take.derived is not None:
                synced = functools.partial(take.derived.hero_synced, track.serial)
            jobs.append(_TrackJob(track, blocks, sync, pad, synced))
        derived = take.derived
        if derived is None or take.end_position is not None:
            derived = None
        derived_sync = derived is not None and now - derived.synced_at >= self.fsync_interval_s
        if not jobs and derived is None:
            return
        mix_error = await asyncio.to_thread(
            _write_batch, jobs, take.end_position, derived, derived_sync
        )
        for job in jobs:
            track = job.track
            if job.error is not None:
                self._write_failed(take, track, job.error)
                continue
            if not job.done:  # not reached: the disk filled on a track before it
                track.pending[:0] = job.blocks
                continue
            track.blocks += len(job.blocks)
            if job.durable is not None:
                track.durable_size, track.synced_at = job.durable, now
            if track.file_id is not None:
                self.uploader.recording_grew(track.file_id, durable_size=track.durable_size)
        if derived is not None and take.failure is None and mix_error is not _SKIPPED:
            if mix_error is not None:
                log.error("%s: the mix could not be written: %s", take.label, mix_error)
            if derived_sync:
                derived.synced_at = now
            await derived.report()

    def _write_failed(self, take: Take, track: Track, exc: Exception) -> None:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            if take.failure is None:
                take.failure = f"the disk is full ({track.path.parent}): {exc.strerror}"
                log.error(
                    "%s: %s; stopping the take, every track closed at what reached the disk",
                    take.label,
                    take.failure,
                )
                self._emit({"type": "take_failed", "reason": take.failure})
                if self.take is take:
                    asyncio.get_running_loop().create_task(
                        self._stop_failed(take), name="recorder-disk-full"
                    )
            track.error = f"write failed: {take.failure}"
            return
        if take.derived is not None:
            take.derived.track_failed(track.serial)
        if track.error is None:
            log.error("%s: writing %s failed: %s", take.label, track.path, exc)
            self._emit({"type": "track_error", "serial": track.serial, "error": str(exc)})
        track.error = f"write failed: {exc}"

    async def _split(self, take: Take) -> None:
        """End ``take`` (every track closed valid) and go on in the next take at the new rate."""
        log.warning("%s: split: %s", take.label, take.split)
        self._emit({"type": "take_split", "reason": take.split, "take": take.to_json()})
        try:
            await self.stop_take(_only=take)
        except TakeError:
            return  # stopped meanwhile: nothing to go on with
        try:
            following = await self.start_take(take.scene)
        except TakeError as exc:
            log.error("%s: split: the next take could not start: %s", take.label, exc)
            self._emit({"type": "take_failed", "reason": f"after a split: {exc}"})
            return
        log.info("%s goes on as %s at %d Hz", take.label, following.label, following.sample_rate)

    async def _stop_failed(self, take: Take) -> None:
        try:
            await self.stop_take(_only=take)
        except TakeError:
            pass  # stopped already

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        return {
            "recording": self.take is not None,
            "scene": self.scene,
            "next_take": self.next_take_number(),
            "timecode": str(self.timecode.timecode()),
            "timecode_rate": str(self.timecode.rate),
            "preroll_s": self.preroll_s,
            "take": self.take.to_json() if self.take is not None else None,
            "last_take": self.last_take.to_json() if self.last_take is not None else None,
            "recovered": [r.describe() for r in self.recovered] + self.rebuilt_proxies,
        }


FOLDER_MODE = 0o750  # the owner writes, the group reads and lists, nobody else


def recordings_gid(group: str | None) -> int | None:
    """The gid of ``recorder.group`` (a name or a number), None when unset."""
    if not group:
        return None
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"recorder.group: no such group {group!r}") from None


def make_recordings_dirs(root: Path, take_dir: Path, gid: int | None) -> None:
    """Create the take's folder; the recordings folder and it are 0750 (owner and group).

    With a group, both folders belong to it and carry the set-group-ID bit, so every track file
    created in them (0640, :data:`~c2c_hub.recorder.wav.TRACK_MODE`) is the group's too.
    """
    take_dir.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    for folder in (root, take_dir):
        if gid is not None:
            os.chown(folder, -1, gid)
        os.chmod(folder, FOLDER_MODE | (stat.S_ISGID if gid is not None else 0))


def _open_assembler(info: TrackInfo) -> TrackAssembler:
    assembler = TrackAssembler(info, durable=True)
    assembler.open()
    return assembler


def _due(blocks: list[AudioBlock], limit: int) -> tuple[list[AudioBlock], list[AudioBlock]]:
    """``blocks`` split at position ``limit``: what may be written now, and what waits."""
    ready: list[AudioBlock] = []
    later: list[AudioBlock] = []
    for block in blocks:
        end = block.position + block.frames
        if end <= limit:
            ready.append(block)
        elif block.position >= limit:
            later.append(block)
        else:
            cut = limit - block.position
            ready.append(AudioBlock(block.position, block.samples[:cut]))
            later.append(AudioBlock(limit, block.samples[cut:]))
    return ready, later


def _coalesce(blocks: list[AudioBlock], most: int = 48000) -> list[AudioBlock]:
    """Blocks that follow on joined into larger ones (up to ``most`` frames): the pre-roll of a
    source of 1 ms packets is thousands of blocks, each otherwise checked and queued alone."""
    out: list[AudioBlock] = []
    run: list[AudioBlock] = []
    for block in blocks:
        last = run[-1] if run else None
        if last is not None and (
            block.position != last.position + last.frames
            or block.samples.shape[1:] != last.samples.shape[1:]
            or sum(b.frames for b in run) + block.frames > most
        ):
            out.append(_joined(run))
            run = []
        run.append(block)
    if run:
        out.append(_joined(run))
    return out


def _joined(run: list[AudioBlock]) -> AudioBlock:
    if len(run) == 1:
        return run[0]
    return AudioBlock(run[0].position, np.concatenate([b.samples for b in run]))


def _seal(assembler: TrackAssembler) -> Repair:
    """Close a track at what reached the disk (after a failed write): a valid WAV."""
    assembler.writer.abandon()
    return repair_track(assembler.info.path)


def _size(path: Path) -> int:
    return path.stat().st_size


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10e6 else f"{n / 1e6:.1f} MB"


def _journal_label(take: Any) -> str:
    if isinstance(take, dict):
        return f"scene {take.get('scene')} take {take.get('take')}"
    return "an interrupted take"


@dataclass
class _TrackJob:
    """One track's share of a batch: what to write, and (from the worker) how it went."""

    track: Track
    blocks: list[AudioBlock]
    sync: bool
    pad: int | None
    synced: Callable[[], None] | None
    done: bool = False
    durable: int | None = None
    error: Exception | None = None


_SKIPPED = OSError("skipped: the disk is full")  # the mix not advanced: a track's disk filled


def _write_batch(
    jobs: list[_TrackJob], end: int | None, derived: TakeDerived | None, derived_sync: bool
) -> OSError | None:
    """Worker thread: every track's job in turn, then the mix (after the tracks: it follows
    what reached them). A full disk ends the batch there (the take stops; what is left is
    closed at what reached the disk). Returns the mix's write error, if any."""
    for job in jobs:
        try:
            job.durable = _write_blocks(
                job.track.assembler, job.blocks, end, job.sync, job.pad, job.synced
            )
            job.done = True
        except Exception as exc:
            job.error = exc
            if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
                return _SKIPPED
    if derived is None:
        return None
    try:
        derived.advance(derived_sync)
    except OSError as exc:
        return exc
    return None


def _write_blocks(
    assembler: TrackAssembler,
    blocks: list[AudioBlock],
    end: int | None,
    sync: bool = False,
    pad: int | None = None,
    synced: Callable[[], None] | None = None,
) -> int | None:
    """Write ``blocks`` in place; once the take has an end, nothing past it reaches the disk
    (a file the uploader follows must never shrink). With ``sync``, fsync the file, then call
    ``synced`` (its proxy's fsync), and return its durable size.

    Blocks that follow on are joined first (1 ms AES67 packets, 256-frame JACK periods): the
    file, the mix and the proxy then take one write per run of samples, not one per packet."""
    for block in _coalesce(blocks):
        samples = block.samples
        if samples.ndim == 2 and samples.shape[1] > 1:
            samples = samples[:, 0]  # one track per microphone: its first channel
        if end is not None:
            samples = samples[: max(0, end - block.position)]
            if not len(samples):
                continue
        # a source's blocks are never changed once sent: no copy to keep them held back
        assembler.write_at(block.position, np.ascontiguousarray(samples).reshape(-1), copy=False)
    if pad is not None:
        assembler.pad_to(pad)
    if sync:
        durable = assembler.sync()
        if synced is not None:
            synced()
        return durable
    assembler.flush()
    return None


def _folder(scene: str, number: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", scene).strip("-") or "scene"
    return f"S{safe}_T{number:03d}"


def _tape(epoch: float) -> str:
    """The "tape" (sound roll) name: the recording day, as many recorders name it."""
    import time

    return time.strftime("%y%m%d", time.localtime(epoch))


__all__ = ["Recorder", "Take", "TakeError", "Track"]
