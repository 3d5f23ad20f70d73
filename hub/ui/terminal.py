"""What the hub shows in a terminal: the pairing screen and the status report.

Built on ``rich`` (layout, live refresh, hyperlinks), ``pyfiglet`` (the code in large digits,
readable across a sound cart) and ``segno`` (the QR code of ``verification_uri_complete``).
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from typing import Any

import pyfiglet
import segno
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from c2c_hub.pairing import PairingStep, PairingUpdate
from c2c_hub.ui import status_text


def spaced_code(code: str) -> str:
    """The pairing code as people read it everywhere: ``513 665``."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def big_code(user_code: str) -> str:
    spaced = spaced_code(user_code)
    rendered: str = pyfiglet.figlet_format(spaced, font="big")
    return rendered.rstrip("\n ")


def qr_text(url: str) -> str:
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


class PairingView:
    """Renders :class:`PairingUpdate` s; ``render()`` is called again every second."""

    def __init__(self, show_qr: bool = True) -> None:
        self.show_qr = show_qr
        self.update: PairingUpdate | None = None

    def __call__(self, update: PairingUpdate) -> None:
        self.update = update

    def render(self) -> RenderableType:
        update = self.update
        if update is None or update.user_code is None:
            return Text("Asking Frame.io for a pairing code ...")
        uri = update.verification_uri or ""
        parts: list[RenderableType] = [
            Text("Pair this hub with Frame.io", style="bold"),
            Text(""),
            Text(big_code(update.user_code), style="bold cyan"),
            Text(""),
            Text.assemble(
                "Code: ",
                (spaced_code(update.user_code), "bold"),
                "   enter it at  ",
                Text(uri, style=f"link {uri}"),
            ),
        ]
        if update.verification_uri_complete:
            link = update.verification_uri_complete
            parts.append(Text.assemble("Or open: ", Text(link, style=f"underline link {link}")))
            if self.show_qr:
                parts.append(Text(qr_text(link)))
        if update.expires_at is not None:
            left = max(0, int(update.expires_at - time.time()))
            parts.append(Text(f"Expires in {left // 60}:{left % 60:02d}", style="yellow"))
        status = {
            PairingStep.SHOW_CODE: "Waiting for the code to be entered in Frame.io ...",
            PairingStep.WAITING: "Waiting for the code to be entered in Frame.io ...",
            PairingStep.SLOWED: f"Frame.io asked to poll less often: {update.message}",
            PairingStep.EXPIRED: "That code expired; getting a fresh one ...",
        }.get(update.step, update.message)
        parts.append(Text(status + "   (Ctrl-C to cancel)", style="dim"))
        return Panel(Group(*parts), expand=False)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _network_rows(table: Table, nets: dict[str, Any] | None) -> None:
    """The ``networks`` key: what is in use and why, the verdict, routes, controls."""
    if not nets:
        return
    using = nets.get("in_use")
    if using:
        detail = [using.get("kind") or "-"]
        if using.get("signal") is not None:
            detail.append(f"signal {using['signal']}%")
        if using.get("link_rate_mbps"):
            detail.append(f"link {using['link_rate_mbps']:g} Mbit/s")
        table.add_row(
            "Network in use",
            f"{using.get('ssid') or using.get('operator') or using.get('name')} "
            f"({', '.join(detail)}); {using.get('why')}",
        )
    else:
        table.add_row("Network in use", "none")
    health = nets.get("health") or {}
    table.add_row("Network health", f"{health.get('verdict')}: {health.get('reason')}")
    for family in ("ipv4", "ipv6"):
        found = (nets.get("routes") or {}).get(family) or []
        text = ", ".join(f"{r['interface']} via {r['gateway'] or 'link'}" for r in found)
        table.add_row(f"Default route IPv{family[-1]}", text or "none")
    for modem in nets.get("modems") or []:
        table.add_row(
            "Cellular",
            f"{modem.get('operator') or '-'} {modem.get('technology') or ''} "
            f"signal {modem.get('signal')}%",
        )
    table.add_row(
        "Network controls",
        "on (c2c-hub net)" if nets.get("controls") else f"off: {nets.get('why_no_controls')}",
    )


def _upload_speed(status: dict[str, Any]) -> str:
    """One row: the measured upload speed and its age (the networks' summary has both)."""
    upload = (status.get("networks") or {}).get("upload") or {}
    if upload:
        return status_text.upload_speed(upload.get("mbps"), upload.get("age_s"))
    net = status.get("network") or {}
    at = net.get("upload_measured_at")
    age = None if at is None else max(0.0, time.time() - float(at))
    return status_text.upload_speed(net.get("upload_mbps"), age)


