"""Which channel a file's asset is created on, and which files may be claimed for their channel.

A file routed to a sub-device (``device``: its serial) goes on that sub-device's channel as it
is *now*: channel indexes are never trusted across power cycles (Frame.io's rule for C2C
devices), so none is stored for later; it is looked up when the asset is created. While the
sub-device is attached but its channel is not connected, its files wait, queued; once it has
been gone (not attached at all) for ``channel_wait_s`` they go on the primary channel instead,
with the reason kept in the file's ``info.channel_fallback``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from c2c_hub.tasks import wait_event
from c2c_hub.uploader.ledger import Ledger
from c2c_hub.uploader.queue import FileState

log = logging.getLogger(__name__)


class ChannelResolver(Protocol):
    """Where a sub-device's files go now (the channel manager): looked up at asset create."""

    def index_of(self, serial: str) -> int | None: ...

    def available(self) -> set[str]: ...

    def absent_for(self, serial: str) -> float:
        """Seconds the sub-device has not been attached (0 while it is)."""
        ...


class ChannelRouter:
    """Channels for files, from the channel manager (or each file's own ``channel``)."""

    def __init__(self, ledger: Ledger, channels: ChannelResolver | None, *, wait_s: float) -> None:
        self.ledger = ledger
        self.channels = channels
        self.wait_s = wait_s
        self._event = asyncio.Event()
        #: When a file held for its channel may go (seconds from the last claim), if any.
        self.recheck_s: float | None = None

    def claimable_devices(self) -> set[str] | None:
        """Sub-devices whose files may start: channel connected, or gone too long to wait."""
        if self.channels is None:
            return None
        ready = self.channels.available()
        self.recheck_s = None
        for record in self.ledger.queue.files.values():
            serial = record.device
            if serial is None or serial in ready or record.state is not FileState.QUEUED:
                continue
            absent = self.channels.absent_for(serial)  # 0 while it is attached
            left = self.wait_s - absent
            if left <= 0:
                ready.add(serial)
            elif absent > 0:
                # Look again when it will have been gone too long to wait for.
                self.recheck_s = min(left, self.recheck_s or left)
        return ready

    def changed(self) -> None:
        """A channel was connected or disconnected: files waiting for one look again."""
        event, self._event = self._event, asyncio.Event()
        event.set()
        self.ledger.wake.set()

    async def channel_for(self, file_id: int) -> int:
        """The channel (``external_index``) to create this file's asset on, waiting for it."""
        ledger = self.ledger
        record = ledger.record(file_id)
        if record.device is None or self.channels is None:
            return record.channel
        while True:
            record = ledger.record(file_id)
            assert record.device is not None
            index = self.channels.index_of(record.device)
            if index is not None:
                if index != record.channel:
                    ledger.set_changed(await ledger.queue.update(file_id, channel=index))
                ledger.clear_retrying(file_id)
                return index
            if self.channels.absent_for(record.device) >= self.wait_s:
                return await self._primary_instead(file_id, record.device)
            waiting = f"waiting for the channel of sub-device {record.device}"
            if ledger.retrying(file_id) != waiting:
                ledger.note_retrying(file_id, waiting)
                ledger.emit({"type": "waiting", "file_id": file_id, "reason": waiting})
                ledger.changed.set()
            event = self._event
            await wait_event(event, min(5.0, self.wait_s))

    async def _primary_instead(self, file_id: int, serial: str) -> int:
        ledger = self.ledger
        reason = (
            f"sub-device {serial} has been gone for {self.wait_s:.0f} s: "
            "uploading on the primary channel instead"
        )
        log.warning("%s: %s", ledger.record(file_id).name, reason)
        info = dict(ledger.record(file_id).info)
        info["channel_fallback"] = reason
        ledger.set_changed(await ledger.queue.update(file_id, channel=0, info=info))
        ledger.clear_retrying(file_id)
        ledger.emit({"type": "channel_fallback", "file_id": file_id, "reason": reason})
        return 0
