"""Basic uploads: a finished file, sent to an asset created for its whole size.

The asset is created (paced, ``offset`` = now - the capture time persisted at enqueue, on the
file's channel) with ``filesize`` and the number of parts the hub plans (:func:`part_count`);
Frame.io answers with one upload URL per part and the parts are cut from the file accordingly
(every part but the last the same size, ``ceil(filesize / parts)``: the API has no uneven
parts). Then for each
part: ``sending`` (stored) → PUT → ``acked`` (stored) → event, at most ``max_in_flight`` PUTs
at a time across every file. After a restart the upload goes on from the acknowledged parts,
re-creating the asset only if the stored URLs have expired: a basic upload's URLs cannot be
renewed one by one, so a new asset takes them all (``info.recreated_for_expiry``).
"""

from __future__ import annotations

import logging

from c2c_hub.frameio import plan_parts
from c2c_hub.session import Session
from c2c_hub.uploader.config import MIN_PART
from c2c_hub.uploader.errors import NothingToSend
from c2c_hub.uploader.failures import Outcome
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.policy import Action, Verdict
from c2c_hub.uploader.queue import FileRecord, NewPart, PartRecord, PartState
from c2c_hub.uploader.routing import ChannelRouter
from c2c_hub.uploader.steps import SendSteps
from c2c_hub.uploader.transfer import url_expiry

log = logging.getLogger(__name__)


#: Frame.io's part size when it is not asked for a count (docs/rulings.md#basic-upload-urls),
#: and the most parts an upload may have (S3's multipart limit).
FRAMEIO_PART, MAX_PARTS = 16 * 1024 * 1024, 10_000
#: Parts per stream the plan asks for at least: a file's last parts, which finish at different
#: times on different streams (the drain), are then an eighth of a stream's share or less.
PARTS_PER_STREAM = 8


def part_count(size: int, streams: int) -> int | None:
    """How many parts to ask Frame.io for, for a ``size``-byte file sent over ``streams`` part
    streams; None: Frame.io's own count (``ceil(size / 16 MiB)``) already does.

    Frame.io cuts a file into equal parts, so only their count can be chosen. Its 16 MiB parts
    leave a file of a few hundred MiB with 4 parts per stream; the streams never finish their
    last parts together (one flow takes a larger share of the bottleneck for a while, one part
    started later), and for the last seconds fewer flows than the link needs carry it while
    they grow into it. Measured on the packet link (``python -m bench.drain``): more, smaller
    parts shorten that tail, and a count that is a multiple of the streams gives each stream
    the same number. So: at least :data:`PARTS_PER_STREAM` parts per stream, never a part
    under 5 MiB (S3's least for every part but the last), a multiple of ``streams`` where
    there are that many. Larger files keep about Frame.io's 16 MiB (their drain is a small
    share of their time, and each part costs a round trip), rounded up to a multiple of the
    streams so that no last round runs on half of them.
    """
    if size <= 0 or streams < 1:
        return None
    frameio = -(-size // FRAMEIO_PART)
    # one stream has no drain: more parts would only add round trips
    count = max(frameio, PARTS_PER_STREAM * streams if streams > 1 else 1)
    count += -count % streams  # up to a multiple of the streams: parts a little smaller
    most = min(MAX_PARTS, max(1, size // MIN_PART))  # ceil(size / n) >= 5 MiB for these
    if count > most:
        count = most - most % streams if most >= streams else most
    return None if count == frameio else count


def _recreate_cost(asset_id: str | None, parts: list[PartRecord]) -> str:
    """What re-creating a basic asset for expired URLs costs, said in a warning."""
    acked = [p for p in parts if p.state is PartState.ACKED]
    return (
        f"upload URLs expired: creating the asset again (asset {asset_id} abandoned; "
        f"{len(acked)} of {len(parts)} parts, {sum(p.size for p in acked)} bytes, "
        "already sent go up again)"
    )


class BasicUploads:
    """Sends one finished file (see the module docstring); raises :class:`Outcome` to end it."""

    def __init__(
        self,
        ledger: Ledger,
        session: Session,
        steps: SendSteps,
        router: ChannelRouter,
        *,
        part_size: int | None,
        max_recreates: int,
    ) -> None:
        self.ledger = ledger
        self.queue = ledger.queue
        self.session = session
        self.steps = steps
        self.router = router
        self.part_size = part_size
        self.max_recreates = max_recreates

    async def run(self, file_id: int) -> None:
        steps = self.steps
        recreates = 0
        while True:
            record = self.ledger.record(file_id)
            identity = await steps.check_identity(record)
            if identity.size == 0:
                raise Outcome(
                    steps.failures.verdict(NothingToSend(f"{record.path} is empty (0 bytes)"))
                )
            parts = await self.queue.parts(file_id) if record.asset_id else []
            expiring = [p for p in parts if p.state is not PartState.ACKED and steps.expiring(p)]
            if record.asset_id is None or not parts or expiring:
                if record.asset_id is not None:
                    log.warning("%s: %s", record.name, _recreate_cost(record.asset_id, parts))
                parts = await self._create(record, identity.size)
            todo = [p for p in parts if p.state is not PartState.ACKED]
            try:
                await steps.send_parts(file_id, todo, identity, record.filetype)
                return
            except Outcome as outcome:
                if outcome.verdict.action is not Action.NEW_URL:
                    raise
                recreates += 1
                if recreates > self.max_recreates:
                    raise Outcome(
                        Verdict(Action.FAIL, "upload URLs kept expiring; gave up")
                    ) from None
                record = self.ledger.record(file_id)
                cost = _recreate_cost(record.asset_id, await self.queue.parts(file_id))
                log.warning(
                    "%s: %s (re-creation %d of at most %d)",
                    record.name,
                    cost,
                    recreates,
                    self.max_recreates,
                )
                await self.queue.bump_info(file_id, "recreated_for_expiry")
                await self.queue.forget_asset(file_id, self.ledger.now())

    async def _create(self, record: FileRecord, size: int) -> list[PartRecord]:
        if self.part_size is not None:
            # floor: every part but the last at least part_size (S3's minimum is 5 MiB)
            wanted: int | None = max(1, size // self.part_size)
        else:
            wanted = part_count(size, self.steps.sender.max_in_flight)
        channel = await self.router.channel_for(record.id)
        offset = self.steps.offset_of(record)
        client = self.session.client
        asset = await self.steps.create_asset(
            record.id,
            lambda token: client.create_asset(
                token,
                record.name,
                record.filetype,
                size,
                offset,
                channel,
                parts=wanted,
            ),
        )
        if not asset.upload_urls:
            raise Outcome(Verdict(Action.FAIL, "Frame.io created the asset without upload URLs"))
        plan = plan_parts(size, len(asset.upload_urls))
        new = [
            NewPart(number, part.offset, part.size, url, url_expiry(url))
            for number, (part, url) in enumerate(zip(plan, asset.upload_urls, strict=True), 1)
        ]
        recreated = record.asset_id is not None or bool(record.info.get("abandoned_assets"))
        await self.queue.asset_created(record.id, asset.id, new, self.ledger.now())
        self.ledger.emit(
            {
                "type": "asset",
                "file_id": record.id,
                "asset_id": asset.id,
                "parts": len(new),
                "offset": offset,
                "recreated": recreated,
            }
        )
        return await self.queue.parts(record.id)
