"""The network line: the connection in use (kind, SSID or operator, signal, link rate), one
health verdict, Frame.io's round trip, and the upload speed with its age.

Falls back to the kernel's view (interface, kind, up) when the status has no ``networks`` key.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean
from c2c_hub.ui.live.layout import label, one_line

HEALTH_STYLE = {"good": "green", "degraded": "yellow", "offline": "bold red", "unknown": "dim"}


def in_use_text(using: dict[str, Any] | None) -> Text:
    if not using:
        return Text("no connection", style="bold red")
    detail = [clean(using.get("kind"))]
    if using.get("signal") is not None:
        detail.append(f"{int(using['signal'])}%")
    if using.get("link_rate_mbps"):
        detail.append(f"{float(using['link_rate_mbps']):g} Mbit/s")
    return Text.assemble(
        (clean(using.get("ssid") or using.get("operator") or using.get("name")), "bold"),
        f" ({', '.join(detail)})",
    )


def upload_text(upload: dict[str, Any]) -> str:
    speed = upload.get("mbps")
    if speed is None:
        return "upload -"
    age = upload.get("age_s")
    return f"upload {float(speed):.1f} Mbit/s" + (
        f" {float(age):.0f} s ago" if age is not None else ""
    )


def network_line(status: Status) -> Text:
    nets = status.get("networks")
    if nets:
        health = nets.get("health") or {}
        verdict = health.get("verdict") or "unknown"
        routes = nets.get("routes") or {}
        families = " ".join(f for f in ("v4", "v6") if routes.get("ip" + f)) or "no route"
        frameio = nets.get("frameio") or {}
        rtt = frameio.get("rtt_ms")
        return one_line(
            label("Network"),
            in_use_text(nets.get("in_use")),
            " · ",
            (f"{verdict}: {clean(health.get('reason'))}", HEALTH_STYLE.get(verdict, "")),
            " · ",
            ("" if rtt is None or not frameio.get("reachable") else f"{float(rtt):.0f} ms · "),
            upload_text(nets.get("upload") or {}),
            " · ",
            (families, "dim"),
        )
    net = status.get("network") or {}
    link = net.get("link") or {}
    up = bool(link.get("up"))
    where = Text.assemble(
        (clean(link.get("interface") or "no route"), "bold"),
        f" ({clean(link.get('kind'))}) ",
        ("up", "green") if up else ("DOWN", "bold red"),
    )
    addresses = link.get("addresses") or []
    if addresses:
        where.append(f" {clean(addresses[0])}", style="dim")
    reach = net.get("frameio_reachable")
    if reach is None:
        frameio_text = Text("Frame.io not checked yet", style="dim")
    elif reach:
        frameio_text = Text("Frame.io reachable", style="green")
        if net.get("health_rtt_ms") is not None:
            frameio_text.append(f" {float(net['health_rtt_ms']):.0f} ms")
    else:
        frameio_text = Text(
            f"Frame.io UNREACHABLE ({clean(net.get('last_error'))})", style="bold red"
        )
    speed = net.get("upload_mbps")
    return one_line(
        label("Network"),
        where,
        " · ",
        frameio_text,
        " · ",
        ("upload -" if speed is None else f"upload {float(speed):.1f} Mbit/s"),
    )
