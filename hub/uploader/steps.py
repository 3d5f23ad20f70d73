"""The send steps every upload is made of, as one object both upload paths are given.

:class:`SendSteps` holds the steps that talk to Frame.io and S3, each written down before it
is done and stored before it is told:

- :meth:`SendSteps.create_asset`: one asset create, paced (at most 5 per second per device),
  its intent stored first so that a create whose answer was lost is counted;
- :meth:`SendSteps.request_part_urls`: URLs for parts of a real-time asset (planned parts are
  stored first);
- :meth:`SendSteps.send_part`: one part, ``sending`` stored before the PUT and ``acked`` after
  it, before the ``part_acked`` event; retried per the failure policy, its URL renewed when it
  expires (if the caller can renew it);
- :meth:`SendSteps.send_parts` / :meth:`SendSteps.gather_parts`: parts concurrently, the first
  ending outcome cancelling the others and the worst one raised.

Also :meth:`SendSteps.check_identity` (the file is what was queued) and
:meth:`SendSteps.offset_of` (seconds since capture, for the asset's ``offset``).
The basic workers (:mod:`~c2c_hub.uploader.basic`) and the real-time path
(:mod:`~c2c_hub.uploader.realtime`) use these steps; the steps call neither of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from c2c_hub.clock import Clock
from c2c_hub.frameio import (
    MalformedResponse,
    PartRequest,
    RealtimeParts,
    TransportError,
    TransportTimeout,
)
from c2c_hub.session import Session
from c2c_hub.uploader.failures import FailurePolicy, Outcome, worst
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.policy import Action, Verdict
from c2c_hub.uploader.queue import FileRecord, NewPart, PartRecord
from c2c_hub.uploader.transfer import (
    Expect,
    FileIdentity,
    Pacer,
    PartSender,
    PutResult,
    stat_file,
    url_expiry,
)
from c2c_hub.uploader.withdrawal import Withdrawal, Withdrawn

if TYPE_CHECKING:  # only its type: the monitor (and ifaddr) is the hub's, not the uploader's
    from c2c_hub.connectivity import ConnectivityMonitor

log = logging.getLogger(__name__)

T = TypeVar("T")
Renew = Callable[[PartRecord], Awaitable[PartRecord]]


def _lost_answer(exc: BaseException) -> bool:
    """True when a create may have reached Frame.io although no answer came back."""
    if isinstance(exc, TransportTimeout):
        return "ConnectTimeout" not in str(exc) and "PoolTimeout" not in str(exc)
    if isinstance(exc, TransportError):
        return "ConnectError" not in str(exc)
    return isinstance(exc, MalformedResponse)  # answered, but the answer is unusable


class SendSteps:
    """Create, request URLs, send parts: each durable before and after (see the module doc)."""

    def __init__(
        self,
        ledger: Ledger,
        session: Session,
        clock: Clock,
        failures: FailurePolicy,
        sender: PartSender,
        pacer: Pacer,
        *,
        url_margin_s: float,
        connectivity: ConnectivityMonitor | None = None,
    ) -> None:
        self.ledger = ledger
        self.queue = ledger.queue
        self.session = session
        self.clock = clock
        self.failures = failures
        self.sender = sender
        self.pacer = pacer
        self.url_margin_s = url_margin_s
        self.connectivity = connectivity

    # ------------------------------------------------------------------ the file
    async def check_identity(self, record: FileRecord) -> FileIdentity:
        """The file as queued; :class:`Outcome` ``corrupt`` if it changed or cannot be read."""
        try:
            st = await stat_file(record.path)
        except OSError as exc:
            raise Outcome(
                Verdict(Action.CORRUPT, f"{record.path}: cannot be read ({exc.strerror or exc})")
            ) from None
        now = FileIdentity.of(st)
        if record.size is None or record.mtime_ns is None or record.inode is None:
            return now
        queued = FileIdentity(record.size, record.mtime_ns, record.inode)
        changes = queued.differences(now)
        if changes:
            raise Outcome(
                Verdict(
                    Action.CORRUPT,
                    f"{record.path} changed since it was queued: " + "; ".join(changes),
                )
            )
        return queued

    def offset_of(self, record: FileRecord) -> int:
        """Seconds since capture (never negative), from the capture time stored at enqueue."""
        return max(0, int(self.clock.now() - record.capture_time))

    def expiring(self, part: PartRecord) -> bool:
        """The part has no URL, or its URL expires within ``url_margin_s``."""
        return part.url is None or (
            part.url_expires_at is not None
            and part.url_expires_at - self.url_margin_s <= self.clock.now()
        )

    # ------------------------------------------------------------------ Frame.io
    async def create_asset(
        self, file_id: int, call: Callable[[str], Awaitable[T]], what: str = "create asset"
    ) -> T:
        """One asset create, paced, with its intent stored first (see ``lost_creates``)."""

        async def once() -> T:
            async with self.pacer.slot():
                await self.queue.begin_create(file_id, self.clock.now())
                try:
                    return await self.session.call(call)
                except BaseException as exc:
                    if _lost_answer(exc):
                        await self.queue.create_answer_lost(file_id)
                    if not isinstance(exc, asyncio.CancelledError):
                        await self.queue.create_failed(file_id, self.clock.now())
                    raise

        return await self.failures.attempt(file_id, what, once)

    async def request_part_urls(
        self, file_id: int, parts: Sequence[NewPart], asset_filesize: int | None
    ) -> list[PartRecord]:
        """URLs for ``parts`` of a real-time asset (stored as planned first); their records."""
        record = self.ledger.record(file_id)
        asset_id = record.asset_id
        assert asset_id is not None
        await self.queue.plan_parts(file_id, parts)
        requests = [PartRequest(number=p.number, size=p.size, is_final=p.is_final) for p in parts]
        client = self.session.client

        async def ask() -> RealtimeParts:
            return await self.session.call(
                lambda token: client.realtime_part_urls(
                    token, asset_id, requests, asset_filesize=asset_filesize
                )
            )

        answer = await self.failures.attempt(file_id, "request part URLs", ask)
        for part, url in zip(parts, answer.upload_urls, strict=True):
            await self.queue.set_part_url(file_id, part.number, url, url_expiry(url))
        wanted = {p.number for p in parts}
        return [p for p in await self.queue.parts(file_id) if p.number in wanted]

    # ------------------------------------------------------------------ parts
    async def send_parts(
        self,
        file_id: int,
        parts: list[PartRecord],
        expect: Expect,
        filetype: str,
        *,
        renew: Renew | None = None,
        want_sha: bool = False,
    ) -> None:
        """Send ``parts`` concurrently; raise the worst :class:`Outcome` if any ends the file."""
        if not parts:
            return
        await self.gather_parts(
            [
                self.spawn_part(file_id, p, expect, filetype, renew=renew, want_sha=want_sha)
                for p in parts
            ]
        )

    def spawn_part(
        self,
        file_id: int,
        part: PartRecord,
        expect: Expect,
        filetype: str,
        *,
        renew: Renew | None = None,
        want_sha: bool = False,
    ) -> asyncio.Task[None]:
        """:meth:`send_part` as a task of its own (named for the file and the part)."""
        return asyncio.create_task(
            self.send_part(file_id, part, expect, filetype, renew=renew, want_sha=want_sha),
            name=f"upload-part-{file_id}-{part.number}",
        )

    async def gather_parts(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for part tasks; on the first :class:`Outcome` cancel the rest, raise the worst."""
        try:
            pending: set[asyncio.Task[None]] = set(tasks)
            outcomes: list[Outcome] = []
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    exc = task.exception()
                    if isinstance(exc, Outcome):
                        outcomes.append(exc)
                    elif exc is not None:
                        outcomes.append(Outcome(self.failures.verdict(exc)))
                if outcomes:
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    raise worst(outcomes)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def send_part(
        self,
        file_id: int,
        part: PartRecord,
        expect: Expect,
        filetype: str,
        *,
        renew: Renew | None = None,
        want_sha: bool = False,
        withdrawal: Withdrawal | None = None,
    ) -> None:
        """One part, retried per the policy, acknowledged durably before it is reported.

        With a ``withdrawal``, the part may be withdrawn (:class:`Withdrawn`) until its last
        chunk goes: the caller then puts the part back as it was before (it is not retried).
        """
        attempt = 0
        renewals = 0
        while True:
            if self.expiring(part):
                if renew is None:
                    raise Outcome(Verdict(Action.NEW_URL, "upload URL expired"))
                part = await renew(part)
            outcome = await self._put_once(file_id, part, expect, filetype, want_sha, withdrawal)
            if not isinstance(outcome, BaseException):
                record, result = outcome
                self._acked(record, part, result)
                return
            verdict = self.failures.verdict(outcome)
            if verdict.action is Action.NEW_URL and renew is not None:
                renewals += 1
                if renewals > 3:
                    raise Outcome(Verdict(Action.FAIL, "upload URL kept expiring; gave up"))
                part = await renew(part)
                continue
            attempt += 1
            await self.failures.retry_or_raise(file_id, f"part {part.number}", verdict, attempt)

    async def _put_once(
        self,
        file_id: int,
        part: PartRecord,
        expect: Expect,
        filetype: str,
        want_sha: bool,
        withdrawal: Withdrawal | None = None,
    ) -> tuple[FileRecord, PutResult] | BaseException:
        """One PUT in a slot: ``sending`` stored first, then ``acked`` or ``pending`` again."""
        assert part.url is not None
        ledger = self.ledger
        sent = 0

        def progress(nbytes: int) -> None:
            nonlocal sent
            sent += nbytes
            ledger.sent(file_id, nbytes)

        path = ledger.record(file_id).path
        async with self.sender.slot():
            await self.queue.part_sending(file_id, part.number)
            try:
                result = await self.sender.put(
                    part.url,
                    path=path,
                    offset=part.offset,
                    size=part.size,
                    filetype=filetype,
                    expect=expect,
                    progress=progress,
                    want_sha=want_sha,
                    withdrawal=withdrawal,
                    priority=ledger.record(file_id).effective_priority,
                )
            except (asyncio.CancelledError, Withdrawn):
                ledger.taken_back(file_id, sent)
                raise
            except Exception as exc:
                ledger.taken_back(file_id, sent)
                await self.queue.part_unsent(file_id, part.number)
                return exc
            record = await self.queue.part_acked(
                file_id, part.number, self.clock.now(), result.sha256
            )
            ledger.taken_back(file_id, sent)
            return record, result

    def _acked(self, record: FileRecord, part: PartRecord, result: PutResult) -> None:
        ledger = self.ledger
        ledger.clear_retrying(record.id)
        if self.connectivity is not None:
            self.connectivity.record_upload(result.nbytes, result.seconds)
        ledger.emit(
            {
                "type": "part_acked",
                "file_id": record.id,
                "name": record.name,
                "part": part.number,
                "part_size": part.size,
                "bytes_acked": record.bytes_acked,
                "size": record.size,
                "seconds": round(result.seconds, 4),
            }
        )
        ledger.changed.set()
