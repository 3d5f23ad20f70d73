"""Real-time uploads: a growing file goes up while it is being recorded (§5.3, R11, R12).

The file is cut into parts of ``P`` bytes (``realtime_part_size``, at least 5 MiB): part *k*
is bytes ``[(k-1)·P, k·P)``; the last part is what remains and is the only one that may be
smaller. While recording:

- the asset is created with ``is_realtime_upload`` (filetype, channel, ``offset`` from the
  capture time, name) as soon as uploads may start;
- part *k* ≥ 2 is requested and sent once the file holds more than ``k·P`` bytes (strictly more:
  so part *k* can never turn out to be the last, smaller, ``is_final`` part);
- **part 1 is held back**: it holds the WAV (or BWF, RF64…) header, which the recorder rewrites
  when it stops. Sending it early would put a stale header in Frame.io.

When recording stops (:meth:`RealtimeUploads.end`): part 1, every part not sent yet and the final
part (``is_final`` with ``asset_filesize``) are requested in one call and sent concurrently, so
the gap between stop and the last acknowledged byte is about ``P`` + the tail over the link.
Meanwhile the parts sent during recording are read again and their SHA-256 compared with what
was sent: bytes that changed after they were sent (anywhere but part 1) make the file
``corrupt``, as does a file that shrinks or is replaced.

An expired part URL is renewed by requesting the same part number again (R11). After a restart
a recording that was under way is taken as ended (a power cut ends the take): what is on disk is
uploaded, from the acknowledged parts on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from c2c_hub.frameio import PartRequest
from c2c_hub.tasks import sleep_or_wake
from c2c_hub.uploader.content_types import extension_for
from c2c_hub.uploader.errors import NothingToSend
from c2c_hub.uploader.policy import Action, Verdict
from c2c_hub.uploader.queue import FileState, NewPart, PartRecord, PartState
from c2c_hub.uploader.transfer import FileIdentity, Growing, stat_file, url_expiry

if TYPE_CHECKING:
    from c2c_hub.uploader.engine import Uploader

log = logging.getLogger(__name__)


@dataclass
class _Live:
    """A recording being uploaded while it grows."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    sending: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class RealtimeUploads:
    def __init__(self, uploader: Uploader) -> None:
        self.up = uploader
        self._live: dict[int, _Live] = {}

    # ------------------------------------------------------------------ recorder API
    async def recover(self) -> None:
        """After a restart, a file still ``recording`` was cut short: upload what is there."""
        up = self.up
        for record in list(up.queue.files.values()):
            if record.state is not FileState.RECORDING:
                continue
            try:
                st = await stat_file(record.path)
            except OSError as exc:
                await up.set_state(
                    record.id, FileState.CORRUPT, f"{record.path}: cannot be read ({exc})"
                )
                continue
            await up.queue.update(
                record.id,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                realtime=record.asset_id is not None,
            )
            await up.set_state(
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
    ) -> int:
        from c2c_hub.uploader.engine import guess_filetype

        up = self.up
        st = await stat_file(path)
        shown = name or os.path.basename(path)
        record = await up.queue.add(
            path=path,
            name=shown,
            filetype=filetype or guess_filetype(shown),
            channel=channel,
            device=device,
            size=None,
            mtime_ns=None,
            inode=st.st_ino,
            capture_time=capture_time if capture_time is not None else up.clock.now(),
            now=up.clock.now(),
            state=FileState.RECORDING,
            priority=priority,
            realtime=True,
        )
        self._live[record.id] = _Live()
        up.set_changed(record)
        if up.mode == "auto":
            self._start_live(record.id)
        return record.id

    def grew(self, file_id: int) -> None:
        live = self._live.get(file_id)
        if live is not None:
            live.wake.set()

    def released(self, file_id: int) -> None:
        if file_id in self._live:
            self._start_live(file_id)

    async def end(self, file_id: int) -> None:
        up = self.up
        record = up.queue.files[file_id]
        if record.state is not FileState.RECORDING:
            return
        try:
            st = await stat_file(record.path)
        except OSError as exc:
            await up.set_state(file_id, FileState.CORRUPT, f"{record.path}: cannot be read ({exc})")
            await self.cancelled(file_id)
            return
        live = self._live.get(file_id)
        running = live is not None and live.task is not None and not live.task.done()
        await up.queue.update(
            file_id,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            realtime=running or record.asset_id is not None,
        )
        if running:
            assert live is not None
            await up.set_state(file_id, FileState.UPLOADING, only_from=[FileState.RECORDING])
            live.ended.set()
            live.wake.set()
        else:
            self._live.pop(file_id, None)
            await up.set_state(file_id, FileState.QUEUED, only_from=[FileState.RECORDING])

    async def cancelled(self, file_id: int) -> None:
        live = self._live.pop(file_id, None)
        if live is not None and live.task is not None:
            live.task.cancel()

    # ------------------------------------------------------------------ the live upload
    def _start_live(self, file_id: int) -> None:
        live = self._live[file_id]
        if live.task is None or live.task.done():
            live.task = self.up.spawn(self._run_live(file_id, live), name=f"realtime-{file_id}")

    async def _run_live(self, file_id: int, live: _Live) -> None:
        from c2c_hub.uploader.engine import _Outcome

        up = self.up
        try:
            while not up.may_start():
                if live.ended.is_set():  # ended before anything could start: queue it
                    record = up.queue.files[file_id]
                    await up.queue.update(file_id, realtime=record.asset_id is not None)
                    await up.set_state(file_id, FileState.QUEUED, only_from=[FileState.UPLOADING])
                    return
                await sleep_or_wake(up.clock, 0.2, live.wake)
                live.wake.clear()
            await self._ensure_asset(file_id)
            await self._grow(file_id, live)
            await self._final(file_id, live)
        except _Outcome as outcome:
            await up.conclude(file_id, outcome.verdict)
            return
        finally:
            for task in live.sending.values():
                task.cancel()
            if self._live.get(file_id) is live:
                del self._live[file_id]
        await up.set_state(file_id, FileState.DONE, only_from=[FileState.UPLOADING])

    async def finish(self, file_id: int) -> None:
        """A worker's path for a real-time file whose recording has ended (e.g. after restart)."""
        await self._ensure_asset(file_id)
        await self._final(file_id, None)

    async def _ensure_asset(self, file_id: int) -> None:
        up = self.up
        record = up.queue.files[file_id]
        if record.asset_id is not None:
            return
        name = record.name
        extension = None
        if not Path(name).suffix:
            extension = extension_for(record.filetype) or ".bin"
            name = name + extension
        channel = await up.channel_for(file_id)
        offset = up.offset_of(record)
        client = up.session.client
        asset = await up.create_asset(
            file_id,
            lambda token: client.create_realtime_asset(
                token, record.filetype, channel, offset, name=name
            ),
            what="create real-time asset",
        )
        info = dict(up.queue.files[file_id].info)
        info["part_size"] = up.config.realtime_part_size
        await up.queue.update(file_id, info=info)
        await up.queue.asset_created(file_id, asset.id, [], up.clock.now())
        up.events.emit(
            {
                "type": "asset",
                "file_id": file_id,
                "asset_id": asset.id,
                "realtime": True,
                "offset": offset,
                "recreated": False,
            }
        )

    def _part_size(self, file_id: int) -> int:
        return int(
            self.up.queue.files[file_id].info.get("part_size", self.up.config.realtime_part_size)
        )

    async def _request(
        self, file_id: int, parts: list[NewPart], asset_filesize: int | None
    ) -> list[PartRecord]:
        """Ask Frame.io for URLs for ``parts`` (stored as planned first), return the records."""
        up = self.up
        record = up.queue.files[file_id]
        asset_id = record.asset_id
        assert asset_id is not None
        await up.queue.plan_parts(file_id, parts)
        requests = [PartRequest(number=p.number, size=p.size, is_final=p.is_final) for p in parts]
        client = up.session.client
        answer = await up.attempt(
            file_id,
            "request part URLs",
            lambda: up.session.call(
                lambda token: client.realtime_part_urls(
                    token, asset_id, requests, asset_filesize=asset_filesize
                )
            ),
        )
        for part, url in zip(parts, answer.upload_urls, strict=True):
            await up.queue.set_part_url(file_id, part.number, url, url_expiry(url))
        wanted = {p.number for p in parts}
        return [p for p in await up.queue.parts(file_id) if p.number in wanted]

    async def _renew(self, file_id: int, part: PartRecord) -> PartRecord:
        """R11: a fresh URL for the same part number."""
        up = self.up
        size = up.queue.files[file_id].size if part.is_final else None
        renewed = await self._request(
            file_id,
            [NewPart(part.number, part.offset, part.size, is_final=part.is_final)],
            size,
        )
        await up.queue.bump_info(file_id, "urls_renewed")
        return renewed[0]

    def _spawn_send(
        self, file_id: int, part: PartRecord, expect: FileIdentity | Growing
    ) -> asyncio.Task[None]:
        up = self.up
        record = up.queue.files[file_id]

        async def renew(p: PartRecord) -> PartRecord:
            return await self._renew(file_id, p)

        return asyncio.create_task(
            up.send_part(file_id, part, expect, record.filetype, renew=renew, want_sha=True),
            name=f"realtime-part-{file_id}-{part.number}",
        )

    async def _grow(self, file_id: int, live: _Live) -> None:
        """Send parts 2.. as the file grows, until the recording ends."""
        from c2c_hub.uploader.engine import _Outcome

        up = self.up
        record = up.queue.files[file_id]
        assert record.inode is not None
        expect = Growing(record.inode)
        size_p = self._part_size(file_id)
        known = {p.number: p for p in await up.queue.parts(file_id)}
        last_size = 0
        while not live.ended.is_set():
            live.wake.clear()
            failed = [t for t in live.sending.values() if t.done() and t.exception() is not None]
            if failed:
                await up.gather_parts(list(live.sending.values()))
            try:
                st = await stat_file(record.path)
            except OSError as exc:
                raise _Outcome(
                    Verdict(Action.CORRUPT, f"{record.path}: cannot be read ({exc})")
                ) from None
            if st.st_ino != record.inode:
                raise _Outcome(Verdict(Action.CORRUPT, f"{record.path}: replaced by another file"))
            if st.st_size < last_size:
                raise _Outcome(
                    Verdict(
                        Action.CORRUPT,
                        f"{record.path}: shrank from {last_size} to {st.st_size} bytes "
                        "while recording",
                    )
                )
            last_size = st.st_size
            ready = (st.st_size - 1) // size_p  # parts 2..ready have bytes after them
            new = [
                NewPart(k, (k - 1) * size_p, size_p)
                for k in range(2, ready + 1)
                if k not in known and k not in live.sending
            ]
            if new and up.may_start():
                for part in await self._request(file_id, new, None):
                    known[part.number] = part
                    live.sending[part.number] = self._spawn_send(file_id, part, expect)
            await sleep_or_wake(up.clock, up.config.realtime_poll_s, live.wake)

    async def _final(self, file_id: int, live: _Live | None) -> None:
        """Recording over: part 1, the rest and the final part; then check what was sent."""
        from c2c_hub.uploader.engine import _Outcome

        up = self.up
        record = up.queue.files[file_id]
        identity = await up.check_identity(record)
        total = identity.size
        if total == 0:
            raise _Outcome(up.verdict(NothingToSend(f"{record.path} is empty (0 bytes)")))
        size_p = self._part_size(file_id)
        count = max(1, -(-total // size_p))
        existing = {p.number: p for p in await up.queue.parts(file_id)}
        sending = dict(live.sending) if live is not None else {}
        for number, old in existing.items():
            if number > count and (old.state is PartState.ACKED or number in sending):
                raise _Outcome(
                    Verdict(
                        Action.CORRUPT,
                        f"{record.path}: shrank to {total} bytes after part {number} was sent",
                    )
                )
        plan: list[NewPart] = []
        for number in range(1, count + 1):
            size = size_p if number < count else total - (count - 1) * size_p
            final = number == count
            part = existing.get(number)
            if part is not None and (part.state is PartState.ACKED or number in sending):
                if part.size != size or part.is_final != final:
                    raise _Outcome(
                        Verdict(Action.CORRUPT, f"{record.path}: part {number} no longer fits")
                    )
                continue
            if (
                part is not None
                and part.url is not None
                and part.size == size
                and part.is_final == final
            ):
                continue  # planned and requested before a restart; its URL is renewed if due
            plan.append(NewPart(number, (number - 1) * size_p, size, is_final=final))
        if plan:
            await self._request(file_id, plan, total)
        parts = await up.queue.parts(file_id)
        todo = [p for p in parts if p.state is not PartState.ACKED and p.number not in sending]
        todo.sort(key=lambda p: p.number != 1)  # part 1 (the header) first
        sent_before = [
            p for p in parts if p.state is PartState.ACKED and p.number != 1 and p.sha256
        ]
        verify = asyncio.create_task(
            asyncio.to_thread(_changed_parts, record.path, sent_before),
            name=f"realtime-verify-{file_id}",
        )
        tasks = list(sending.values()) + [self._spawn_send(file_id, p, identity) for p in todo]
        try:
            await up.gather_parts(tasks)
        finally:
            if not verify.done():
                verify.cancel()
            await asyncio.gather(verify, return_exceptions=True)
        # Parts that were still in flight when recording stopped are checked too.
        late = [
            p
            for p in await up.queue.parts(file_id)
            if p.number in sending and p.sha256 and p.number != 1
        ]
        changed = verify.result() + await asyncio.to_thread(_changed_parts, record.path, late)
        if changed:
            raise _Outcome(
                Verdict(
                    Action.CORRUPT,
                    f"{record.path}: bytes already uploaded changed afterwards (parts "
                    f"{', '.join(str(n) for n in sorted(changed))}); Frame.io's copy would "
                    "differ from the file",
                )
            )


def _changed_parts(path: str, parts: list[PartRecord]) -> list[int]:
    """Numbers of ``parts`` whose bytes on disk no longer hash to what was sent."""
    changed = []
    try:
        with open(path, "rb") as fh:
            for part in parts:
                fh.seek(part.offset)
                digest = hashlib.sha256()
                left = part.size
                while left:
                    chunk = fh.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
                if left or digest.hexdigest() != part.sha256:
                    changed.append(part.number)
    except OSError:
        return [p.number for p in parts]
    return changed