def render_status(status: dict[str, Any], console: Console) -> None:
    """The human form of ``c2c-hub status``."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    pairing = status["pairing"]
    table.add_row(
        "Pairing", pairing["state"] + (f" ({pairing['reason']})" if pairing.get("reason") else "")
    )
    table.add_row(
        "Project", f"{pairing.get('project_name') or '-'}  {pairing.get('project_id') or ''}"
    )
    table.add_row("Authorized by", pairing.get("authorized_by") or "-")
    table.add_row("Device", pairing.get("device_name") or "-")
    table.add_row("Token expires", _when(pairing.get("access_expires_at")))
    table.add_row("Next refresh", _when(pairing.get("refresh_due_at")))
    hub = status["hub"]
    table.add_row("Hub", "running" if hub["running"] else "not running")
    socket = status.get("socket") or {}
    table.add_row(
        "Socket",
        socket.get("state", "-")
        + (
            f"  (since {_when(socket['connected_since'])})" if socket.get("connected_since") else ""
        ),
    )
    paused = status.get("paused")
    table.add_row("Paused", "-" if paused is None else ("yes" if paused else "no"))
    net = status["network"]
    link = net["link"]
    table.add_row(
        "Network",
        f"{link['interface'] or 'no route'} ({link['kind']}, {'up' if link['up'] else 'down'})"
        f"  {', '.join(link['addresses'])}",
    )
    reach = net.get("frameio_reachable")
    reach_text = (
        "unknown" if reach is None else ("yes" if reach else f"NO ({net.get('last_error')})")
    )
    if net.get("health_rtt_ms") is not None and reach:
        reach_text += f"  ({net['health_rtt_ms']} ms)"
    table.add_row("Frame.io reachable", reach_text)
    table.add_row("Upload speed", _upload_speed(status))
    _network_rows(table, status.get("networks"))
    uploads = status.get("uploads") or {}
    if uploads.get("running") is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(uploads.get("counts", {}).items()) if v)
        table.add_row(
            "Uploads",
            f"{uploads.get('files_remaining', 0)} files, "
            f"{_mib(uploads.get('bytes_remaining'))} remaining; {counts or 'queue empty'}",
        )
        for current in uploads.get("current", []):
            share = current.get("progress")
            done = "-" if share is None else f"{100 * share:.0f}%"
            table.add_row("  uploading", f"{current['name']}  {done}")
        speed = uploads.get("throughput_bps")
        if speed:
            table.add_row("  throughput", f"{speed * 8 / 1e6:.1f} Mbit/s")
        streams = status_text.part_streams(uploads.get("part_streams"))
        if streams:
            table.add_row("  part streams", streams)
        cc = status_text.congestion(uploads.get("congestion_control"))
        if cc:
            table.add_row("  congestion", cc)
        if uploads.get("paused"):
            table.add_row("  held", str(uploads.get("paused_reason")))
        for problem in uploads.get("problems", [])[-5:]:
            table.add_row("  " + problem["state"], f"{problem['name']}: {problem['reason']}")
        for dup in uploads.get("possible_duplicates", [])[-5:]:
            table.add_row(
                "  duplicate?",
                f"{dup['name']}: Frame.io may hold an incomplete extra asset ({dup['why']})",
            )
    _sub_devices(status, table)
    table.add_row("Firmware", status["firmware_version"])
    console.print(table)


def _sub_devices(status: dict[str, Any], table: Table) -> None:
    """Sub-devices and their channels, the plugins, and the take (when the hub knows them)."""
    channels = status.get("channels") or {}
    links = {c["serial"]: c for c in channels.get("channels", [])}
    devices = status.get("devices")
    if devices is not None:
        table.add_row(
            "Sub-devices",
            f"{len(devices)} attached; channels {channels.get('state', '-')}"
            + (f" ({channels['last_error']})" if channels.get("last_error") else ""),
        )
        for device in devices:
            link = links.get(device["serial"], {})
            index = link.get("external_index")
            where = f"channel {index}" if index is not None else link.get("state", "no channel")
            if link.get("routable") is False and link.get("state") == "connected":
                where += f", files wait: {link.get('error')}"
            for note in (
                status_text.device_clock(device.get("details")),
                status_text.device_warning(device.get("details")),
            ):
                if note:
                    where += f"; {note}"
            table.add_row(
                f"  {device['kind']}",
                f"{device['name']} ({device['serial']}, {device['model']}): {where}",
            )
        disagreement = status_text.ptp_disagreement(devices)
        if disagreement:
            table.add_row("  warning", disagreement)
    for plugin in status.get("plugins") or []:
        if plugin.get("state") not in (None, "loaded"):
            table.add_row(
                "  plugin",
                f"{plugin.get('name')}: {plugin.get('state')} "
                f"{plugin.get('reason') or ''}".rstrip(),
            )
        for source in plugin.get("sources") or []:
            health = source.get("health") or source.get("state")
            if health not in ("running", None):
                table.add_row(
                    "  source",
                    f"{source.get('name')}: {health} "
                    f"{source.get('detail') or source.get('last_error') or ''}".rstrip(),
                )
    presses = status.get("presses") or {}
    counts = presses.get("counts") or {}
    if any(counts.values()):
        table.add_row("Presses", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        for press in (presses.get("recent") or [])[-3:]:
            note = f" ({press['last_error']})" if press.get("last_error") else ""
            table.add_row(
                "  " + press["state"],
                f"{press['device']}: {press['input']} at {press['timecode']}{note}",
            )
    recorder = status.get("recorder")
    if recorder:
        take = recorder.get("take")
        if take:
            table.add_row(
                "Recording",
                f"scene {take['scene']} take {take['take']} from {take['start_timecode']}, "
                f"{len(take['tracks'])} tracks",
            )
        else:
            table.add_row(
                "Recorder",
                f"idle; next: scene {recorder.get('scene')} take {recorder.get('next_take')}; "
                f"timecode {recorder.get('timecode')} ({recorder.get('timecode_rate')})",
            )


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / (1 << 20):.1f} MiB"
