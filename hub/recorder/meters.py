"""Level meters: each audio track's peak and RMS in dBFS, with clip hold, from the blocks every
track already gets (network microphones and the recorder's own inputs alike).

:class:`Meters` listens to the same audio as the recorder (the
:class:`~c2c_hub.devices.DeviceRegistry`'s audio listeners, on the hub's loop), rolling or not: a
sound mixer sets levels before "roll". A block costs nothing on arrival (it is kept, not
measured: tracks get hundreds to a thousand blocks a second, 1 ms AES67 packets, and numpy's
cost is mostly per call); every ``interval_s`` (20 a second by default) each track's blocks of
that interval are measured at once (largest magnitude, sum of squares, clipped samples) and
become one reading per track, published as a ``meters`` event and kept for the status
(``status["meters"]``): the terminal view and the web page draw the same numbers. A block's
time is its interval's: ``clipped_at`` and the no-signal mark are within ``interval_s``.

Per track:

- ``peak_dbfs``: the largest sample of the interval (full scale is 0 dBFS: a sine of amplitude
  0.5 peaks at -6.02 dBFS), and ``hold_dbfs``, the largest of the last ``peak_hold_s``;
- ``rms_dbfs``: the root mean square of the interval (that sine: -9.03 dBFS);
- ``clip``: a sample reached full scale within the last ``clip_hold_s`` (``clips`` counts
  them, ``clipped_at`` says when);
- ``signal``: False, with ``state`` saying why, for a track with no signal: ``no_audio`` (no
  block for ``no_signal_s``) or ``silent`` (nothing above ``silence_dbfs``).

Silence has no dBFS; it is ``None`` (never ``-inf``, which JSON cannot carry).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from c2c_hub.clock import Clock
from c2c_hub.devices import DeviceRegistry
from c2c_hub.subdevices import AudioBlock

log = logging.getLogger(__name__)

FULL_SCALE = float(1 << 31)  # samples are int32, left-justified
CLIP = 0x7FFFFF00  # the largest 24-bit value, left-justified: full scale
_MEASURE_AT = 2000  # blocks kept for a track before they are measured anyway


def dbfs(level: float) -> float | None:
    """``20 log10(level)`` (level 1.0 is full scale), rounded to 0.01; None for silence."""
    return round(20 * math.log10(level), 2) if level > 0 else None


@dataclass
class _Track:
    serial: str
    name: str
    peak: int = 0  # largest magnitude of this interval (int32 units)
    squares: float = 0.0  # sum of squares of this interval (full scale 1.0)
    count: int = 0
    last_block: float | None = None
    clipped_at: float | None = None
    clips: int = 0
    held: list[tuple[float, float]] | None = None  # (at, peak level) over peak_hold_s
    reading: dict[str, Any] | None = None
    blocks: list[npt.NDArray[np.int32]] | None = None  # not measured yet


class Meters:
    """Per-track levels; see the module docstring."""

    def __init__(
        self,
        devices: DeviceRegistry,
        *,
        clock: Clock,
        interval_s: float = 0.05,
        clip_hold_s: float = 2.0,
        peak_hold_s: float = 1.5,
        no_signal_s: float = 0.5,
        silence_dbfs: float = -90.0,
    ) -> None:
        self.devices = devices
        self.clock = clock
        self.interval_s = interval_s
        self.clip_hold_s = clip_hold_s
        self.peak_hold_s = peak_hold_s
        self.no_signal_s = no_signal_s
        self.silence = 10 ** (silence_dbfs / 20)
        self.updates = 0
        self._tracks: dict[str, _Track] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._unsubscribe.append(self.devices.on_audio(self.feed))
        self._task = asyncio.create_task(self._run(), name="meters")

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def on_reading(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """``listener(event)`` every interval: ``{"type": "levels", "tracks": [...]}``."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # ------------------------------------------------------------------ measuring
    def feed(self, serial: str, block: AudioBlock) -> None:
        """One block of a track (the registry's audio listener; also for tests): kept until the
        interval's reading (blocks are never changed once sent: the recorder keeps them too)."""
        track = self._tracks.get(serial)
        if track is None:
            attached = self.devices.get(serial)
            name = attached.device.name if attached is not None else serial
            track = self._tracks[serial] = _Track(serial, name)
        blocks = track.blocks
        if blocks is None:
            track.blocks = [block.samples]
        else:
            blocks.append(block.samples)
            if len(blocks) >= _MEASURE_AT:  # nobody reads (a stalled loop): memory stays bounded
                self._measure(track, self.clock.now())

    def _measure(self, track: _Track, now: float) -> None:
        """The blocks kept since the last measure, in one pass of numpy: their largest
        magnitude, sum of squares and clipped samples."""
        blocks, track.blocks = track.blocks, None
        if not blocks:
            return
        # a track is a sub-device's first channel, as recorded
        firsts = [b if b.ndim == 1 else b[:, 0] for b in blocks]
        samples = firsts[0] if len(firsts) == 1 else np.concatenate(firsts)
        if not samples.size:
            return
        peak = max(int(samples.max()), -int(samples.min()))  # Python ints: no int32 overflow
        wide = samples.astype(np.float64)
        track.squares += float(np.dot(wide, wide)) / (FULL_SCALE * FULL_SCALE)
        track.count += int(samples.size)
        track.peak = max(track.peak, peak)
        track.last_block = now
        if peak >= CLIP:
            track.clips += int(np.count_nonzero(samples >= CLIP))
            track.clips += int(np.count_nonzero(samples <= -CLIP))
            track.clipped_at = now

    def read(self) -> list[dict[str, Any]]:
        """Close the interval: one reading per attached audio track (and each one just left)."""
        now = self.clock.now()
        attached = {a.device.serial: a for a in self.devices if a.kind.audio and a.device.audio}
        for serial, entry in attached.items():
            if serial not in self._tracks:
                self._tracks[serial] = _Track(serial, entry.device.name)
            else:
                self._tracks[serial].name = entry.device.name
        readings = []
        for serial in sorted(self._tracks, key=lambda s: (s not in attached, s)):
            track = self._tracks[serial]
            self._measure(track, now)
            if serial not in attached and (
                track.last_block is None or now - track.last_block > self.no_signal_s
            ):
                del self._tracks[serial]  # gone, and quiet since
                continue
            track.reading = self._reading(track, now)
            readings.append(track.reading)
        self.updates += 1
        return readings

    def _reading(self, track: _Track, now: float) -> dict[str, Any]:
        fresh = track.count > 0
        if fresh:
            peak = track.peak / FULL_SCALE
            rms = math.sqrt(track.squares / track.count)
            track.held = [
                (at, level) for at, level in (track.held or []) if now - at <= self.peak_hold_s
            ]
            track.held.append((now, peak))
            track.peak, track.squares, track.count = 0, 0.0, 0
        elif track.reading is not None and track.last_block is not None:
            # no block this interval, but one lately (blocks come every 10-20 ms): as it was
            if now - track.last_block <= self.no_signal_s:
                return {**track.reading, "at": now}
            peak = rms = 0.0
        else:
            peak = rms = 0.0
        hold = max((level for _, level in track.held or []), default=0.0)
        clip = track.clipped_at is not None and now - track.clipped_at <= self.clip_hold_s
        receiving = track.last_block is not None and now - track.last_block <= self.no_signal_s
        if not receiving:
            state = "no_audio"
        elif peak <= self.silence and hold <= self.silence:
            state = "silent"
        else:
            state = "ok"
        return {
            "serial": track.serial,
            "name": track.name,
            "peak_dbfs": dbfs(peak) if receiving else None,
            "rms_dbfs": dbfs(rms) if receiving else None,
            "hold_dbfs": dbfs(hold) if receiving else None,
            "clip": clip,
            "clips": track.clips,
            "clipped_at": track.clipped_at,
            "signal": state == "ok",
            "state": state,
            "at": now,
        }

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.interval_s)
            readings = self.read()
            if not readings:
                continue
            event = {"type": "levels", "interval_s": self.interval_s, "tracks": readings}
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("a meters listener failed")

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        """The last reading of every track, for the status."""
        return {
            "interval_s": self.interval_s,
            "updates": self.updates,
            "tracks": [t.reading for t in self._tracks.values() if t.reading is not None],
        }


__all__ = ["CLIP", "Meters", "dbfs"]
