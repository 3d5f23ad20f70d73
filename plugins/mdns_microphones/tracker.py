"""One tracker per mDNS service: resolve, connect, check the hello, stream, reconnect, vanish.

A microphone is attached when its first valid frame arrives (after a hello that agrees with
its TXT record), and every frame is then forwarded as an :class:`~c2c_hub.subdevices.AudioBlock`.

States (:class:`MicState`)::

    resolving ─► connecting ─► streaming ─► lost ─► connecting ... (capped backoff)
        │             │                       └──► (no frame again within vanish_timeout_s)
        │             └──► refused (bad hello)        detach "vanished (no stream for N s)"
        └──► ignored (bad TXT record)

A tracker leaves ``ignored`` and ``refused`` when its record changes (an mDNS Added/Updated
sets :attr:`MicTracker.changed`, which also cuts a backoff short), or after
:data:`IGNORED_RECHECK_S` (the cache is read again) / :data:`REFUSED_RETRY_S` (it connects
again). A reason is logged once, until it changes or the microphone streams. The mDNS
goodbye is handled by the source, which retires the tracker from its
:class:`~c2c_hub.kit.TrackerPool` (:meth:`MicTracker.retired`). Nothing a microphone sends makes
a tracker raise; a serial is claimed in the pool, so two services announcing one microphone
attach it once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from tenacity import wait_exponential_jitter
from zeroconf import Zeroconf, current_time_millis
from zeroconf.asyncio import AsyncServiceInfo

from c2c_hub import kit
from c2c_hub_plugins.mdns_microphones.options import Options
from c2c_hub_plugins.mdns_microphones.protocol import (
    HelloError,
    StreamDecoder,
    check_hello,
    decode_hello,
)
from c2c_hub_plugins.mdns_microphones.records import MicRecord, RecordError, read_record

RESOLVE_TIMEOUT_MS = 3000
IGNORED_RECHECK_S = 2.0  # a cache read: a record reverted within 1 s fires no Updated event
REFUSED_RETRY_S = 30.0  # a new connection, to a microphone whose hello was refused
READ_SIZE = 65536
_TYPE_TXT, _CLASS_IN = 16, 1  # DNS record type TXT, class IN


class MicState(StrEnum):
    RESOLVING = "resolving"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    LOST = "lost"
    IGNORED = "ignored"
    REFUSED = "refused"
    RETIRED = "retired"


class Refused(kit.HubError):
    """The microphone answered but cannot be used (its hello); the message says why."""


class MicTracker:
    def __init__(
        self,
        *,
        ctx: kit.SourceContext,
        zeroconf: Zeroconf,
        service_type: str,
        service: str,
        models: Iterable[kit.DeviceModel],
        options: Options,
        pool: kit.TrackerPool[str, MicTracker],
        on_state: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.service_type = service_type
        self.service = service
        self.state = MicState.RESOLVING
        self.reason = ""
        self.changed = asyncio.Event()
        self.device: kit.SubDevice | None = None
        self.counters: dict[str, int] = {"connects": 0, "streams_lost": 0}
        self.last_frame_at: float | None = None
        self._zc = zeroconf
        self._models = list(models)
        self._options = options
        self._pool = pool
        self._on_state = on_state
        self._logged_reason = ""
        self._vanish: asyncio.TimerHandle | None = None
        self._decoder: StreamDecoder | None = None
        self._wait = wait_exponential_jitter(
            multiplier=0.05, max=options.reconnect_max_s, jitter=0.05
        )

    # ------------------------------------------------------------------ control (sync)
    def retired(self, reason: str) -> None:
        """The pool let it go (the record is gone; or a bug): detach now (its task is ended)."""
        self._set_state(MicState.RETIRED)
        self._detach(reason)

    def stream_counters(self) -> dict[str, int]:
        """Counters over every connection so far, the current one included."""
        counters = dict(self.counters)
        if self._decoder is not None:
            for key, value in self._decoder.counters().items():
                counters[key] = counters.get(key, 0) + value
        return counters

    def snapshot(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "state": self.state.value,
            "reason": self.reason,
            "serial": self.device.serial if self.device else None,
            "address": self.device.address if self.device else None,
            **self.stream_counters(),
        }

    # ------------------------------------------------------------------ the loop
    async def run(self) -> None:
        attempt = 0
        try:
            while True:
                self.changed.clear()
                self._set_state_unless_given_up(MicState.RESOLVING)
                try:
                    record = await self._resolve()
                except RecordError as exc:
                    self._give_up(MicState.IGNORED, str(exc), f"mDNS record unusable: {exc}")
                    await self._pause_for(IGNORED_RECHECK_S)
                    continue
                if record is None:  # nobody answers for it (the cache has expired it)
                    self._lost()
                    attempt += 1
                    await self._pause(attempt)
                    continue
                try:
                    streamed = await self._stream(record)
                except Refused as exc:
                    self._give_up(MicState.REFUSED, str(exc), f"refused: {exc}")
                    await self._pause_for(REFUSED_RETRY_S)
                    continue
                except RecordError as exc:  # the record turned bad while streaming
                    self._give_up(MicState.IGNORED, str(exc), f"mDNS record unusable: {exc}")
                    await self._pause_for(IGNORED_RECHECK_S)
                    continue
                except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as exc:
                    self.ctx.log.debug("%s: cannot connect: %r", self.service, exc)
                    streamed = False
                if streamed:
                    attempt = 0
                self._lost()
                attempt += 1
                await self._pause(attempt)
        finally:
            self._cancel_vanish()

    async def _resolve(self) -> MicRecord | None:
        """The record from the cache, else asked on the network; None if nobody answers."""
        info = AsyncServiceInfo(self.service_type, self.service)
        if not info.load_from_cache(self._zc):
            if not await info.async_request(self._zc, RESOLVE_TIMEOUT_MS):
                return None
        return read_record(info, self._models, self._newest_txt())

    def _newest_txt(self) -> bytes | None:
        """The current TXT record. After a change the cache holds the older ones for a second
        more (RFC 6762 10.2: their TTL is cut to 1 s), and zeroconf's ServiceInfo takes the one
        cached first, so a record changed back within that second would read as the old one
        for its whole TTL. The current one: not being flushed, and received last."""
        now = current_time_millis()
        texts = [
            r
            for r in self._zc.cache.async_all_by_details(self.service, _TYPE_TXT, _CLASS_IN)
            if not r.is_expired(now)
        ]
        newest = max(texts, key=lambda r: (r.ttl > 1, r.created), default=None)
        text = getattr(newest, "text", None)
        return text if isinstance(text, bytes) else None

    async def _stream(self, record: MicRecord) -> bool:
        """Connect, check the hello, attach, forward frames; True if any frame arrived.

        Returns when the stream ends (EOF, reset, silence, or a changed record).
        """
        loop = asyncio.get_running_loop()
        timeout = self._options.stream_timeout_s
        self._set_state_unless_given_up(MicState.CONNECTING)
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(record.host, record.port)
        self.counters["connects"] += 1
        streamed = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    line = await reader.readuntil(b"\n")
                hello = decode_hello(line)
                check_hello(hello, record.txt)
            except (HelloError, asyncio.LimitOverrunError) as exc:
                raise Refused(str(exc) or "hello too long") from None
            serial = record.device.serial
            self._check_claim(serial)
            self._decoder = decoder = StreamDecoder(
                record.txt.audio, log=self.ctx.log, label=f"mic {serial} ({self.service})"
            )
            deadline = loop.time() + timeout
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    self.ctx.log.info("%s: no frame for %.1f s; reconnecting", serial, timeout)
                    return streamed
                except OSError as exc:
                    self.ctx.log.info("%s: stream broken (%s); reconnecting", serial, exc)
                    return streamed
                if not data:
                    self.ctx.log.info("%s: stream closed by the microphone", serial)
                    return streamed
                frames = decoder.feed(data)
                if frames:
                    now = loop.time()
                    deadline = now + timeout
                    self.last_frame_at = now
                    if not streamed:  # present once audio flows: attach, then forward
                        streamed = True
                        self._attach(record.device)
                        self._cancel_vanish()
                        self._set_state(MicState.STREAMING, "")
                        self._logged_reason = ""
                for frame in frames:
                    self.ctx.audio(serial, kit.AudioBlock(frame.position, frame.samples))
                if self.changed.is_set():
                    self.changed.clear()
                    if not await self._still_same(record):
                        return streamed
        finally:
            self.counters = self.stream_counters()
            self._decoder = None
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _still_same(self, record: MicRecord) -> bool:
        """After an mDNS update: keep streaming if only the name or details changed."""
        fresh = await self._resolve()
        if fresh is None:
            return True  # not resolvable just now; the stream itself says whether it lives
        same_stream = (
            fresh.device.serial == record.device.serial
            and fresh.model.id == record.model.id
            and fresh.txt.audio == record.txt.audio
            and (fresh.host, fresh.port) == (record.host, record.port)
        )
        if same_stream:
            self._attach(fresh.device)  # a rename: an update of the attached device
            return True
        self.ctx.log.info("%s: its record changed; reconnecting", self.service)
        if fresh.device.serial != record.device.serial or fresh.model.id != record.model.id:
            self._detach(f"its mDNS record now names {fresh.device.serial}")
        return False

    # ------------------------------------------------------------------ attach, detach, vanish
    def _check_claim(self, serial: str) -> None:
        owner = self._pool.holder(serial)
        if owner is not None and owner is not self:
            raise Refused(f"serial {serial} is already attached through {owner.service}")

    def _attach(self, device: kit.SubDevice) -> None:
        self._check_claim(device.serial)
        if self.device is not None and self.device.serial != device.serial:
            self._detach(f"its mDNS record now names {device.serial}")
        self._pool.claim(device.serial, self.service)
        if self.device != device:
            self.device = device
            self.ctx.attach(device)
            self._on_state()

    def _detach(self, reason: str) -> None:
        self._cancel_vanish()
        if self.device is None:
            return
        serial = self.device.serial
        self.device = None
        self._pool.release(serial, self.service)
        self.ctx.detach(serial, reason)
        self._on_state()

    def _lost(self) -> None:
        """The stream ended or never came: detach unless one is back within vanish_timeout_s."""
        if self.state == MicState.STREAMING:
            self.counters["streams_lost"] += 1
        self._set_state(MicState.LOST)
        if self.device is not None and self._vanish is None:
            loop = asyncio.get_running_loop()
            self._vanish = loop.call_later(self._options.vanish_timeout_s, self._vanished)

    def _vanished(self) -> None:
        self._vanish = None
        loop = asyncio.get_running_loop()
        silent = loop.time() - (self.last_frame_at or loop.time())  # attach needs a frame
        self.ctx.log.warning("%s: vanished (no stream for %.1f s)", self.service, silent)
        self._detach(f"vanished (no stream for {silent:.1f} s)")

    def _cancel_vanish(self) -> None:
        if self._vanish is not None:
            self._vanish.cancel()
            self._vanish = None

    # ------------------------------------------------------------------ helpers
    def _give_up(self, state: MicState, reason: str, detach_reason: str) -> None:
        if reason != self._logged_reason:
            self._logged_reason = reason
            self.ctx.log.warning("ignoring %s: %s", self.service, reason)
        self._detach(detach_reason)
        self._set_state(state, reason)

    def _set_state_unless_given_up(self, state: MicState) -> None:
        """Retrying an ignored or refused service leaves it counted as such until it works."""
        if self.state not in (MicState.IGNORED, MicState.REFUSED):
            self._set_state(state)

    def _set_state(self, state: MicState, reason: str | None = None) -> None:
        changed = state != self.state or (reason is not None and reason != self.reason)
        self.state = state
        if reason is not None:
            self.reason = reason
        if changed:
            self._on_state()

    async def _pause(self, attempt: int) -> None:
        await self._pause_for(kit.backoff_delay(self._wait, attempt))

    async def _pause_for(self, seconds: float) -> None:
        """Sleep, unless the record changes first (that cuts a backoff short)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.changed.wait()
