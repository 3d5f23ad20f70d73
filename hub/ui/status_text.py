"""Sentences from the status model that the CLI and the terminal view both show (the web page
says the same in ``web/format.js``): one wording for a state, wherever it is read.

Pure functions of status values; no heavy imports, so a command's ``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def upload_speed(mbps: float | None, age_s: float | None) -> str:
    """The measured upload speed and how old the measurement is: ``12.3 Mbit/s, 40 s ago``."""
    if mbps is None:
        return "not measured yet"
    return f"{float(mbps):.1f} Mbit/s" + ("" if age_s is None else f", {float(age_s):.0f} s ago")


def congestion(cc: Mapping[str, Any] | None) -> str | None:
    """The TCP congestion control the uploads use, and why (``status["uploads"]``)."""
    if not cc:
        return None
    algorithm = str(cc.get("algorithm") or cc.get("system_default") or "system default")
    reason = str(cc.get("reason") or "")
    if not reason:
        return algorithm
    return reason if reason.startswith(algorithm) else f"{algorithm}: {reason}"


def part_streams(ps: Mapping[str, Any] | None) -> str | None:
    """The part streams: in flight of the limit, adaptive or pinned, and the last change."""
    if not ps:
        return None
    text = f"{ps.get('in_flight', 0)} in flight of {ps.get('limit')} ({ps.get('mode')}"
    if ps.get("mode") == "adaptive":
        text += f" {ps.get('min')}-{ps.get('max')}"
    text += ")"
    return text + (f", {ps['last_change']}" if ps.get("last_change") else "")


def device_clock(details: Mapping[str, Any] | None) -> str | None:
    """An AES67 channel's PTP clock: ``PTP gm 00-1D-C1-FF-FE-12-34-56 domain 0``."""
    details = details or {}
    gm, domain = details.get("ptp_grandmaster"), details.get("ptp_domain")
    if not gm and domain in (None, ""):
        return None
    return "PTP" + (f" gm {gm}" if gm else "") + (f" domain {domain}" if domain != "" else "")


def device_warning(details: Mapping[str, Any] | None) -> str | None:
    """What the source warns of on this channel (flood, silence, a format change)."""
    warning = (details or {}).get("warning")
    return str(warning) if warning else None


def ptp_disagreement(devices: Iterable[Mapping[str, Any]]) -> str | None:
    """The warning when attached channels follow different PTP grandmasters."""
    clocks = sorted(
        {str(gm) for d in devices if (gm := (d.get("details") or {}).get("ptp_grandmaster"))}
    )
    if len(clocks) < 2:
        return None
    return f"streams disagree on the PTP grandmaster: {', '.join(clocks)}"
