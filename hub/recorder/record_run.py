"""Record-run: takes that follow the LTC, as a recorder follows a camera's run timecode.

With ``timecode.record_run`` on (and the LTC source), a take starts when the LTC starts running
and stops when it stops. Telling that LTC runs takes a few frames (and the rate must be
measured), so the take starts where the run's first frame was, less ``timecode.preroll_s``,
from the recorder's pre-roll buffer: the first second is not lost.

A take started by hand is never stopped by the LTC, and a take is never started while one runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from c2c_hub.recorder.takes import Recorder, TakeError
from c2c_hub.timecode.timeline import HubTimecode

log = logging.getLogger(__name__)

TRIGGER = "record-run"


class RecordRun:
    def __init__(self, recorder: Recorder, timecode: HubTimecode, *, preroll_s: float) -> None:
        self.recorder = recorder
        self.timecode = timecode
        self.preroll_s = preroll_s
        self.started = 0
        self.stopped = 0
        self.last_error: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = timecode.on_event(self._event)

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "ltc_started":
            position = int(event["position"]) - round(self.preroll_s * self.recorder.sample_rate)
            self._spawn(self._start(position))
        elif kind == "ltc_stopped":
            self._spawn(self._stop())

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work, name="record-run")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, position: int) -> None:
        if self.recorder.take is not None:
            return
        try:
            take = await self.recorder.start_take(start_at=position, trigger=TRIGGER)
        except TakeError as exc:
            self.last_error = str(exc)
            log.error("record-run: the LTC runs but no take could start: %s", exc)
            return
        self.started += 1
        log.info("record-run: %s started with the LTC", take.label)

    async def _stop(self) -> None:
        take = self.recorder.take
        if take is None or take.trigger != TRIGGER:
            return
        try:
            await self.recorder.stop_take()
        except TakeError:
            return
        self.stopped += 1
        log.info("record-run: %s stopped with the LTC", take.label)

    async def stop(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            await asyncio.wait([task])

    def snapshot(self) -> dict[str, Any]:
        return {
            "on": True,
            "preroll_s": self.preroll_s,
            "takes_started": self.started,
            "takes_stopped": self.stopped,
            "last_error": self.last_error,
        }


__all__ = ["TRIGGER", "RecordRun"]
