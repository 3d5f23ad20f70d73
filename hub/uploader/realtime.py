"""Real-time uploads: a growing file goes up while it is being recorded.

The file is cut into parts of ``P`` bytes (``realtime_part_size``, at least 5 MiB): part *k*
is bytes ``[(k-1)·P, k·P)``; the last part is what remains and is the only one that may be
smaller. While recording:

- the asset is created with ``is_realtime_upload`` (filetype, channel, ``offset`` from the
  capture time, name) as soon as uploads may start;
- part *k* ≥ 2 is requested and sent once the file holds more than ``k·P`` bytes (strictly more:
  so part *k* can never turn out to be the last, smaller, ``is_final`` part);
- once the producer reports a durable size (``recording_grew(id, durable_size=n)``: bytes it
  has fsynced), only bytes below the latest durable size reported count: a part holding bytes
  that a power cut could still take back is never sent;
- **part 1 is held back**: it holds the WAV (or BWF, RF64…) header, which the recorder rewrites
  when it stops. Sending it early would put a stale header in Frame.io. Its URL is asked for
  with the first parts, so that at stop it goes without a round trip. A producer that never
  changes a byte once written (``append_only``: the recorder's MP3 proxies) has its part 1 sent
  like any other, so at stop only the tail is left;
- **an append-only file's unsent tail is bounded** (``realtime_tail_limit``, 2 MiB): once more
  than that waits past its last part sent, that part is requested again, grown to the durable
  end, and sent again (a part number asked for again gets a fresh URL, and its latest upload
  wins); it grows towards ``2·P``, then goes back to ``P`` with a new part taking the rest
  (:meth:`RealtimeUploads._bound_tail`). At stop only the last bytes (at most the limit, and
  what came since) are left, for the bytes of each re-sent part sent a second time
  (``info.tail_resent_bytes``). Not for WAVs: their part 1 goes at stop anyway, and the cost
  of a re-send grows with the data rate (5 MiB is 4.5 s of an 8-track take, 5.5 minutes of a
  proxy). The parts' layout is then what was sent: their offsets and sizes in the queue are
  the truth, the rest is planned from where they end
  (:func:`~c2c_hub.uploader.verify.realtime_plan`).

When recording stops (:meth:`RealtimeUploads.end`, which wakes the live upload): part 1 goes at
once while the final part (``is_final`` with ``asset_filesize``) and any part not sent yet are
requested, then sent with it, so the gap between stop and the last acknowledged byte is about
``P`` + what followed the last part sent, over the link. Meanwhile the parts sent during
recording are read again (each once, at a low CPU priority) and their SHA-256 compared with
what was sent: bytes that changed after they were last sent (anywhere but part 1) make the
file ``corrupt``, as does a file that shrinks or is replaced.

An expired part URL is renewed by requesting the same part number again (Frame.io allows it
for real-time uploads). After a restart a recording that was under way is taken as ended (a
power cut ends the take): the file as it is on disk is uploaded, from the acknowledged parts
on, or from the start on a new asset if those no longer match it
(:mod:`~c2c_hub.uploader.recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from c2c_hub.clock import Clock
from c2c_hub.session import Session
from c2c_hub.tasks import sleep_or_wake
from c2c_hub.uploader.content_types import extension_for
from c2c_hub.uploader.errors import NothingToSend
from c2c_hub.uploader.failures import FailurePolicy, Outcome, Spawn
from c2c_hub.uploader.filetypes import guess_filetype
from c2c_hub.uploader.gate import StartGate
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.policy import Action, Verdict
from c2c_hub.uploader.queue import FileRecord, FileState, NewPart, PartRecord, PartState
from c2c_hub.uploader.recovery import reconcile
from c2c_hub.uploader.routing import ChannelRouter
from c2c_hub.uploader.steps import SendSteps
from c2c_hub.uploader.transfer import FileIdentity, Growing, stat_file
from c2c_hub.uploader.verify import background_check, changed_parts, realtime_plan
from c2c_hub.uploader.withdrawal import Withdrawal

log = logging.getLogger(__name__)


def _header_part(record: FileRecord) -> int:
    """The part whose bytes may still change at the stop: 1 (the header the recorder rewrites),
    or 0 (none) for a producer that only appends (see the module docstring)."""
    return 0 if record.info.get("append_only") else 1


@dataclass
class _Live:
    """A recording being uploaded while it grows."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sending: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    durable: int | None = None  # the latest durable size the producer reported
    #: parts being sent again grown (the tail bound): the part as Frame.io holds it meanwhile,
    #: and the withdrawal that lets the stop drop the re-send (see _withdraw_resends)
    resends: dict[int, tuple[PartRecord, Withdrawal]] = field(default_factory=dict)


