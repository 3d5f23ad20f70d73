"""The plugin's options: the ``[plugins.options.aes67]`` table of the settings."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from c2c_hub_plugins.aes67.ravenna import RAVENNA_SERVICE, RTSP_TYPE
from c2c_hub_plugins.aes67.sap import DEFAULT_TIMEOUT_S, SAP_GROUPS


class OptionsError(ValueError):
    """An option the plugin cannot use; the message names it."""


@dataclass(frozen=True)
class Options:
    """``interface``: the IPv4 address of the interface on the audio network; multicast is
    joined there and SAP is listened for there. The default is loopback only (never every
    interface).

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

    ``tai_offset_s``: TAI minus UTC, in seconds (37 since 2017): PTP counts TAI, the hub's
    timecode counts UTC.
    """

    interface: str = "127.0.0.1"
    sap: bool = True
    sap_groups: tuple[str, ...] = SAP_GROUPS
    sap_timeout_s: float = DEFAULT_TIMEOUT_S
    ravenna: bool = True
    ravenna_service: str = RAVENNA_SERVICE
    sdp_folder: Path | None = None
    latency_ms: float = 20.0
    stream_timeout_s: float = 2.0
    tai_offset_s: int = 37

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> Options:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise OptionsError(f"unknown option(s) {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        if "interface" in raw:
            values["interface"] = _ipv4("interface", raw["interface"])
        for name in ("sap", "ravenna"):
            if name in raw:
                if not isinstance(raw[name], bool):
                    raise OptionsError(f"{name}: expected true or false, got {raw[name]!r}")
                values[name] = raw[name]
        if "ravenna_service" in raw:
            service = raw["ravenna_service"]
            if not isinstance(service, str) or not service.endswith("._sub." + RTSP_TYPE):
                raise OptionsError(
                    f"ravenna_service: expected <subtype>._sub.{RTSP_TYPE}, got {service!r}"
                )
            values["ravenna_service"] = service
        if "sap_groups" in raw:
            groups = raw["sap_groups"]
            if isinstance(groups, str) or not isinstance(groups, list | tuple) or not groups:
                raise OptionsError(f"sap_groups: expected a list of groups, got {groups!r}")
            values["sap_groups"] = tuple(_group(g) for g in groups)
        if "sdp_folder" in raw:
            folder = raw["sdp_folder"]
            if not isinstance(folder, str) or not folder.strip():
                raise OptionsError(f"sdp_folder: expected a folder path, got {folder!r}")
            values["sdp_folder"] = Path(folder).expanduser()
        for name, low, high in (
            ("sap_timeout_s", 1.0, 86400.0),
            ("latency_ms", 0.0, 1000.0),
            ("stream_timeout_s", 0.1, 3600.0),
        ):
            if name in raw:
                values[name] = _number(name, raw[name], low, high)
        if "tai_offset_s" in raw:
            value = raw["tai_offset_s"]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise OptionsError(f"tai_offset_s: expected whole seconds 0..100, got {value!r}")
            values["tai_offset_s"] = value
        return cls(**values)


def _ipv4(name: str, value: Any) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError):
        raise OptionsError(f"{name}: not an IPv4 address: {value!r}") from None


def _group(value: Any) -> str:
    address = _ipv4("sap_groups", value)
    if not ipaddress.IPv4Address(address).is_multicast:
        raise OptionsError(f"sap_groups: {address} is not a multicast group")
    return address


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise OptionsError(f"{name}: expected a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)
