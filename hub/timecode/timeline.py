"""The hub's timecode: where it comes from, jam and free-run, the operator's offset, and drift.

Every source of audio places its samples by position: samples since midnight of the clock it is
synced to (a network microphone to the hub's clock, an AES67 stream to PTP time through its RTP
timestamps, a local input to the hub's clock). That shared count is the **reference**. The
hub's **timecode** is the reference plus a *shift* in samples:

- ``system``: the system clock's time of day (shift 0, plus ``recorder.timecode_offset_s``);
- ``ptp``: the same count, with the system clock disciplined by linuxptp (``ptp4l`` on the
  network's grandmaster, ``phc2sys`` steering the system clock); their state is shown
  (:mod:`c2c_hub.timecode.ptp`) and a take warns when they are not locked;
- ``ltc``: LTC read from one channel of one source (``timecode.ltc_device``,
  ``timecode.ltc_channel``). When the LTC runs, the hub **jams**: the shift becomes the LTC
  frame's time minus the source position where that frame starts, to the sample. When the LTC
  stops the shift stays: the timecode **free-runs** on the audio's sample clock (each track is
  placed by its samples' positions plus the shift), and the time since the last jam is shown.
  When the LTC comes back it jams again, but never during a take: a take keeps the shift it
  started with from its first sample to its last, so no track ever jumps.

On top comes the **offset**, a whole number of frames the operator sets at run time
(:meth:`HubTimecode.set_offset`), persisted in ``<data_dir>/timecode.json`` and applied from the
next take on (at once when no take runs).

**Drift**: for every source, the hub compares where its newest sample is with where the hub's
clock says now is (the smallest difference over a few seconds, so network jitter does not
count) and shows it in milliseconds, with its trend in ppm; for the LTC source it also shows
how far the LTC is from the free-running timecode. Beyond ``timecode.drift_warn_ms`` a take
starts with a warning (:meth:`HubTimecode.warnings`).

:class:`HubTimecode` has the methods of :class:`~c2c_hub.timecode.smpte.TimecodeClock` the
recorder and the press log use (``rate``, ``timecode()``, ``sample_position()``), so both read
the jammed timecode.
"""

from __future__ import annotations

import json
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from c2c_hub.clock import Clock
from c2c_hub.private_files import write_private
from c2c_hub.subdevices import AudioBlock
from c2c_hub.timecode.ltc_input import LtcEvent, LtcInput
from c2c_hub.timecode.ptp import PtpMonitor
from c2c_hub.timecode.smpte import SECONDS_PER_DAY, FrameRate, Timecode, TimecodeClock

log = logging.getLogger(__name__)

Source = Literal["system", "ltc", "ptp"]
SOURCE_LABELS: dict[str, str] = {"system": "SYSTEM", "ltc": "LTC", "ptp": "PTP"}
STATE_FILE = "timecode.json"
MAX_OFFSET_FRAMES = 24 * 3600 * 60
JAM_TOLERANCE_S = 0.001  # the LTC may wander this far from the free-running timecode unjammed
DRIFT_WINDOW_S = 2.0  # drift: the smallest lateness over windows this long...
DRIFT_WINDOWS = 30  # ... the last this many of them, for the trend
DRIFT_EVERY_S = 0.02  # one source's drift is looked at no more often than this


@dataclass(frozen=True)
class TakeSync:
    """What a take took from the timecode at its start, kept unchanged to its end.

    ``shift`` is added to every source position of the take (samples at the take's rate).
    """

    shift: int
    source: str
    rate: FrameRate
    offset_frames: int
    jammed: bool
    user_bits: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "shift_samples": self.shift,
            "offset_frames": self.offset_frames,
            "jammed": self.jammed,
            "user_bits": self.user_bits,
            "detail": self.detail,
        }


