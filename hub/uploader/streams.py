"""How many part PUTs run at once: a limit that climbs while the streams are held by loss.

On a clean link, or with BBR, a few TCP flows fill the link and more only add overhead. Where
each flow is held down by loss (CUBIC or Reno on a lossy cellular uplink, where BBR is not
available), throughput grows nearly in proportion to the number of flows, up to the link's rate.
No fixed number is right for both, so the uploader measures:

- :class:`StreamController` is the decision alone, on numbers. Where the kernel tells how the
  part streams' connections fare (Linux ``TCP_INFO``, :mod:`c2c_hub.uploader.tcpinfo`), it reads
  that (unit-tested on ``TCP_INFO`` recorded on the packet link): while packets do not wait in
  the bottleneck's queue (the RTT stays near its minimum) and the streams lose packets under a
  loss-based congestion control (or are held by the receiver's window), each flow is held down
  by its own window, not by the link, so one stream more (a quarter more above 8) adds nearly
  its share; once the RTT rises above its minimum (a quarter of it, at least 5 ms) the link is
  full and it holds; queueing of half the minimum RTT for 3 epochs in a row lets one stream go.
  One epoch is let pass after each change (handshake, slow start). Throughput, which swings by
  ±60 % an epoch on a lossy link, is not read at all then.
- Without ``TCP_INFO`` (not Linux, or the httpx path's sockets, which it cannot see) it is
  the hill-climb on throughput (unit-tested on throughput series): every epoch it is given the
  bytes/s sent and whether the limit was binding (parts were waiting for a slot the whole
  epoch). Rates are averaged over two epochs (one flow's rate on a lossy link swings widely).
  After a change it lets one epoch pass (new connections: handshake, slow start), then compares
  the next two with the two before the change. Up by a quarter (at least one stream) while each
  step gains at least half of what the extra streams would carry if they carried as much as the
  others (and at least ``gain``, 4 %); a step that did not pay is taken back, and the next try
  waits twice as long (up to 8 epochs) as after the last failed one. After a failed step up it
  tries one stream fewer, and goes on down while the rate holds (within half of ``gain``), so
  streams that stopped helping are let go; a step down that cost throughput is taken back, and
  the next try is up again.
- Either way, epochs where the limit was not binding (too little to send) teach nothing and
  change nothing.
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

from c2c_hub.uploader.tcpinfo import LinkSignal


@dataclass(frozen=True)
class Decision:
    """What one epoch changed: the new limit and why (for the log and the status)."""

    limit: int
    why: str


class StreamController:
    """Hill-climbing on the number of streams (see the module doc). Pure: no clock, no I/O."""

    SETTLE = 1  # epochs skipped after a change before judging it
    JUDGE = 2  # epochs averaged for a rate (before a change, and after it)

    def __init__(
        self,
        *,
        start: int = 4,
        minimum: int = 2,
        maximum: int = 16,
        pinned: int | None = None,
        gain: float = 0.04,
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
        self._samples: list[float] = []  # rates at the current limit, since it was set
        self._baseline: float | None = None  # the rate at the limit before the pending change
        self._from: int | None = None  # the limit before the pending change
        self._settle = 0
        self._hold = 0  # epochs to wait before the next probe
        self._backoff = 1
        self._down_next = False
        self.history: collections.deque[tuple[int, float]] = collections.deque(maxlen=64)
        self.signal: LinkSignal | None = None  # the last epoch's TCP_INFO, if any
        self._queued_epochs = 0  # epochs in a row with the queue well above its minimum

    def _step_up(self) -> int:
        return min(self.maximum, self.limit + max(1, self.limit // 4))

    def _needed(self, before: int, after: int) -> float:
        """The share a change of streams must move the rate by to count: half of what it
        would if every stream carried as much as the others, at least ``gain``."""
        return max(self.gain, 0.5 * abs(after - before) / before)

    def _change(self, to: int, baseline: float) -> None:
        self._from, self._baseline = self.limit, baseline
        self.limit = to
        self._samples = []
        self._settle = self.SETTLE

    def _mean(self) -> float:
        recent = self._samples[-self.JUDGE :]
        return sum(recent) / len(recent)

    # TCP_INFO: when the link counts as full, and when the streams as held down by loss
    FULL_SHARE, FULL_MIN_S = 0.25, 0.005  # queueing above this share of the minimum RTT
    DRAIN_SHARE, DRAIN_EPOCHS = 0.5, 3  # ... above this share, so many epochs: one fewer
    LOSS = 0.001  # retransmitted share of the bytes sent
    RWND = 0.5  # share of the busy time held by the receiver's window

    def observe(self, rate_bps: float, binding: bool, signal: LinkSignal | None = None) -> Decision:
        """One epoch: the rate it carried, whether the limit held parts back all along, and
        what ``TCP_INFO`` said of the streams' connections (None: not known here)."""
        if self.pinned:
            return Decision(self.limit, "pinned")
        self.history.append((self.limit, rate_bps))
        self.signal = signal
        if self._settle > 0:
            self._settle -= 1
            return Decision(self.limit, "settling")
        if signal is not None:
            return self._observe_signal(signal, binding)
        if not binding:
            # Too little to send: the rate says nothing about the streams. Keep the limit.
            self._samples = []
            self._from = self._baseline = None
            return Decision(self.limit, "not enough to send")
        self._samples.append(rate_bps)
        if len(self._samples) < self.JUDGE:
            return Decision(self.limit, "measuring")
        rate = self._mean()
        if self._from is not None:
            assert self._baseline is not None
            before, baseline = self._from, self._baseline
            self._from = self._baseline = None
            needed = self._needed(before, self.limit)
            if self.limit > before:
                if rate >= baseline * (1 + needed):
                    self._backoff = 1
                    return self._probe_up(rate, "the last streams paid")
                return self._take_back(before, "the last streams did not pay: taken back", True)
            if rate >= baseline * (1 - self.gain / 2):  # fewer must carry (nearly) as much
                self._backoff = 1
                self._down_next = True
                return self._probe_down(rate, "fewer streams carry as much: kept")
            return self._take_back(before, "fewer streams carried less: restored", False)
        if self._hold > 0:
            self._hold -= 1
            return Decision(self.limit, "holding")
        if self._down_next:
            return self._probe_down(rate, "trying one stream fewer")
        return self._probe_up(rate, "trying more streams")

    def _observe_signal(self, signal: LinkSignal, binding: bool) -> Decision:
        """The decision from ``TCP_INFO`` (see the module doc); no throughput is read."""
        self._samples = []  # a later epoch without TCP_INFO starts its own measuring
        self._from = self._baseline = None
        queueing, floor = signal.queueing_s, signal.min_rtt_s
        if not binding:
            self._queued_epochs = 0
            return Decision(self.limit, "not enough to send")
        delay = f"RTT {signal.rtt_s * 1e3:.0f} ms, minimum {floor * 1e3:.0f} ms"
        if queueing > max(self.FULL_MIN_S, self.DRAIN_SHARE * floor):
            self._queued_epochs += 1
        else:
            self._queued_epochs = 0
        if queueing > max(self.FULL_MIN_S, self.FULL_SHARE * floor):
            if self._queued_epochs >= self.DRAIN_EPOCHS and self.limit > self.minimum:
                self._queued_epochs = 0
                self._change(self.limit - 1, 0.0)
                self._from = self._baseline = None
                return Decision(self.limit, f"the link's queue stays full ({delay}): one fewer")
            return Decision(self.limit, f"the link is full ({delay})")
        if signal.loss_based and signal.loss >= self.LOSS:
            why = f"held down by loss ({signal.loss:.1%} sent again, {delay})"
        elif signal.rwnd_share >= self.RWND:
            why = f"held by the receiver's window ({signal.rwnd_share:.0%} of the time, {delay})"
        else:
            return Decision(self.limit, f"the streams are not held down ({delay})")
        up = self._step_up()
        if up == self.limit:
            return Decision(self.limit, f"at the maximum, {why}")
        self._change(up, 0.0)
        self._from = self._baseline = None
        return Decision(self.limit, f"{why}: more streams")

    def _take_back(self, to: int, why: str, then_down: bool) -> Decision:
        self.limit = to
        self._samples = []
        self._settle = self.SETTLE
        self._hold = self._backoff
        self._backoff = min(self.max_hold, self._backoff * 2)
        self._down_next = then_down
        return Decision(self.limit, why)

    def _probe_up(self, rate_bps: float, why: str) -> Decision:
        self._down_next = False
        up = self._step_up()
        if up == self.limit:
            return Decision(self.limit, "at the maximum")
        self._change(up, rate_bps)
        return Decision(self.limit, why)

    def _probe_down(self, rate_bps: float, why: str) -> Decision:
        if self.limit <= self.minimum:
            self._down_next = False
            return Decision(self.limit, "at the minimum")
        self._change(self.limit - 1, rate_bps)
        return Decision(self.limit, why)


