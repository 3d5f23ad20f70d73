"""The plugin's options: the ``[plugins.options.aes67]`` table of the settings (on the kit's
:class:`~c2c_hub.kit.PluginOptions`: unknown keys refused, every bad key named)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from pydantic import StrictBool, StrictInt

from c2c_hub import kit
from c2c_hub_plugins.aes67.ravenna import RAVENNA_SERVICE, RTSP_TYPE
from c2c_hub_plugins.aes67.sap import DEFAULT_TIMEOUT_S, SAP_GROUPS

OptionsError = kit.OptionsError


class Options(kit.PluginOptions):
    """``interface``: the IPv4 address of the interface on the audio network; multicast is
    joined there (IPv6 groups too, on the interface that holds this address) and SAP and mDNS
    are listened for there. The default is loopback only (never every interface).

    ``sap``: discover streams by SAP announcements (RFC 2974) on ``sap_groups``.

    ``sap_groups``: the SAP groups to join (default 239.255.255.255, the local scope's, where
    AES67 and Dante announce, and 224.2.127.254, the global scope's).

    ``sap_timeout_s``: an announcement not repeated within this long (or ten of its intervals,
    if longer) expires and its stream is dropped.

    ``ravenna``: discover RAVENNA sessions by mDNS/DNS-SD (``ravenna_service``, by default
    ``_ravenna_session._sub._rtsp._tcp.local.``) and read each one's SDP with RTSP ``DESCRIBE``.

    ``sdp_folder``: a folder of ``*.sdp`` files (as Dante Controller or a console exports them),
    watched: a file added or changed starts its stream, a file removed stops it.

    ``latency_ms``: how long a packet may be late (or out of order) and still be put in its
    place; after that its place is silence.

    ``stream_timeout_s``: no packet for this long and the stream counts as silent (the log and
    the source's health say so); its channels stay while it is announced.

    ``flood_burst_s``: a stream may deliver its declared rate plus a burst of this many seconds
    of audio (what a briefly stalled reader finds queued); beyond that its packets are dropped,
    counted as ``flood`` and shown on its channels' status: a sender faster than it declares
    fills no more than real time.

    ``tai_offset_s``: TAI minus UTC, in seconds (37 since 2017): PTP counts TAI, the hub's
    timecode counts UTC.

    ``batch_receive``: read each stream's socket every few milliseconds, every datagram queued
    in one system call (Linux's ``recvmmsg``), and place them a batch at a time; ``false``
    reads one datagram a system call, woken by each (what happens anyway where ``recvmmsg``
    is missing). The outcome is the same; the batches cost far less CPU.

    Durations are seconds, or strings with a unit (``"1.5s"``, ``"200ms"``).
    """

    interface: str = "127.0.0.1"
    sap: StrictBool = True
    sap_groups: tuple[str, ...] = SAP_GROUPS
    sap_timeout_s: kit.Duration = DEFAULT_TIMEOUT_S
    ravenna: StrictBool = True
    ravenna_service: str = RAVENNA_SERVICE
    sdp_folder: Path | None = None
    latency_ms: float = kit.Field(default=20.0, ge=0, le=1000)
    stream_timeout_s: kit.Duration = 2.0
    tai_offset_s: StrictInt = kit.Field(default=37, ge=0, le=100)
    flood_burst_s: float = kit.Field(default=1.0, gt=0, le=10)
    batch_receive: StrictBool = True

    @kit.field_validator("interface", mode="before")
    @classmethod
    def _interface(cls, value: Any) -> str:
        return _ipv4(value)

    @kit.field_validator("sap_groups", mode="before")
    @classmethod
    def _groups(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise ValueError(f"expected a non-empty list of multicast groups, got {value!r}")
        groups = []
        for item in value:
            group = _ipv4(item)
            if not ipaddress.IPv4Address(group).is_multicast:
                raise ValueError(f"{group} is not a multicast group")
            groups.append(group)
        return tuple(groups)

    @kit.field_validator("ravenna_service", mode="before")
    @classmethod
    def _service(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.endswith("._sub." + RTSP_TYPE):
            raise ValueError(f"expected <subtype>._sub.{RTSP_TYPE}, got {value!r}")
        return value

    @kit.field_validator("sdp_folder", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Path | None:
        if value is None:
            return None
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ValueError(f"expected a folder path, got {value!r}")
        return Path(value).expanduser()


def _ipv4(value: Any) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"not an IPv4 address: {value!r}") from None