@dataclass
class Drift:
    """One source's sample positions against the hub's clock."""

    serial: str
    sample_rate: int
    windows: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=DRIFT_WINDOWS))
    window_start: float | None = None
    window_min: int | None = None
    last_at: float = 0.0

    def add(self, now: float, lateness: int) -> None:
        self.last_at = now
        if self.window_start is None:
            self.window_start = now
        if self.window_min is None or lateness < self.window_min:
            self.window_min = lateness
        if now - self.window_start >= DRIFT_WINDOW_S:
            self.windows.append((now, self.window_min))
            self.window_start, self.window_min = now, None

    @property
    def offset_samples(self) -> int | None:
        """How far its newest sample is behind the hub's clock (latency included), smallest of
        the last window."""
        if self.windows:
            return self.windows[-1][1]
        return self.window_min

    @property
    def ppm(self) -> float | None:
        if len(self.windows) < 3:
            return None
        (t0, a), (t1, b) = self.windows[0], self.windows[-1]
        if t1 - t0 <= 0:
            return None
        return -(b - a) / ((t1 - t0) * self.sample_rate) * 1e6

    def to_json(self) -> dict[str, Any]:
        offset = self.offset_samples
        ppm = self.ppm
        return {
            "serial": self.serial,
            "offset_ms": None if offset is None else round(-offset * 1000 / self.sample_rate, 2),
            "drift_ppm": None if ppm is None else round(ppm, 1),
            "last_at": self.last_at,
        }