class RealtimeUploads:
    """Growing files: the recorder's calls, the live upload, and the end of a recording."""

    def __init__(
        self,
        ledger: Ledger,
        session: Session,
        clock: Clock,
        steps: SendSteps,
        failures: FailurePolicy,
        gate: StartGate,
        router: ChannelRouter,
        spawn: Spawn,
        *,
        part_size: int,
        poll_s: float,
        tail_limit: int = 0,
    ) -> None:
        self.ledger = ledger
        self.queue = ledger.queue
        self.session = session
        self.clock = clock
        self.steps = steps
        self.failures = failures
        self.gate = gate
        self.router = router
        self.spawn = spawn
        self.part_size = part_size
        self.poll_s = poll_s
        self.tail_limit = tail_limit
        self._live: dict[int, _Live] = {}
        #: files cancelled while their take still records them (their end is still to come)
        self._cut: set[int] = set()
        self._turns: set[int] = set()  # recordings waiting for their turn to end

    # ------------------------------------------------------------------ recorder API
    async def recover(self) -> None:
        """After a restart, a file still ``recording`` was cut short: upload what is there."""
        for record in list(self.queue.files.values()):
            if record.state is not FileState.RECORDING:
                continue
            try:
                st = await stat_file(record.path)
            except OSError as exc:
                await self.ledger.set_state(
                    record.id, FileState.CORRUPT, f"{record.path}: cannot be read ({exc})"
                )
                continue
            await self.queue.update(
                record.id,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                realtime=record.asset_id is not None,
            )
            await self.ledger.set_state(
                record.id,
                FileState.QUEUED,
                "the recording was interrupted by a restart; uploading what was written",
            )

    async def begin(
        self,
        path: str,
        *,
        filetype: str | None,
        name: str | None,
        channel: int,
        capture_time: float | None,
        priority: int,
        device: str | None = None,
        kind: str | None = None,
        append_only: bool = False,
    ) -> int:
        st = await stat_file(path)
        shown = name or os.path.basename(path)
        record = await self.queue.add(
            path=path,
            name=shown,
            filetype=filetype or guess_filetype(shown),
            channel=channel,
            device=device,
            size=None,
            mtime_ns=None,
            inode=st.st_ino,
            capture_time=capture_time if capture_time is not None else self.clock.now(),
            now=self.clock.now(),
            state=FileState.RECORDING,
            priority=priority,
            realtime=True,
            kind=kind,
        )
        if append_only:
            record = await self.queue.update(record.id, info={**record.info, "append_only": True})
        self._live[record.id] = _Live()
        self.ledger.set_changed(record)
        if self.ledger.mode == "auto":  # manual: it waits for a start
            self._start_live(record.id)
        return record.id

    def grew(self, file_id: int, durable_size: int | None = None) -> None:
        if durable_size is not None and durable_size < 0:
            raise ValueError(f"durable_size must not be negative (got {durable_size})")
        live = self._live.get(file_id)
        if live is None:
            return  # not recording (ended, cancelled, or after a restart): nothing to follow
        if durable_size is not None:
            live.durable = int(durable_size)
        live.wake.set()

    def released(self, file_id: int) -> None:
        if file_id in self._live:
            self._start_live(file_id)

    async def end(self, file_id: int) -> None:
        ledger = self.ledger
        record = ledger.record(file_id)
        self._cut.discard(file_id)
        if record.state is not FileState.RECORDING:
            if record.size is None:
                # Cancelled while recording: the take is whole now, so its size and identity are
                # known; without them a retry shows "size unknown" and queues a sizeless file.
                with contextlib.suppress(OSError):
                    st = await stat_file(record.path)
                    await self.queue.update(
                        file_id,
                        size=st.st_size,
                        mtime_ns=st.st_mtime_ns,
                        realtime=record.asset_id is not None,
                    )
                    ledger.set_changed(ledger.record(file_id))
            return
        try:
            st = await stat_file(record.path)
        except OSError as exc:
            await ledger.set_state(
                file_id, FileState.CORRUPT, f"{record.path}: cannot be read ({exc})"
            )
            await self.cancelled(file_id)
            return
        live = self._live.get(file_id)
        running = live is not None and live.task is not None and not live.task.done()
        # The take's size and its new state in one commit (one fsync on the way to its tail).
        ended = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "realtime": running or record.asset_id is not None,
        }
        state = FileState.UPLOADING if running else FileState.QUEUED
        if not running:
            self._live.pop(file_id, None)
        if await ledger.set_state(file_id, state, only_from=[FileState.RECORDING], **ended):
            if running:
                assert live is not None
                live.ended.set()
                live.wake.set()
        else:  # cancelled meanwhile: its size is still known (as above)
            await self.queue.update(file_id, **ended)

    def still_recording(self, file_id: int) -> bool:
        """Cancelled while its take records it, and the take has not ended yet."""
        return file_id in self._cut

    async def cancelled(self, file_id: int) -> None:
        if self.ledger.record(file_id).size is None:  # its take has not ended
            self._cut.add(file_id)
        live = self._live.pop(file_id, None)
        if live is not None and live.task is not None:
            live.task.cancel()

    # ------------------------------------------------------------------ the live upload
    def _start_live(self, file_id: int) -> None:
        live = self._live[file_id]
        if live.task is None or live.task.done():
            live.task = self.spawn(self._run_live(file_id, live), f"realtime-{file_id}")

    async def _run_live(self, file_id: int, live: _Live) -> None:
        ledger = self.ledger
        try:
            while not self.gate.may_start():
                if live.ended.is_set():  # ended before anything could start: queue it
                    record = ledger.record(file_id)
                    await self.queue.update(file_id, realtime=record.asset_id is not None)
                    await ledger.set_state(
                        file_id, FileState.QUEUED, only_from=[FileState.UPLOADING]
                    )
                    return
                await sleep_or_wake(self.clock, 0.2, live.wake)
                live.wake.clear()
            await self._ensure_asset(file_id)
            await self._grow(file_id, live)
            await self._wait_turn(file_id)
            await self._final(file_id, live)
        except Outcome as outcome:
            await self.failures.conclude(file_id, outcome.verdict)
            return
        finally:
            for task in live.sending.values():
                task.cancel()
            if self._live.get(file_id) is live:
                del self._live[file_id]
        await ledger.set_state(file_id, FileState.DONE, only_from=[FileState.UPLOADING])

    def _ahead(self, file_id: int) -> list[int]:
        """Files that go before this one's end: a higher priority (a file's own plus its
        type's, e.g. ``kind:proxy`` over ``kind:mix``), uploading or ready to be claimed now,
        and not held up (waiting for a channel, or retrying after a failure)."""
        ledger = self.ledger
        mine = ledger.record(file_id).effective_priority
        devices = self.router.claimable_devices()
        manual = ledger.mode == "manual"
        ahead = []
        for record in self.queue.files.values():
            if record.id == file_id or record.effective_priority <= mine:
                continue
            if ledger.retrying(record.id) is not None and record.id not in self._turns:
                continue  # held up (its channel, a failure); one waiting its turn goes first
            if record.state is FileState.UPLOADING:
                ahead.append(record.id)
            elif record.state is FileState.QUEUED and (not manual or record.released):
                if record.device is None or devices is None or record.device in devices:
                    ahead.append(record.id)
        return ahead

    async def _wait_turn(self, file_id: int) -> None:
        """Upload order by type at a take's end: this recording's last parts (part 1, the
        tail) wait while a file of a higher priority is being sent, so a take's proxies are
        acknowledged before its mix, and the mix before its ISOs (a recording's earlier parts
        went up while it grew, whatever its order)."""
        waited = False
        wake = self.ledger.wake.listener()
        self._turns.add(file_id)
        try:
            while ahead := self._ahead(file_id):
                if not waited:
                    waited = True
                    self.ledger.note_retrying(
                        file_id, f"after {len(ahead)} file(s) of a higher priority (upload order)"
                    )
                    self.ledger.changed.set()
                wake.clear()
                await sleep_or_wake(self.clock, self.poll_s, wake)
        finally:
            self._turns.discard(file_id)
            self.ledger.wake.remove(wake)
        if waited:
            self.ledger.clear_retrying(file_id)
            self.ledger.changed.set()

    async def finish(self, file_id: int) -> None:
        """A worker's path for a real-time file whose recording has ended (e.g. after restart)."""
        await reconcile(self.ledger, file_id, self._part_size(file_id))
        await self._ensure_asset(file_id)
        await self._final(file_id, None)

    async def _ensure_asset(self, file_id: int) -> None:
        record = self.ledger.record(file_id)
        if record.asset_id is not None:
            return
        name = record.name
        if not Path(name).suffix:
            name = name + (extension_for(record.filetype) or ".bin")
        channel = await self.router.channel_for(file_id)
        offset = self.steps.offset_of(record)
        client = self.session.client
        # Stored before the create, so that between its answer and the commit of the asset id
        # (where a kill leaves an asset the hub cannot find again) there is one commit only.
        info = dict(self.ledger.record(file_id).info)
        info["part_size"] = self.part_size
        await self.queue.update(file_id, info=info)
        asset = await self.steps.create_asset(
            file_id,
            lambda token: client.create_realtime_asset(
                token, record.filetype, channel, offset, name=name
            ),
            what="create real-time asset",
        )
        await self.queue.asset_created(file_id, asset.id, [], self.clock.now())
        self.ledger.emit(
            {
                "type": "asset",
                "file_id": file_id,
                "asset_id": asset.id,
                "realtime": True,
                "offset": offset,
                "recreated": bool(info.get("abandoned_assets")),
            }
        )

    def _part_size(self, file_id: int) -> int:
        return int(self.ledger.record(file_id).info.get("part_size", self.part_size))

    async def _renew(self, file_id: int, part: PartRecord) -> PartRecord:
        """A fresh URL for the same part number."""
        size = self.ledger.record(file_id).size if part.is_final else None
        renewed = await self.steps.request_part_urls(
            file_id,
            [NewPart(part.number, part.offset, part.size, is_final=part.is_final)],
            size,
        )
        await self.queue.bump_info(file_id, "urls_renewed")
        if part.url is not None:  # it had one, and it expired (renewed in place)
            log.warning(
                "%s: part %d's upload URL expired; Frame.io gave a fresh one (cost: one extra "
                "request, %d bytes sent on the new URL, nothing re-created)",
                self.queue.files[file_id].name,
                part.number,
                part.size,
            )
        return renewed[0]

    def _spawn_send(
        self,
        file_id: int,
        part: PartRecord,
        expect: FileIdentity | Growing,
        withdrawal: Withdrawal | None = None,
    ) -> asyncio.Task[None]:
        async def renew(p: PartRecord) -> PartRecord:
            return await self._renew(file_id, p)

        return asyncio.create_task(
            self.steps.send_part(
                file_id,
                part,
                expect,
                self.ledger.record(file_id).filetype,
                renew=renew,
                want_sha=True,
                withdrawal=withdrawal,
            ),
            name=f"realtime-part-{file_id}-{part.number}",
        )

    async def _grow(self, file_id: int, live: _Live) -> None:
        """Send parts 2.. as the file grows, until the recording ends."""
        record = self.ledger.record(file_id)
        assert record.inode is not None
        expect = Growing(record.inode)
        size_p = self._part_size(file_id)
        header = _header_part(record)
        first = header + 1  # part 1 waits for the stop unless the producer only appends
        # An append-only file's unsent tail is bounded (see _bound_tail); a WAV's is not.
        tail = self.tail_limit if not header else 0
        known = {p.number: p for p in await self.queue.parts(file_id)}
        last_size = 0
        while not live.ended.is_set():
            live.wake.clear()
            failed = [t for t in live.sending.values() if t.done() and t.exception() is not None]
            if failed:
                await self.steps.gather_parts(list(live.sending.values()))
            try:
                st = await stat_file(record.path)
            except OSError as exc:
                raise Outcome(
                    Verdict(Action.CORRUPT, f"{record.path}: cannot be read ({exc})")
                ) from None
            if st.st_ino != record.inode:
                raise Outcome(Verdict(Action.CORRUPT, f"{record.path}: replaced by another file"))
            # Bytes past the durable size may go (a track sealed after a full disk loses the
            # partial frame it ended in); durable bytes never may.
            if st.st_size < last_size and (live.durable is None or st.st_size < live.durable):
                raise Outcome(
                    Verdict(
                        Action.CORRUPT,
                        f"{record.path}: shrank from {last_size} to {st.st_size} bytes "
                        "while recording",
                    )
                )
            last_size = st.st_size
            # Only durable bytes count once the producer says which they are.
            usable = st.st_size if live.durable is None else min(st.st_size, live.durable)
            if tail:
                await self._bound_tail(file_id, live, known, expect, usable, size_p, tail)
                await sleep_or_wake(self.clock, self.poll_s, live.wake)
                continue
            ready = (usable - 1) // size_p  # parts 1..ready have usable bytes after them
            new = [
                NewPart(k, (k - 1) * size_p, size_p)
                for k in range(first, ready + 1)
                if k not in known and k not in live.sending
            ]
            if new and header and 1 not in known:
                # Part 1's URL comes with the first parts (it is not sent: its header is
                # rewritten at stop), so that at stop it goes at once, without a round trip.
                # The file already holds more than 2·P bytes: part 1 cannot be the final one.
                new.insert(0, NewPart(1, 0, size_p))
            if new and self.gate.may_start():
                for part in await self.steps.request_part_urls(file_id, new, None):
                    known[part.number] = part
                    if part.number >= first:  # part 1 too when the producer only appends
                        live.sending[part.number] = self._spawn_send(file_id, part, expect)
            await sleep_or_wake(self.clock, self.poll_s, live.wake)

    async def _bound_tail(
        self,
        file_id: int,
        live: _Live,
        known: dict[int, PartRecord],
        expect: Growing,
        usable: int,
        size_p: int,
        tail: int,
    ) -> None:
        """The parts of an append-only file while it grows, its unsent tail kept to ``tail``.

        Parts cover the file up to one byte short of its usable (durable) end, so none of them
        can turn out to be the final part. Past the last part sent:

        - a whole part's worth (``size_p``) or more: new parts of ``size_p`` follow it;
        - else, more than ``tail`` bytes, and the last part sent is acknowledged: that part is
          sent again, grown to the usable end (R10/R11: a part number asked for again gets a
          fresh URL, and its latest upload wins), so at the stop at most ``tail`` bytes (plus
          what came since) are left. Once it would reach ``2·size_p``, it goes back to
          ``size_p`` and a new part takes the rest (at least ``size_p``): the same bytes either
          way, and no part grows without end.

        Each part sent again costs its earlier size a second time, counted in the file's
        ``info.tail_resent_bytes`` (and ``info.tail_resends``).
        """
        if not self.gate.may_start():
            return
        frontier = usable - 1  # one byte at least is left for the final part
        last = known[max(known)] if known else None
        end = last.end if last is not None else 0
        new: list[NewPart] = []
        number = last.number + 1 if last is not None else 1
        while frontier - end >= size_p:  # whole parts, as for any real-time file
            new.append(NewPart(number, end, size_p))
            number, end = number + 1, end + size_p
        before: PartRecord | None = None
        if not new and last is not None and frontier - end > tail and self._acked(live, last):
            grown = frontier - last.offset
            if grown < 2 * size_p:
                new = [NewPart(last.number, last.offset, grown)]
            else:  # back to one part's size; the rest (>= size_p) is a new part
                new = [
                    NewPart(last.number, last.offset, size_p),
                    NewPart(number, last.offset + size_p, grown - size_p),
                ]
            before = await self.queue.replan_sent_part(file_id, new[0])
            self.ledger.set_changed(self.ledger.record(file_id))
        if not new:
            return
        for part in await self.steps.request_part_urls(file_id, new, None):
            known[part.number] = part
            withdrawal = None
            if before is not None and len(new) == 1:
                # A part grown in place may be withdrawn at the stop (its earlier upload
                # stands); one split in two may not: the new part's range depends on it.
                withdrawal = Withdrawal(part.size)
                live.resends[part.number] = (before, withdrawal)
            live.sending[part.number] = self._spawn_send(file_id, part, expect, withdrawal)
        if before is not None:
            await self.queue.bump_info(file_id, "tail_resends")
            record = await self.queue.bump_info(file_id, "tail_resent_bytes", before.size)
            self.ledger.set_changed(record)
            log.debug(
                "%s: part %d sent again, %d bytes (%d of them sent before), to bound the tail",
                record.name,
                before.number,
                new[0].size,
                before.size,
            )

    async def _withdraw_resends(self, file_id: int, live: _Live) -> None:
        """At the stop: drop a re-send of a grown part that has more left to send than it
        adds to what Frame.io holds of that part already.

        A stop that comes while a part is being sent again (grown to the newest bytes) would
        otherwise wait for the whole re-send: up to twice a part's size, seconds on a
        cellular link. While its last chunk has not gone, Frame.io cannot have stored it, so
        its earlier upload stands: the part is put back as it was (range, SHA-256,
        acknowledged) in one commit, and the final part takes the bytes after it. The re-send
        is kept when what is left of it is no more than what withdrawing it would add to the
        final part.
        """
        for number, (before, withdrawal) in list(live.resends.items()):
            del live.resends[number]
            task = live.sending.get(number)
            if task is None or task.done():
                continue
            growth = withdrawal.size - before.size

            def worth(unsent: int, growth: int = growth) -> bool:
                return unsent > growth

            if not withdrawal.withdraw(worth):
                log.info(
                    "%s: stopped during a re-send of part %d: kept (%s), withdrawing it would "
                    "add %d bytes to the final part",
                    self.ledger.record(file_id).name,
                    number,
                    "its last chunk is on its way"
                    if withdrawal.committed
                    else f"{withdrawal.left()} of {withdrawal.size} bytes left",
                    growth,
                )
                continue
            unsent = withdrawal.size - withdrawal.handed
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            del live.sending[number]
            if await self.queue.restore_part(file_id, before):
                await self.queue.bump_info(file_id, "tail_resends_withdrawn")
                record = await self.queue.bump_info(
                    file_id, "tail_withdrawn_bytes", withdrawal.handed
                )
                self.ledger.set_changed(record)
                log.info(
                    "%s: stopped during a re-send of part %d (%d of %d bytes left): withdrawn; "
                    "Frame.io keeps its earlier %d bytes, the final part takes the %d after them",
                    record.name,
                    number,
                    unsent,
                    withdrawal.size,
                    before.size,
                    growth,
                )

    @staticmethod
    def _acked(live: _Live, part: PartRecord) -> bool:
        """The part's latest send (this recording's) is acknowledged."""
        task = live.sending.get(part.number)
        if task is None:
            return part.state is PartState.ACKED
        return task.done() and not task.cancelled() and task.exception() is None

    async def _final(self, file_id: int, live: _Live | None) -> None:
        """Recording over: part 1, the rest and the final part; then check what was sent."""
        record = self.ledger.record(file_id)
        identity = await self.steps.check_identity(record)
        total = identity.size
        if total == 0:
            raise Outcome(self.failures.verdict(NothingToSend(f"{record.path} is empty (0 bytes)")))
        if live is not None:
            await self._withdraw_resends(file_id, live)
        existing = {p.number: p for p in await self.queue.parts(file_id)}
        sending = dict(live.sending) if live is not None else {}
        # Parts sent (acknowledged, or still in flight from the recording) stay as they were
        # sent: the queue's record of them is the truth, the rest is planned from there.
        sent = {n: p for n, p in existing.items() if p.state is PartState.ACKED or n in sending}
        layout, misfit = realtime_plan(total, self._part_size(file_id), sent.values())
        if misfit:
            beyond = [n for n in misfit if sent[n].end > total]
            raise Outcome(
                Verdict(
                    Action.CORRUPT,
                    f"{record.path}: shrank to {total} bytes after part {beyond[0]} was sent"
                    if beyond
                    else f"{record.path}: part {misfit[0]} no longer fits",
                )
            )
        plan: list[NewPart] = []
        for want in layout:
            if want.number in sent:
                continue
            part = existing.get(want.number)
            if (
                part is not None
                and part.url is not None
                and (part.offset, part.size, part.is_final)
                == (want.offset, want.size, want.is_final)
            ):
                continue  # planned and requested before a restart; its URL is renewed if due
            plan.append(want)
        parts = await self.queue.parts(file_id)
        header = _header_part(record)
        planned = {p.number for p in plan}
        # Parts whose URL is already at hand (part 1, asked for while recording) go at once,
        # while the URLs of the rest (the final part) are asked for: one round trip less for
        # the largest part of the tail.
        busy = planned | sending.keys()
        wanted = {p.number for p in layout}
        ready = [
            p
            for p in parts
            if p.state is not PartState.ACKED and p.number not in busy and p.number in wanted
        ]
        ready.sort(key=lambda p: p.number != 1)  # part 1 (the header) first
        sent_before = [
            p for p in parts if p.state is PartState.ACKED and p.number != header and p.sha256
        ]
        tasks = list(sending.values()) + [self._spawn_send(file_id, p, identity) for p in ready]
        verify: asyncio.Task[list[int]] | None = None
        try:
            if plan:
                requested = await self.steps.request_part_urls(file_id, plan, total)
                tasks += [self._spawn_send(file_id, p, identity) for p in requested]
            # Bytes sent while recording are read again and hashed: a thread of its own at a
            # low CPU priority, so that it never slows the tail's sending (see verify.py).
            verify = asyncio.create_task(
                background_check(record.path, sent_before), name=f"realtime-verify-{file_id}"
            )
            # The stop's tail goes first: lower-priority files' part bodies (the take's WAVs,
            # behind its proxies) wait between chunks meanwhile (transfer.Precedence).
            with self.steps.sender.precedence.hold(record.effective_priority):
                await self.steps.gather_parts(tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if verify is not None:
                verify.cancel()
                await asyncio.gather(verify, return_exceptions=True)
            raise
        assert verify is not None
        # Every part is sent: the check of the earlier ones must finish, not be cut short (with
        # nothing left to send, after a restart, it is still reading: cancelling it would end
        # this upload with a bare CancelledError and leave the file "uploading" for ever).
        try:
            await asyncio.wait({verify})
        except asyncio.CancelledError:
            verify.cancel()
            raise
        # Parts that were still in flight when recording stopped are checked too (those acked
        # before it are in ``sent_before`` already: each part is read once).
        checked = {p.number for p in sent_before}
        late = [
            p
            for p in await self.queue.parts(file_id)
            if p.number in sending and p.number not in checked and p.sha256 and p.number != header
        ]
        changed = verify.result() + await asyncio.to_thread(changed_parts, record.path, late)
        if changed:
            raise Outcome(
                Verdict(
                    Action.CORRUPT,
                    f"{record.path}: bytes already uploaded changed afterwards (parts "
                    f"{', '.join(str(n) for n in sorted(changed))}); Frame.io's copy would "
                    "differ from the file",
                )
            )
