"""The uploader's knobs (:class:`UploadConfig`), with the defaults the hub runs with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from c2c_hub.settings import UploadSettings
from c2c_hub.uploader.policy import RetryPolicy
from c2c_hub.uploader.streams import StreamController

#: ``auto``: every queued file goes; ``manual``: files wait for a start.
Mode = Literal["auto", "manual"]

#: S3's smallest part (every part but the last).
MIN_PART = 5 * 1024 * 1024


@dataclass(frozen=True)
class UploadConfig:
    """Knobs, with the defaults the hub runs with."""

    # Part PUTs in flight across every file: a number pins it; None adapts it between
    # min_streams and max_streams from the throughput (c2c_hub.uploader.streams), from 4.
    max_in_flight: int | None = None
    min_streams: int = 4  # the 4 that were fixed before: adapting only ever adds streams
    max_streams: int = 16
    stream_epoch_s: float = 2.0  # how often the adaptive limit is decided
    files_in_parallel: int = 2  # files sent at once when parallel uploads are on
    part_timeout_s: float | None = None  # per read/write of a PUT; None: the client's timeout
    chunk_size: int = 1 << 20  # bytes read from disk at a time
    # part bodies from a thread per stream on blocking TLS sockets (c2c_hub.uploader.direct)
    # when the client is the hub's own (make_http_client); False: through httpx
    direct_puts: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    create_rate: int = 5  # asset creates per create_per_s (Frame.io's limit: 5 per second)
    create_per_s: float = 1.0
    url_margin_s: float = 300.0  # URLs expiring sooner than this are renewed before a PUT
    # Ask for parts of this size; None: Frame.io decides from the file size.
    basic_part_size: int | None = None
    realtime_part_size: int = MIN_PART  # parts of a growing file (>= 5 MiB)
    # An append-only growing file's unsent bytes past which its last part sent is sent again,
    # grown to the durable end (0: off; c2c_hub.uploader.realtime)
    realtime_tail_limit: int = 2 * 1024 * 1024
    realtime_poll_s: float = 0.2  # how often a growing file's size is read
    pause_poll_s: float = 60.0  # after a confirmed 409 (no presence): ask /me this often
    throughput_window_s: float = 10.0
    max_recreates: int = 3  # basic assets re-created for expired URLs, in a row
    # A file whose sub-device is gone (not attached at all) waits this long for it to come
    # back, then goes on the primary channel rather than never (the reason is kept).
    channel_wait_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if not 1 <= self.min_streams <= self.max_streams:
            raise ValueError("need 1 <= min_streams <= max_streams")
        if self.realtime_part_size < MIN_PART:
            raise ValueError("realtime_part_size must be at least 5 MiB")
        if not 0 <= self.realtime_tail_limit <= self.realtime_part_size:
            raise ValueError("realtime_tail_limit must be between 0 and realtime_part_size")
        if self.basic_part_size is not None and self.basic_part_size < MIN_PART:
            raise ValueError("basic_part_size must be at least 5 MiB")


def stream_controller(config: UploadConfig) -> StreamController:
    """The part-stream limit ``config`` asks for: pinned, or adaptive within its bounds."""
    return StreamController(
        start=4, minimum=config.min_streams, maximum=config.max_streams, pinned=config.max_in_flight
    )


def from_settings(uploads: UploadSettings, **changes: Any) -> UploadConfig:
    """The :class:`UploadConfig` of the hub's ``[uploads]`` settings (``changes`` on top)."""
    base: dict[str, Any] = {
        "max_in_flight": uploads.part_streams or None,
        "min_streams": uploads.min_part_streams,
        "max_streams": uploads.max_part_streams,
        "realtime_tail_limit": uploads.realtime_tail_limit,
    }
    return UploadConfig(**(base | changes))
