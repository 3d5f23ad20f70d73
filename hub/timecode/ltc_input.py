"""LTC read from one channel of a sub-device's audio, and judged frame by frame.

:class:`LtcInput` feeds a :class:`~c2c_hub.timecode.ltc.LtcDecoder` and decides, for every
frame, what it means for the hub:

- **running**: frames that follow on, each one frame later on the label *and* one frame's
  samples later in the stream, ``confirm`` of them in a row (so one lucky frame of noise never
  jams anything), once the rate is measured and is the hub's (some 16 frames: well under a
  second);
- **stopped**: no frame for ``stop_after_s`` of audio, or the same label again and again (a
  generator parked on a timecode);
- **reverse**: frames played backwards (a shuttling deck): read and shown, never jammed to;
- a **dropout** (frames missing, then carrying on where the time says they should be) is
  counted and the run goes on; a **jump** (the label does not carry on) restarts the run, so
  it must be confirmed again;
- the **rate** is measured from the samples between frames (23.976 from 24 and 29.97 from 30 by
  their 0.1 %, drop frame by the DF bit) and compared with the hub's setting: LTC at another
  rate is shown as such and never jammed to;
- frames whose fields cannot be a time (noise that passes the sync word) are dropped and
  counted.

Positions are the source's sample positions (those of its :class:`~c2c_hub.subdevices.AudioBlock`
s); the frame count is at the hub's rate (:class:`~c2c_hub.timecode.smpte.Timecode` frames).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from c2c_hub.timecode.ltc import LtcDecoder, LtcFrame
from c2c_hub.timecode.smpte import (
    FPS_23_976,
    FPS_24,
    FPS_25,
    FPS_29_97,
    FPS_29_97_DF,
    FPS_30,
    FrameRate,
)

State = Literal["absent", "running", "unsteady", "stopped", "reverse", "wrong_rate"]
EventKind = Literal["frame", "started", "stopped", "jump", "dropout", "wrong_rate"]

LTC_RATES = (FPS_23_976, FPS_24, FPS_25, FPS_29_97, FPS_29_97_DF, FPS_30)
"""The rates SMPTE 12M LTC carries (29.97 non-drop is read as well as drop frame)."""

MEASURE_FRAMES = 16  # frames whose spacing tells the rate (0.1 % apart: 2 samples a frame)


@dataclass(frozen=True)
class LtcEvent:
    """What a frame meant. ``count`` is the frame count at the hub's rate, ``position`` the
    source position where that frame starts (for ``stopped``: where the last one ended)."""

    kind: EventKind
    position: int
    count: int | None = None
    frame: LtcFrame | None = None
    detail: str = ""


class LtcInput:
    """One LTC stream; see the module docstring. Not thread-safe (the hub's loop feeds it)."""

    def __init__(
        self,
        rate: FrameRate,
        sample_rate: int,
        *,
        confirm: int = 5,
        stop_after_s: float = 0.5,
    ) -> None:
        self.rate = rate
        self.sample_rate = sample_rate
        self.confirm = max(1, confirm)
        self.stop_after = round(stop_after_s * sample_rate)
        self.decoder = LtcDecoder(sample_rate, rate.fps)
        self.state: State = "absent"
        self.last: LtcFrame | None = None
        self.last_count: int | None = None
        self.run_frames = 0  # frames in a row that follow on
        self.run_start: LtcEvent | None = None  # the first frame of the current run
        self.detected: FrameRate | None = None
        self.frames = 0
        self.invalid = 0
        self.dropouts = 0
        self.jumps = 0
        self.parked = 0
        self.position = 0  # the end of the audio seen so far
        self.last_problem: str | None = None
        self._spacing: deque[int] = deque(maxlen=MEASURE_FRAMES)
        self._spf = sample_rate / rate.fps

    # ------------------------------------------------------------------ input
    def feed(self, position: int, samples: npt.NDArray[np.float32]) -> list[LtcEvent]:
        """Decode a block (mono float32 at ``position``); what its frames meant, in order."""
        events: list[LtcEvent] = []
        for frame in self.decoder.write(samples, position):
            self._judge(frame, events)
        self.position = position + len(samples)
        last_end = self.last.end if self.last is not None else None
        if (
            self.state in ("running", "unsteady", "reverse", "wrong_rate")
            and last_end is not None
            and self.position - last_end > self.stop_after
        ):
            self._stop(last_end, "no LTC", events)
        return events

    def stop_now(self, position: int, why: str, events: list[LtcEvent]) -> None:
        """The LTC stopped for a reason outside the audio (its source went quiet)."""
        self._stop(position, why, events)

    def _stop(self, position: int, why: str, events: list[LtcEvent]) -> None:
        was_running = self.state == "running"
        self.state = "stopped"
        self.run_frames = 0
        self.run_start = None
        self._spacing.clear()
        self.last_problem = why if why != "no LTC" else self.last_problem
        if was_running:
            events.append(LtcEvent("stopped", position, detail=why))

    def _judge(self, frame: LtcFrame, events: list[LtcEvent]) -> None:
        if not frame.valid:
            self.invalid += 1
            return
        previous = self.last
        self.frames += 1
        if previous is not None and 0 < frame.start - previous.start < 1.5 * self._spf:
            self._spacing.append(frame.start - previous.start)
            if len(self._spacing) == MEASURE_FRAMES:
                self._measure(frame)
        self.last = frame
        if frame.reverse:
            self.state = "reverse"
            self.run_frames = 0
            self.run_start = None
            return
        if self.detected is not None and self._mismatch(frame):
            if self.state != "wrong_rate":
                detail = f"LTC at {self.detected} but the hub is set to {self.rate}: not jammed to"
                self.last_problem = detail
                events.append(LtcEvent("wrong_rate", frame.start, frame=frame, detail=detail))
            was_running = self.state == "running"
            self.state = "wrong_rate"
            self.run_frames = 0
            self.run_start = None
            if was_running:
                events.append(LtcEvent("stopped", frame.start, detail="wrong rate"))
            return
        try:
            count = frame.timecode(self.rate).frames
        except ValueError:
            # A label the hub's rate cannot hold (frame 29 at 25 fps): another rate.
            self._unsteady(frame, None, events, f"{frame.label} does not exist at {self.rate}")
            return
        last_count = self.last_count
        self.last_count = count
        if last_count is not None and previous is not None and not previous.reverse:
            gap = frame.start - previous.start
            steps = round(gap / self._spf) if gap > 0 else 0
            if count == last_count and steps <= 1:
                self.parked += 1
                if self.state == "running" or self.parked >= self.confirm:
                    self._stop(frame.start, f"parked at {frame.label}", events)
                return
            self.parked = 0
            if steps >= 1 and count - last_count == steps:
                if steps > 1:
                    self.dropouts += 1
                    if self.state == "running":
                        events.append(
                            LtcEvent(
                                "dropout",
                                frame.start,
                                count,
                                frame,
                                f"{steps - 1} frame(s) of LTC missing",
                            )
                        )
                self._follows(frame, count, events)
                return
            if self.state in ("running", "unsteady"):
                self.jumps += 1
                detail = f"LTC jumped {count - last_count - steps:+d} frames at {frame.label}"
                self.last_problem = detail
                if self.state == "running":
                    events.append(LtcEvent("jump", frame.start, count, frame, detail))
        self._unsteady(frame, count, events, None)

    def _unsteady(
        self, frame: LtcFrame, count: int | None, events: list[LtcEvent], why: str | None
    ) -> None:
        was_running = self.state == "running"
        self.state = "unsteady"
        self.run_frames = 1 if count is not None else 0
        self.run_start = (
            LtcEvent("started", frame.start, count, frame) if count is not None else None
        )
        if why is not None:
            self.last_problem = why
        if was_running:
            events.append(LtcEvent("stopped", frame.start, detail=why or "jump"))

    def _follows(self, frame: LtcFrame, count: int, events: list[LtcEvent]) -> None:
        self.run_frames += 1
        if self.run_start is None:
            self.run_start = LtcEvent("started", frame.start, count, frame)
        if self.state != "running" and self.run_frames >= self.confirm and self.detected:
            self.state = "running"
            events.append(self.run_start)
        if self.state == "running":
            events.append(LtcEvent("frame", frame.start, count, frame))

    # ------------------------------------------------------------------ rate
    def _measure(self, frame: LtcFrame) -> None:
        spf = sum(self._spacing) / len(self._spacing)
        fps = self.sample_rate / spf
        ntsc_or_not = [r for r in LTC_RATES if r.drop_frame == frame.drop_frame] or list(LTC_RATES)
        best = min(ntsc_or_not, key=lambda r: abs(r.fps - fps))
        if abs(best.fps - fps) / best.fps < 0.0004:
            self.detected = best
        else:
            self.detected = None  # varispeed, or a rate LTC does not carry
            self.last_problem = f"LTC at {fps:.3f} frames/s: not a standard rate (varispeed?)"

    def _mismatch(self, frame: LtcFrame) -> bool:
        d = self.detected
        if d is None:
            return False
        if frame.drop_frame != self.rate.drop_frame:
            return True
        return (d.numerator, d.denominator) != (self.rate.numerator, self.rate.denominator)

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        last = self.last
        return {
            "state": self.state,
            "last": last.label if last is not None else None,
            "user_bits": f"{last.user_bits:08X}" if last is not None else None,
            "level_dbfs": round(last.volume_dbfs, 1) if last is not None else None,
            "reverse": bool(last.reverse) if last is not None else False,
            "rate_detected": str(self.detected) if self.detected is not None else None,
            "rate_expected": str(self.rate),
            "frames": self.frames,
            "invalid_frames": self.invalid,
            "dropouts": self.dropouts,
            "jumps": self.jumps,
            "problem": self.last_problem,
        }


__all__ = ["LTC_RATES", "LtcEvent", "LtcInput"]