class HubTimecode:
    """The hub's timecode; see the module docstring. Used on the hub's loop only."""

    def __init__(
        self,
        clock: Clock,
        rate: FrameRate,
        *,
        sample_rate: int = 48000,
        source: Source = "system",
        data_dir: Path | None = None,
        system_offset_s: float = 0.0,
        offset_frames: int = 0,
        ltc_device: str | None = None,
        ltc_channel: int = 1,
        ltc_stop_after_s: float = 0.5,
        drift_warn_ms: float = 50.0,
        ptp: PtpMonitor | None = None,
        tz: Any = None,
    ) -> None:
        self.clock = clock
        self.rate = rate
        self.sample_rate = sample_rate
        self.source: Source = source
        self.reference = TimecodeClock(clock, rate, tz=tz)
        self.system_offset_s = system_offset_s
        self.ltc_device = ltc_device
        self.ltc_channel = ltc_channel
        self.ltc_stop_after_s = ltc_stop_after_s
        self.drift_warn_ms = drift_warn_ms
        self.ptp = ptp
        self._state_path = data_dir / STATE_FILE if data_dir is not None else None
        self.offset_frames = self._load_offset(offset_frames)
        self.pending_offset: int | None = None
        self.ltc: LtcInput | None = None
        self.ltc_rate: int | None = None  # the LTC source's sample rate
        self.ltc_fed_at: float | None = None  # when the LTC source's audio last came
        self.jam_shift: int | None = None  # samples (hub rate): LTC time minus source position
        self.jammed_at: float | None = None
        self.jams = 0
        self.ltc_error: int | None = None  # samples: the LTC against the free-running timecode
        self.ltc_jump_in_take: str | None = None
        self.user_bits: str | None = None
        self.held = False  # a take runs: nothing changes the shift
        self.drift: dict[str, Drift] = {}
        self._reference_cache: tuple[float, int, int] | None = None  # (now, rate, position)
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._unsubscribe: list[Callable[[], None]] = []

    # ------------------------------------------------------------------ offset
    def _load_offset(self, default: int) -> int:
        if self._state_path is None:
            return default
        try:
            data = json.loads(self._state_path.read_text())
            value = data.get("offset_frames") if isinstance(data, dict) else None
            if isinstance(value, int) and abs(value) <= MAX_OFFSET_FRAMES:
                return value
            log.warning("%s: no usable offset_frames; using %d", self._state_path, default)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); timecode offset %d", self._state_path, exc, default)
        return default

    def set_offset(self, frames: int) -> dict[str, Any]:
        """Set the offset (frames, persisted); applied now, or from the next take if one runs."""
        if not isinstance(frames, int) or abs(frames) > MAX_OFFSET_FRAMES:
            raise ValueError(f"offset: {frames!r} is not a whole number of frames within a day")
        if self._state_path is not None:
            write_private(self._state_path, json.dumps({"offset_frames": frames}).encode())
        if self.held:
            self.pending_offset = frames
        else:
            self.offset_frames, self.pending_offset = frames, None
        applies = "from the next take" if self.held else "now"
        log.info("timecode offset set to %+d frames (%s)", frames, applies)
        self._emit({"type": "offset", "offset_frames": frames, "applies": applies})
        return {"offset_frames": frames, "applies": applies}

    # ------------------------------------------------------------------ the shift
    def frames_to_samples(self, frames: int | float, sample_rate: int | None = None) -> float:
        sr = sample_rate or self.sample_rate
        return frames * sr * self.rate.denominator / self.rate.numerator

    def shift(self, sample_rate: int | None = None) -> int:
        """Samples from the reference to the timecode now (the source's shift + the offset)."""
        sr = sample_rate or self.sample_rate
        if self.source == "ltc" and self.jam_shift is not None:
            base = self.jam_shift * sr / self.sample_rate
        else:
            base = self.system_offset_s * sr
        return round(base + self.frames_to_samples(self.offset_frames, sr))

    # ------------------------------------------------------------------ TimecodeClock's face
    def seconds_since_midnight(
        self, at: float | None = None, *, midnight_of: float | None = None
    ) -> float:
        reference = self.reference.seconds_since_midnight(at, midnight_of=midnight_of)
        return reference + self.shift() / self.sample_rate

    def timecode(self, at: float | None = None) -> Timecode:
        return Timecode.from_seconds(self.seconds_since_midnight(at), self.rate)

    def sample_position(
        self, sample_rate: int, at: float | None = None, *, midnight_of: float | None = None
    ) -> int:
        reference = self.reference.sample_position(sample_rate, at, midnight_of=midnight_of)
        return reference + self.shift(sample_rate)

    # ------------------------------------------------------------------ takes
    def take_began(self, sample_rate: int) -> TakeSync:
        """Freeze the shift for a take (no jam, no offset change until :meth:`take_ended`)."""
        self.check_stale()
        self.held = True
        self.ltc_jump_in_take = None
        jammed = self.source == "ltc" and self.jam_shift is not None
        return TakeSync(
            shift=self.shift(sample_rate),
            source=SOURCE_LABELS[self.source],
            rate=self.rate,
            offset_frames=self.offset_frames,
            jammed=jammed,
            user_bits=self.user_bits if self.source == "ltc" else None,
            detail=self.describe(),
        )

    def take_ended(self) -> None:
        self.held = False
        if self.pending_offset is not None:
            self.offset_frames, self.pending_offset = self.pending_offset, None
        if self.ltc_jump_in_take is not None:
            log.info("LTC: %s; re-jamming now that the take is over", self.ltc_jump_in_take)

    def warnings(self) -> list[str]:
        """What a sound mixer should know before rolling (never refuses a take)."""
        found: list[str] = []
        if self.source == "ltc":
            ltc = self.ltc
            if self.jam_shift is None:
                found.append(
                    f"timecode source is LTC on {self.ltc_device} channel {self.ltc_channel} but "
                    "it was never jammed: the timecode is the system clock's"
                )
            if ltc is not None and ltc.state == "wrong_rate" and ltc.last_problem:
                found.append(ltc.last_problem)
        if self.source == "ptp":
            state = self.ptp.state if self.ptp is not None else None
            if state is None or not state.locked:
                why = state.describe() if state is not None else "no answer from ptp4l yet"
                found.append(f"timecode source is PTP but the clock is not locked: {why}")
        limit = self.drift_warn_ms
        for serial, drift in sorted(self.drift.items()):
            offset = drift.offset_samples
            if offset is None:
                continue
            ms = abs(offset) * 1000 / drift.sample_rate
            if ms > limit:
                found.append(
                    f"{serial} is {ms:.1f} ms off the hub's timecode (timecode.drift_warn_ms "
                    f"{limit:g})"
                )
        if self.ltc_error is not None and self.source == "ltc":
            ms = abs(self.ltc_error) * 1000 / self.sample_rate
            if ms > limit:
                found.append(f"the LTC is {ms:.1f} ms off the free-running timecode")
        return found

    # ------------------------------------------------------------------ audio in
    def on_event(self, listener: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a timecode listener failed")

    def audio(self, serial: str, block: AudioBlock, source_rate: int | None = None) -> None:
        """A block from any source: its drift; from the LTC source, its LTC."""
        sr = source_rate or self.sample_rate
        now = self.clock.now()
        drift = self.drift.get(serial)
        if drift is None:
            drift = self.drift[serial] = Drift(serial, sr)
        if now - drift.last_at >= DRIFT_EVERY_S or now < drift.last_at:
            expected = self._reference_at(now, sr)
            drift.add(now, expected - (block.position + block.frames))
        if self.source == "ltc" and serial == self.ltc_device:
            self.ltc_fed_at = now
            self._ltc(block, sr)
        else:
            self.check_stale()

    def _reference_at(self, now: float, sr: int) -> int:
        """The reference position at ``now``: the time of day is worked out once a second (it
        costs a calendar lookup); in between, it is counted on."""
        cache = self._reference_cache
        if cache is not None and cache[1] == sr and 0 <= now - cache[0] < 1.0:
            return cache[2] + round((now - cache[0]) * sr)
        position = self.reference.sample_position(sr, at=now)
        self._reference_cache = (now, sr, position)
        return position

    def check_stale(self) -> None:
        """LTC whose source sends no audio at all (gone, detached) has stopped too."""
        ltc, fed = self.ltc, self.ltc_fed_at
        if ltc is None or fed is None or ltc.state != "running":
            return
        if self.clock.now() - fed > self.ltc_stop_after_s + 0.5:
            position = ltc.last.end if ltc.last is not None else ltc.position
            events: list[LtcEvent] = []
            ltc.stop_now(position, f"no audio from {self.ltc_device}", events)
            for event in events:
                self._ltc_event(event, self.ltc_rate or self.sample_rate)

    def _ltc(self, block: AudioBlock, sr: int) -> None:
        from c2c_hub.timecode.ltc import samples_to_float

        if self.ltc is None or self.ltc_rate != sr:
            self.ltc = LtcInput(self.rate, sr, stop_after_s=self.ltc_stop_after_s)
            self.ltc_rate = sr
        try:
            samples = samples_to_float(block.samples, self.ltc_channel - 1)
        except IndexError:
            if self.ltc.last_problem is None:
                self.ltc.last_problem = (
                    f"{self.ltc_device} has no channel {self.ltc_channel}: no LTC read"
                )
                log.warning("timecode: %s", self.ltc.last_problem)
            return
        for event in self.ltc.feed(block.position, samples):
            self._ltc_event(event, sr)

    def _ltc_event(self, event: LtcEvent, sr: int) -> None:
        if event.kind == "frame" and event.count is not None:
            self._frame(event, sr)
            return
        if event.kind == "started" and event.count is not None:
            self._frame(event, sr)
        detail = event.detail or (event.frame.label if event.frame is not None else "")
        log.info("LTC %s at %d: %s", event.kind, event.position, detail)
        self._emit(
            {
                "type": f"ltc_{event.kind}",
                "position": self._to_timeline(event.position, sr),
                "detail": detail,
            }
        )

    def _to_timeline(self, source_position: int, sr: int) -> int:
        """A source position (at ``sr``) as a timecode position at the hub's rate."""
        return round(source_position * self.sample_rate / sr) + self.shift()

    def _frame(self, event: LtcEvent, sr: int) -> None:
        assert event.count is not None and event.frame is not None
        self.user_bits = f"{event.frame.user_bits:08X}"
        at = event.position * self.sample_rate / sr
        frames = event.count
        if self.jam_shift is not None:
            # The LTC's frame may sit on the other side of midnight from our count.
            now_frames = (self.jam_shift + at) * self.rate.numerator
            now_frames /= self.sample_rate * self.rate.denominator
            day = self.rate.frames_per_day
            frames += day * round((now_frames - frames) / day)
        wanted = round(self.frames_to_samples(frames) - at)
        if self.jam_shift is None:
            self._jam(wanted, event)
            return
        error = wanted - self.jam_shift
        self.ltc_error = error
        if abs(error) <= JAM_TOLERANCE_S * self.sample_rate:
            self.jammed_at = self.clock.now()  # still in step: as good as a jam
            return
        if self.held:
            if self.ltc_jump_in_take is None:
                frames_off = error / self.frames_to_samples(1)
                self.ltc_jump_in_take = (
                    f"LTC is {frames_off:+.2f} frames from the take's timecode; the take keeps "
                    "its own, the hub re-jams after it"
                )
                log.warning("LTC: %s", self.ltc_jump_in_take)
                self._emit({"type": "ltc_moved_in_take", "detail": self.ltc_jump_in_take})
            return
        self._jam(wanted, event)

    def _jam(self, shift: int, event: LtcEvent) -> None:
        day = SECONDS_PER_DAY * self.sample_rate
        shift = (shift + day // 2) % day - day // 2  # the shorter way round the clock
        moved = None if self.jam_shift is None else shift - self.jam_shift
        self.jam_shift = shift
        self.jammed_at = self.clock.now()
        self.jams += 1
        self.ltc_error = 0
        label = event.frame.label if event.frame is not None else "?"
        if moved is None:
            log.info("jammed to LTC %s", label)
        else:
            log.info("re-jammed to LTC %s (moved %+d samples)", label, moved)
        self._emit({"type": "jammed", "ltc": label, "moved_samples": moved})

    # ------------------------------------------------------------------ lifecycle
    async def start(self, on_audio: Callable[[Callable[..., None]], Callable[[], None]]) -> None:
        """Follow every source's audio (``on_audio`` is the device registry's)."""
        self._unsubscribe.append(on_audio(self.audio))
        if self.ptp is not None:
            await self.ptp.start()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self.ptp is not None:
            await self.ptp.stop()

    # ------------------------------------------------------------------ reading
    def describe(self) -> str:
        """One line for a sound mixer: the source and its state."""
        self.check_stale()
        if self.source == "ltc":
            ltc_state = self.ltc.state if self.ltc is not None else "absent"
            if self.jam_shift is None:
                return f"LTC {ltc_state}, never jammed: system clock"
            since = self.clock.now() - (self.jammed_at or 0.0)
            if ltc_state == "running":
                return "LTC: jammed"
            return f"LTC {ltc_state}: free-running for {_duration(since)}"
        if self.source == "ptp":
            state = self.ptp.state if self.ptp is not None else None
            return "PTP: " + (state.describe() if state is not None else "asking ptp4l")
        return "system clock"

    def snapshot(self) -> dict[str, Any]:
        now = self.clock.now()
        ltc = self.ltc
        return {
            "source": self.source,
            "label": SOURCE_LABELS[self.source],
            "summary": self.describe(),
            "timecode": str(self.timecode(now)),
            "rate": str(self.rate),
            "offset_frames": self.offset_frames,
            "pending_offset_frames": self.pending_offset,
            "held": self.held,
            "jammed": self.jam_shift is not None,
            "jams": self.jams,
            "since_jam_s": None if self.jammed_at is None else round(now - self.jammed_at, 1),
            "ltc_error_ms": None
            if self.ltc_error is None
            else round(self.ltc_error * 1000 / self.sample_rate, 2),
            "ltc_moved_in_take": self.ltc_jump_in_take,
            "ltc_device": self.ltc_device,
            "ltc_channel": self.ltc_channel,
            "ltc": ltc.snapshot() if ltc is not None else None,
            "user_bits": self.user_bits,
            "ptp": self.ptp.state.to_json() if self.ptp and self.ptp.state else None,
            "drift": [d.to_json() for _, d in sorted(self.drift.items())],
            "drift_warn_ms": self.drift_warn_ms,
            "warnings": self.warnings(),
        }


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = math.floor(seconds / 60)
    if minutes < 60:
        return f"{minutes} min {seconds - 60 * minutes:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min"


__all__ = ["SOURCE_LABELS", "Drift", "HubTimecode", "TakeSync"]
