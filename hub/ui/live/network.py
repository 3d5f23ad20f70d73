"""The network line: the link the hub uses, whether Frame.io answers, the upload speed."""

from __future__ import annotations

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean
from c2c_hub.ui.live.layout import label, one_line


def network_line(status: Status) -> Text:
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
        frameio = Text("Frame.io not checked yet", style="dim")
    elif reach:
        frameio = Text("Frame.io reachable", style="green")
        if net.get("health_rtt_ms") is not None:
            frameio.append(f" {float(net['health_rtt_ms']):.0f} ms")
    else:
        frameio = Text(f"Frame.io UNREACHABLE ({clean(net.get('last_error'))})", style="bold red")
    speed = net.get("upload_mbps")
    return one_line(
        label("Network"),
        where,
        " · ",
        frameio,
        " · ",
        ("upload -" if speed is None else f"upload {float(speed):.1f} Mbit/s"),
    )