class CongestionUpgrade:
    """When part streams started on a loss-based congestion control (CUBIC) move to BBR.

    ``auto`` starts them on CUBIC, which keeps a clean link fuller than BBR does, and switches
    them once they lose packets that no queue explains: an epoch (2 s of sending) where at
    least :attr:`StreamController.LOSS` of the bytes (and four segments) were sent again while
    the RTT stayed near its minimum (what :class:`StreamController` reads as "held down by
    loss"). CUBIC filling a clean link's queue also loses packets, but with the RTT far above
    its minimum (replayed from recordings in ``tests/uploader/test_tcpinfo.py``). Once
    switched, it stays: a path that lost packets at random once will again (a cellular
    uplink). Pure: no I/O.
    """

    EPOCHS = 1
    #: at least this many bytes sent again in the epoch (four full segments): one or two
    #: retransmissions (a tail probe, a spurious timeout) are not a lossy path
    MIN_RETRANS = 4 * 1448

    def __init__(self, to: str) -> None:
        self.to = to
        self.why: str | None = None  # set once switched: the reason, for the status
        self._epochs = 0

    def observe(self, signal: LinkSignal | None) -> str | None:
        """One epoch's reading; the reason when the streams should switch now, else None."""
        if self.why is not None or signal is None:
            return None
        floor = signal.min_rtt_s
        quiet = signal.queueing_s <= max(
            StreamController.FULL_MIN_S, StreamController.FULL_SHARE * floor
        )
        lossy = signal.loss >= StreamController.LOSS and signal.retrans >= self.MIN_RETRANS
        if signal.loss_based and quiet and lossy:
            self._epochs += 1
        else:
            self._epochs = 0
        if self._epochs < self.EPOCHS:
            return None
        self.why = (
            f"{self.to} since random loss: {signal.loss:.1%} sent again with the RTT at "
            f"{signal.rtt_s * 1e3:.0f} ms, minimum {floor * 1e3:.0f} ms"
        )
        return self.why


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
