"""A microphone's sample positions checked against the hub's clock, before they reach a track.

A track places samples by the position the microphone gives them (:mod:`c2c_hub.recorder.wav`),
so a gap is silence of the right length. That trust has limits: a microphone whose clock jumps
two hours ahead would have the hub write two hours of silence, and one that sends twenty times
real time would grow its track twenty times as fast; either fills the disk under every other
track. :class:`SourceGuard` sits between a source and its track:

- a block whose position agrees with the hub's clock (within ``tolerance`` samples) passes
  untouched: a dropout that real time explains stays silence of its true length;
- a block that *jumps* (its position is not where the source's previous block ended) to beyond
  the hub's clock plus the tolerance, or back by more than the tolerance to before the hub's
  clock, is a **discontinuity**: the source's timeline is re-anchored so its samples carry on
  from where its track is (or from the hub's clock, if the track is far behind), so at most
  ``tolerance`` of silence is ever inserted for it;
- a source whose samples follow on from each other but run ahead of the hub's clock by more than
  the tolerance, covering more than :data:`FAST` times the hub's time since it was last
  anchored, is sending **faster than real time**: it is cut off for the rest of the take (its
  track ends in silence, its samples are counted as dropped). Ahead for another reason (the
  hub's own clock set back) is a discontinuity instead;
- a source whose sample rate is not the take's is cut off from the start (there is no
  resampling).

Each of these is logged, counted and shown (:meth:`snapshot`, the recorder's events). A guard
only ever changes its own source's positions: one bad source never touches another's track.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FAST = 1.5
"""A source whose samples cover more than this times the hub's time is faster than real time."""


@dataclass(frozen=True)
class Finding:
    """Something the guard saw, for the log and the event stream."""

    kind: str  # "discontinuity" or "cut_off"
    detail: str
    jump: int = 0  # samples the source's position was off by (discontinuity)


class SourceGuard:
    """One source's positions, for one take; see the module docstring."""

    def __init__(
        self, serial: str, *, sample_rate: int, tolerance: int, source_rate: int | None = None
    ) -> None:
        self.serial = serial
        self.sample_rate = sample_rate
        self.tolerance = max(1, tolerance)
        self.offset = 0  # added to the source's positions
        self.discontinuities = 0
        self.dropped_samples = 0
        self.cut_off: str | None = None
        self.last_finding: Finding | None = None
        self._device_end: int | None = None  # where the source's previous block ended
        self._end: int | None = None  # where its previous accepted block ended (trusted)
        self._anchor: tuple[float, int] | None = None  # (hub time, trusted position)
        if source_rate is not None and source_rate != sample_rate:
            self.cut_off = (
                f"its sample rate is {source_rate} Hz and the take's {sample_rate} Hz "
                "(no resampling): not recorded"
            )

    def check(
        self, position: int, frames: int, *, expected: int, now: float
    ) -> tuple[int | None, Finding | None]:
        """Where a block of ``frames`` at the source's ``position`` goes on the track (``None``:
        nowhere, dropped), and what was found. ``expected`` is the hub's position now."""
        if self.cut_off is not None:
            self.dropped_samples += frames
            return None, None
        tol = self.tolerance
        follows = self._device_end is not None and abs(position - self._device_end) <= tol
        trusted = position + self.offset
        finding: Finding | None = None
        if trusted + frames > expected + tol:
            since, at = self._anchor if self._anchor is not None else (now, trusted)
            elapsed = now - since
            speed = (trusted + frames - at) / (elapsed * self.sample_rate) if elapsed > 0 else 0.0
            # Faster than real time: its own samples follow on, and over the hub's time they
            # cover far more than that time. (Ahead only because the hub's clock was set back:
            # the hub's time since the anchor is short or negative, so no speed: re-anchored.)
            if follows and speed > FAST:
                ahead = (trusted + frames - expected) / self.sample_rate
                self.cut_off = (
                    f"sending faster than real time ({speed:.1f}x real time, {ahead:.1f} s "
                    "ahead of the hub's clock): cut off for the rest of the take"
                )
                self.dropped_samples += frames
                finding = Finding("cut_off", self.cut_off)
                self.last_finding = finding
                return None, finding
            trusted, finding = self._reanchor(position, frames, expected)
        elif (
            self._device_end is not None
            and not follows
            and position < self._device_end - tol
            and trusted + frames < expected - tol
        ):
            trusted, finding = self._reanchor(position, frames, expected)
        self._device_end = position + frames
        self._end = trusted + frames if self._end is None else max(self._end, trusted + frames)
        if self._anchor is None or finding is not None:
            self._anchor = (now, trusted)
        return trusted, finding

    def _reanchor(self, position: int, frames: int, expected: int) -> tuple[int, Finding]:
        here = expected - frames
        if self._end is not None and abs(self._end - here) <= self.tolerance:
            here = self._end  # carry on from the track: not a sample of silence
        jump = position + self.offset - here
        self.offset = here - position
        self.discontinuities += 1
        seconds = jump / self.sample_rate
        where = "ahead of" if jump > 0 else "behind"
        finding = Finding(
            "discontinuity",
            f"its position jumped {abs(seconds):.3f} s {where} the hub's clock; "
            "its samples carry on from where its track is",
            jump=jump,
        )
        self.last_finding = finding
        return here, finding

    def snapshot(self) -> dict[str, Any]:
        return {
            "discontinuities": self.discontinuities,
            "dropped_samples": self.dropped_samples,
            "cut_off": self.cut_off,
            "last": self.last_finding.detail if self.last_finding is not None else None,
        }


__all__ = ["FAST", "Finding", "SourceGuard"]
