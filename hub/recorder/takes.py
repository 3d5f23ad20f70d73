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

Samples arrive on the hub's loop (:class:`~c2c_hub.devices.DeviceRegistry` audio listeners) and
are written to disk in a worker thread, a batch every ``flush_s``, so the loop never blocks on
disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from c2c_hub.clock import Clock
from c2c_hub.devices import DeviceChange, DeviceRegistry
from c2c_hub.errors import HubError
from c2c_hub.recorder.wav import TrackAssembler, TrackInfo, track_filename
from c2c_hub.subdevices import AudioBlock
from c2c_hub.tasks import sleep_or_wake
from c2c_hub.timecode import TimecodeClock
from c2c_hub.tokens import write_private
from c2c_hub.uploader import Uploader

log = logging.getLogger(__name__)

SCENE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}$")
NUMBERING_FILE = "takes.json"


class TakeError(HubError, RuntimeError):
    """A take command that cannot be carried out now (the message says why)."""


@dataclass
class Track:
    index: int
    serial: str
    name: str
    path: Path
    assembler: TrackAssembler
    file_id: int | None = None
    pending: list[AudioBlock] = field(default_factory=list)
    blocks: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        a = self.assembler
        return {
            "index": self.index,
            "serial": self.serial,
            "name": self.name,
            "path": str(self.path),
            "file_id": self.file_id,
            "frames": a.frames_written,
            "dropouts": a.dropouts,
            "dropout_samples": a.dropout_samples,
            "discarded_samples": a.discarded_samples,
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
    ended_at: float | None = None
    end_position: int | None = None

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
            "tracks": [t.to_json() for t in sorted(self.tracks.values(), key=lambda t: t.index)],
        }


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
        timecode: TimecodeClock,
        sample_rate: int = 48000,
        default_scene: str = "1",
        stop_grace_s: float = 0.25,
        flush_s: float = 0.1,
        project: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.devices = devices
        self.uploader = uploader
        self.directory = directory
        self.clock = clock
        self.timecode = timecode
        self.sample_rate = sample_rate
        self.stop_grace_s = stop_grace_s
        self.flush_s = flush_s
        self.project = project
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
    async def start(self) -> None:
        self._unsubscribe.append(self.devices.on_audio(self._audio))
        self._unsubscribe.append(self.devices.on_change(self._device_changed))

    async def stop(self) -> None:
        if self.take is not None:
            await self.stop_take()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # ------------------------------------------------------------------ takes
    async def start_take(self, scene: str | None = None, take: int | None = None) -> Take:
        """Start recording every attached microphone. Raises :class:`TakeError`."""
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
            position = self.timecode.sample_position(self.sample_rate, at=now)
            directory = self.directory / _folder(scene, number)
            if directory.exists() and any(directory.iterdir()):
                raise TakeError(f"{directory} already holds files; pick another take number")
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            self._numbering["scene"] = scene
            self._numbering["takes"][scene] = max(
                number, int(self._numbering["takes"].get(scene, 0))
            )
            self._save_numbering()
            self.take = Take(
                scene=scene,
                number=number,
                directory=directory,
                started_at=now,
                start_position=position,
                start_timecode=str(self.timecode.timecode(at=now)),
                sample_rate=self.sample_rate,
            )
            for attached in self.devices:
                if attached.kind.audio and attached.device.audio:
                    await self._open_track(attached.device.serial, attached.device.name)
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

    async def stop_take(self) -> Take:
        """Stop: every track gets exactly the take's length, then is closed and handed over."""
        async with self._lock:
            take = self.take
            if take is None:
                raise TakeError("not recording")
            now = self.clock.now()
            take.ended_at = now
            take.end_position = take.start_position + round(
                (now - take.started_at) * self.sample_rate
            )
            if self.stop_grace_s:
                await asyncio.sleep(self.stop_grace_s)  # samples still on the wire
            # Never cancel a batch half-written (its samples would be lost, or land after the
            # file is closed): the writer finishes the batch it has, then stops.
            self._writer_stop.set()
            if self._writer is not None:
                await self._writer
            self._writer = None
            await self._flush()
            end = take.end_position
            for track in take.tracks.values():
                try:
                    await asyncio.to_thread(track.assembler.finish, end)
                except Exception as exc:
                    track.error = f"could not close: {exc}"
                    log.exception("%s: could not close %s", take.label, track.path)
                if track.file_id is not None:
                    await self.uploader.end_recording(track.file_id)
            self.take = None
            self.last_take = take
            log.info(
                "stopped %s: %.2f s, %d track(s)",
                take.label,
                (take.frames or 0) / self.sample_rate,
                len(take.tracks),
            )
            self._emit({"type": "take_stopped", "take": take.to_json()})
            return take

    async def _open_track(self, serial: str, name: str) -> Track | None:
        take = self.take
        assert take is not None
        if serial in take.tracks:
            return take.tracks[serial]
        index = len(take.tracks) + 1
        path = take.directory / track_filename(take.scene, take.number, index, name)
        info = TrackInfo(
            path=path,
            sample_rate=self.sample_rate,
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
            originator_reference=f"{serial}-{take.scene}-{take.number}",
        )
        try:
            assembler = await asyncio.to_thread(_open_assembler, info)
        except OSError as exc:
            log.error("%s: cannot create %s: %s", take.label, path, exc)
            self._emit({"type": "track_error", "serial": serial, "error": str(exc)})
            return None
        track = Track(index, serial, name, path, assembler)
        track.pending.extend(take.early.pop(serial, []))
        take.tracks[serial] = track
        track.file_id = await self.uploader.begin_recording(
            path,
            filetype="audio/wav",
            device=serial,
            capture_time=take.started_at,
        )
        self._emit({"type": "track_opened", "track": track.to_json()})
        return track

    # ------------------------------------------------------------------ samples
    def _audio(self, serial: str, block: AudioBlock) -> None:
        take = self.take
        if take is None:
            return
        track = take.tracks.get(serial)
        if track is not None:
            track.pending.append(block)
        elif take.end_position is None:
            # Its track is being opened (files are created one after another): keep the samples.
            early = take.early.setdefault(serial, [])
            if len(early) < 2000:  # ~20 s of 10 ms blocks; a track never opened stops here
                early.append(block)

    def _device_changed(self, change: DeviceChange) -> None:
        take = self.take
        if take is None or change.attached is None or change.serial in take.tracks:
            return
        attached = change.attached
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

    async def _flush(self) -> None:
        async with self._flush_lock:
            await self._flush_now()

    async def _flush_now(self) -> None:
        take = self.take if self.take is not None else self.last_take
        if take is None:
            return
        for track in list(take.tracks.values()):
            if not track.pending:
                continue
            blocks, track.pending = track.pending, []
            try:
                await asyncio.to_thread(_write_blocks, track.assembler, blocks, take.end_position)
            except Exception as exc:
                if track.error is None:
                    log.exception("%s: writing %s failed", take.label, track.path)
                track.error = f"write failed: {exc}"
                continue
            track.blocks += len(blocks)
            if track.file_id is not None:
                self.uploader.recording_grew(track.file_id)

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        return {
            "recording": self.take is not None,
            "scene": self.scene,
            "next_take": self.next_take_number(),
            "timecode": str(self.timecode.timecode()),
            "timecode_rate": str(self.timecode.rate),
            "take": self.take.to_json() if self.take is not None else None,
            "last_take": self.last_take.to_json() if self.last_take is not None else None,
        }


def _open_assembler(info: TrackInfo) -> TrackAssembler:
    assembler = TrackAssembler(info)
    assembler.open()
    return assembler


def _write_blocks(assembler: TrackAssembler, blocks: list[AudioBlock], end: int | None) -> None:
    """Write ``blocks`` in place; once the take has an end, nothing past it reaches the disk
    (a file the uploader follows must never shrink)."""
    for block in blocks:
        samples = block.samples
        if samples.ndim == 2 and samples.shape[1] > 1:
            samples = samples[:, 0]  # one track per microphone: its first channel
        if end is not None:
            samples = samples[: max(0, end - block.position)]
            if not len(samples):
                continue
        assembler.write_at(block.position, np.ascontiguousarray(samples).reshape(-1))
    assembler.flush()


def _folder(scene: str, number: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", scene).strip("-") or "scene"
    return f"S{safe}_T{number:03d}"


def _tape(epoch: float) -> str:
    """The "tape" (sound roll) name: the recording day, as many recorders name it."""
    import time

    return time.strftime("%y%m%d", time.localtime(epoch))


__all__ = ["Recorder", "Take", "TakeError", "Track"]
