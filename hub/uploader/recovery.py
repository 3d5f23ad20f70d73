"""After a restart: do the parts Frame.io acknowledged still match the file on disk?

A power cut can leave a recording shorter than what had been acknowledged (the tail was still
in the page cache), and the recorder's recovery rewrites its header to describe what survived.
A real-time upload that a worker takes up again (after a restart, or a retry) is therefore held
against the file *as it now is* (:func:`reconcile`):

- the file's identity (size, mtime, inode) is read again from disk: it is the file to upload;
- every acknowledged part must still fit a plan of the file at its current size that keeps the
  acknowledged parts as they were sent (:func:`~c2c_hub.uploader.verify.realtime_plan`: an
  append-only file's last part may have been sent again, grown), and its bytes must still hash
  to what was sent; a part that was being sent again when the power went is pending, and goes
  again as the plan now wants it (whichever upload Frame.io kept, the latest wins);
- if one does not, those acknowledged bytes are abandoned with their asset: the asset is
  created again and the whole file is sent as it now is, so that Frame.io ends up
  byte-identical to the file on disk. This is logged as a warning with its cost (bytes
  acknowledged and abandoned, bytes sent a second time), kept in the file's
  ``info.recovered_mismatch`` (shown in ``file()``/``files()`` and the snapshot's ``current``)
  and told as a ``recovered`` event.

The file never ends ``corrupt`` for this, and is never stranded. (While a recording is live,
bytes that change after they were sent still make it ``corrupt``: nothing but a power cut
explains them.)
"""

from __future__ import annotations

import asyncio
import logging

from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.queue import PartState
from c2c_hub.uploader.transfer import FileIdentity, stat_file
from c2c_hub.uploader.verify import changed_parts, misfits

log = logging.getLogger(__name__)


async def reconcile(ledger: Ledger, file_id: int, part_size: int) -> None:
    """Take the file as it is on disk now; start over on a new asset if acked parts differ."""
    queue = ledger.queue
    record = ledger.record(file_id)
    try:
        st = await stat_file(record.path)
    except OSError:
        return  # the identity check that follows says so (corrupt: cannot be read)
    now = FileIdentity.of(st)
    if record.size is not None and record.mtime_ns is not None and record.inode is not None:
        queued = FileIdentity(record.size, record.mtime_ns, record.inode)
        changes = queued.differences(now)
    else:
        changes = ["its size was not known"]
    if changes:
        log.info("%s: taken as it is on disk now (%s)", record.name, "; ".join(changes))
        record = await queue.update(file_id, size=now.size, mtime_ns=now.mtime_ns, inode=now.inode)
    if record.asset_id is None:
        return
    acked = [p for p in await queue.parts(file_id) if p.state is PartState.ACKED]
    if not acked:
        return
    problems = []
    moved = misfits(acked, now.size, part_size)
    if moved:
        problems.append(
            f"the file is now {now.size} bytes: acknowledged parts "
            f"{', '.join(str(n) for n in moved)} no longer fit it"
        )
    hashed = [p for p in acked if p.number not in moved and p.sha256]
    differ = await asyncio.to_thread(changed_parts, record.path, hashed)
    if differ:
        problems.append(
            f"the bytes of acknowledged parts {', '.join(str(n) for n in differ)} changed"
        )
    if not problems:
        return
    abandoned = record.bytes_acked
    resent = min(abandoned, now.size)
    reason = "; ".join(problems)
    log.warning(
        "%s: after a restart %s; creating the asset again (abandoning %s) and sending the file "
        "as it now is: %d acknowledged bytes abandoned, %d bytes sent a second time",
        record.name,
        reason,
        record.asset_id,
        abandoned,
        resent,
    )
    info = dict(record.info)
    info["recovered_mismatch"] = {
        "reason": reason,
        "abandoned_asset": record.asset_id,
        "bytes_abandoned": abandoned,
        "bytes_resent": resent,
        "at": ledger.now(),
    }
    info["recreated_for_mismatch"] = int(info.get("recreated_for_mismatch", 0)) + 1
    await queue.update(file_id, info=info)
    record = await queue.forget_asset(file_id, ledger.now())
    ledger.set_changed(record)
    ledger.emit(
        {
            "type": "recovered",
            "file_id": file_id,
            "name": record.name,
            "reason": reason,
            "abandoned_asset": info["recovered_mismatch"]["abandoned_asset"],
            "bytes_abandoned": abandoned,
            "bytes_resent": resent,
        }
    )
