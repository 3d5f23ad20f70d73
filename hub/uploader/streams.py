"""How many part PUTs run at once: a limit that climbs while throughput climbs.

On a clean link, or with BBR, a few TCP flows fill the link and more only add overhead. Where
each flow is held down by loss (CUBIC or Reno on a lossy cellular uplink, where BBR is not
available), throughput grows nearly in proportion to the number of flows, up to the link's rate.
No fixed number is right for both, so the uploader measures:

- :class:`StreamController` is the decision alone, on numbers (unit-tested on recorded series):
  every epoch it is given the bytes/s sent and whether the limit was binding (parts were waiting
  for a slot the whole epoch). After a change it lets one epoch pass (new connections: handshake,
  slow start), then judges the next one against the rate before the change. Up by one stream
  (by a quarter above 8) while each step gains at least ``gain`` (8 %); a step that did not pay
  is taken back, and the next try waits twice as long (up to 8 epochs) as after the last failed
  one. After a failed step up it tries one stream fewer, and goes on down while the rate holds
  (within ``gain``), so streams that stopped helping are let go; a step down that cost
  throughput is taken back, and the next try is one up. Epochs where the limit was not
  binding (too little to send) teach nothing and change nothing.
- :class:`Slots` is the semaphore whose size changes: a lower limit takes effect as PUTs end
  (none is interrupted), a higher one wakes waiters at once.
- ``pinned``: one fixed number (the setting ``uploads.part_streams``, or ``--concurrency``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """What one epoch changed: the new limit and why (for the log and the status)."""

    limit: int
    why: str


class StreamController:
    """Hill-climbing on the number of streams (see the module doc). Pure: no clock, no I/O."""

    SETTLE = 1  # epochs skipped after a change before judging it

    def __init__(
        self,
        *,
        start: int = 4,
        minimum: int = 2,
        maximum: int = 16,
        pinned: int | None = None,
        gain: float = 0.08,
        max_hold: int = 8,
    ) -> None:
        if pinned is not None:
            minimum = maximum = start = pinned
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.minimum, self.maximum = minimum, maximum
        self.pinned = pinned is not None
        self.limit = min(max(start, minimum), maximum)
        self.gain = gain
        self.max_hold = max_hold
        self._baseline: float | None = None  # the rate at the limit before the pending change
        self._from: int | None = None  # the limit before the pending change
        self._settle = 0
        self._hold = 0  # epochs to wait before the next probe
        self._backoff = 1
        self._down_next = False
        self.history: collections.deque[tuple[int, float]] = collections.deque(maxlen=32)

    def _step_up(self) -> int:
        return min(self.maximum, self.limit + max(1, self.limit // 4 if self.limit > 8 else 1))

    def _change(self, to: int, rate: float) -> None:
        self._from, self._baseline = self.limit, rate
        self.limit = to
        self._settle = self.SETTLE

    def observe(self, rate_bps: float, binding: bool) -> Decision:
        """One epoch: the rate it carried and whether the limit held parts back all along."""
        if self.pinned:
            return Decision(self.limit, "pinned")
        self.history.append((self.limit, rate_bps))
        if self._settle > 0:
            self._settle -= 1
            return Decision(self.limit, "settling")
        if self._from is not None:
            assert self._baseline is not None
            went_up = self.limit > self._from
            if not binding and went_up:
                # Too little to send to judge the step: keep it, judge nothing.
                self._from = self._baseline = None
                return Decision(self.limit, "not enough to send to judge")
            if went_up:
                if rate_bps >= self._baseline * (1 + self.gain):
                    self._from = self._baseline = None
                    self._backoff = 1
                    return self._probe_up(rate_bps, "the last stream paid")
                back = self._from
                self._from = self._baseline = None
                self.limit = back
                self._hold = self._backoff
                self._backoff = min(self.max_hold, self._backoff * 2)
                self._down_next = True
                self._settle = self.SETTLE
                return Decision(self.limit, "the last stream did not pay: taken back")
            # went down: keep it if the rate held, and try one fewer again
            if rate_bps >= self._baseline * (1 - self.gain):
                self._from = self._baseline = None
                self._backoff = 1
                self._down_next = True
                return Decision(self.limit, "one stream fewer carries as much: kept")
            back = self._from
            self._from = self._baseline = None
            self.limit = back
            self._hold = self._backoff
            self._backoff = min(self.max_hold, self._backoff * 2)
            self._settle = self.SETTLE
            return Decision(self.limit, "one stream fewer carried less: restored")
        if not binding:
            return Decision(self.limit, "not enough to send")
        if self._hold > 0:
            self._hold -= 1
            return Decision(self.limit, "holding")
        if self._down_next and self.limit > self.minimum:
            self._down_next = False
            self._change(self.limit - 1, rate_bps)
            return Decision(self.limit, "trying one stream fewer")
        self._down_next = False
        return self._probe_up(rate_bps, "trying one stream more")

    def _probe_up(self, rate_bps: float, why: str) -> Decision:
        up = self._step_up()
        if up == self.limit:
            return Decision(self.limit, "at the maximum")
        self._change(up, rate_bps)
        return Decision(self.limit, why)


class Slots:
    """A semaphore whose size may change; tracks demand (holders + waiters)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.min_demand = 0  # the lowest demand since :meth:`reset_demand`

    @property
    def demand(self) -> int:
        return self.in_use + len(self._waiters)

    def reset_demand(self) -> None:
        self.min_demand = self.demand

    def _note(self) -> None:
        self.min_demand = min(self.min_demand, self.demand)

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._wake()

    def _wake(self) -> None:
        """Hand free slots to the waiters in order (the slot is counted as theirs at once)."""
        while self._waiters and self.in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)

    async def acquire(self) -> None:
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as it was cancelled: give it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                self._note()
            raise

    def release(self) -> None:
        self.in_use -= 1
        self._note()
        self._wake()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()
