"""The operator's view: what ``c2c-hub run`` (and ``make demo``) shows while the hub works.

On set nobody reads logs. In a terminal, :class:`LiveView` keeps one screen up to date (4 times
a second, and at once on a press, a channel or a take): the pairing code in large digits with
its QR code while pairing; then the project, who authorized it, the socket, Frame.io's pause
and the operator's, the network; the upload queue with a bar per current file; the take being
recorded (or the next take); the sub-devices and their channels; the recent logging events;
and the hub's recent warnings. It fits 80x24 and uses more rows when there are more.

Not attached to a terminal (``stdout`` not a TTY, or ``TERM=dumb``) it prints one plain line
per meaningful change instead (:class:`PlainLog`): never the full screen, never an escape.

Everything it shows is built from :meth:`Hub.status` (which holds no token, no client secret and
no device code), the pairing flow's public part (the user code and its URLs) and log records
that already went through :class:`~c2c_hub.logs.RedactingFilter`. :func:`render` is pure: a status
dict and a time in, a renderable out, so tests draw crafted states.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from c2c_hub.logs import RedactingFilter
from c2c_hub.ui.terminal import big_code, qr_text

if TYPE_CHECKING:
    from c2c_hub.pairing import Pairing, PairingUpdate
    from c2c_hub.runtime import Hub

log = logging.getLogger(__name__)

REFRESH_PER_SECOND = 4.0
RATE_WINDOW_S = 3.0
MESSAGES_KEPT = 20
PAIRED_STATES = ("paired", "refreshing")
FINAL_PAIRING_STEPS = ("approved", "denied", "cancelled", "failed")

Status = Mapping[str, Any]


def wants_plain(stream: IO[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when ``stream`` (stdout) is not a terminal, or the terminal is ``TERM=dumb``."""
    stream = sys.stdout if stream is None else stream
    env = os.environ if environ is None else environ
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty or env.get("TERM", "") == "dumb"


# ====================================================================== small formatters
_UNSAFE = {c: "?" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_UNSAFE.update({c: "?" for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]})


def clean(value: Any) -> str:
    """``value`` as one printable line: a device's name cannot move the cursor or recolour."""
    return ("-" if value is None else str(value)).translate(_UNSAFE)


def size_text(nbytes: float | None) -> str:
    if nbytes is None:
        return "-"
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def rate_text(bps: float | None) -> str:
    return "-" if bps is None else f"{size_text(bps)}/s"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def clock_text(seconds: float) -> str:
    """Elapsed time the way a recorder shows it: ``m:ss`` or ``h:mm:ss``."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def spaced_code(code: str) -> str:
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def _local(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


@functools.lru_cache(maxsize=8)
def _qr(url: str) -> str:
    return qr_text(url).rstrip("\n")


@functools.lru_cache(maxsize=8)
def _big(code: str) -> str:
    return big_code(code)


# ====================================================================== the pure renderer
Row = Text | tuple[RenderableType, ...]


@dataclass
class _Column:
    justify: str = "left"
    ratio: int | None = None
    min_width: int | None = None
    max_width: int | None = None
    style: str = ""


@dataclass
class _Section:
    """A titled list of one-line rows; shown with as many rows as the screen allows."""

    title: Text
    rows: list[Row] = field(default_factory=list)
    columns: list[_Column] = field(default_factory=list)
    empty: str | None = None

    @property
    def want(self) -> int:
        return len(self.rows) or (1 if self.empty else 0)

    def draw(self, n: int) -> RenderableType:
        parts: list[RenderableType] = [Rule(self.title, align="left", style="dim")]
        rows = list(self.rows)
        if not rows and self.empty:
            rows = [Text(self.empty, style="dim")]
        if len(rows) > n:
            hidden = len(rows) - max(0, n - 1)
            rows = [*rows[: max(0, n - 1)], Text(f"  … and {hidden} more", style="dim")]
        table: Table | None = None
        for row in rows:
            if isinstance(row, Text):
                table = None
                row.no_wrap = True
                row.overflow = "ellipsis"
                parts.append(row)
                continue
            if table is None:
                table = Table.grid(padding=(0, 1), expand=True)
                for col in self.columns:
                    table.add_column(
                        justify=col.justify,  # type: ignore[arg-type]
                        ratio=col.ratio,
                        min_width=col.min_width,
                        max_width=col.max_width,
                        no_wrap=True,
                        overflow="ellipsis",
                        style=col.style,
                    )
                parts.append(table)
            table.add_row(*row)
        return Group(*parts)


@dataclass
class _Pair:
    """Two sections side by side (on wide screens), sharing their rows."""

    left: _Section
    right: _Section

    @property
    def want(self) -> int:
        return max(self.left.want, self.right.want)

    def draw(self, n: int) -> RenderableType:
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(self.left.draw(n), self.right.draw(n))
        return grid


Block = _Section | _Pair


def _allocate(blocks: Sequence[Block], budget: int) -> list[int]:
    """Rows per block (-1: not shown). Each shown block costs its title line; rows are then
    handed out one at a time, in order, so every section gets its share."""
    shown = [-1] * len(blocks)
    left = budget
    for i, block in enumerate(blocks):
        need = 1 + min(1, block.want)
        if left < need:
            break
        shown[i] = min(1, block.want)
        left -= need
    while left > 0:
        gave = False
        for i, block in enumerate(blocks):
            if shown[i] >= 0 and shown[i] < block.want and left > 0:
                shown[i] += 1
                left -= 1
                gave = True
        if not gave:
            break
    return shown


def _line(*parts: str | tuple[str, str] | Text) -> Text:
    text = Text.assemble(*parts)
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _label(name: str) -> tuple[str, str]:
    return (f"{name:<9}", "bold")


def _header(status: Status, now: float, width: int) -> list[Text]:
    pairing = status.get("pairing") or {}
    socket = status.get("socket") or {}
    uploads = status.get("uploads") or {}
    lines: list[Text] = []
    project = _line(
        _label("Project"),
        (clean(pairing.get("project_name")), "bold cyan"),
        "  ",
        (clean(pairing.get("project_id")), "dim"),
    )
    user = clean(pairing.get("authorized_by"))
    if project.cell_len + len(user) + 18 <= width:
        project.append_text(Text.assemble("   authorized by ", (user, "bold")))
        lines.append(project)
    else:
        lines.append(project)
        lines.append(_line(_label("User"), (user, "bold")))

    state = clean(socket.get("state"))
    if state == "joined":
        sock: Text = Text.assemble(("joined", "bold green"))
        if socket.get("connected_since"):
            sock.append(f" {duration_text(now - float(socket['connected_since']))}", "green")
    elif state in ("connecting",):
        sock = Text("connecting …", style="yellow")
    else:
        sock = Text(state, style="bold red")
        if state == "backoff" and socket.get("next_attempt_at"):
            sock.append(f", retry in {duration_text(socket['next_attempt_at'] - now)}")
    if state != "joined" and socket.get("last_error"):
        sock.append(f" ({clean(socket['last_error'])})", style="red")
    paused = status.get("paused")
    if paused is None:
        pause = Text("unknown", style="dim")
    elif paused:
        pause = Text("PAUSED", style="bold reverse yellow")
    else:
        pause = Text("no", style="green")
    if uploads.get("paused_reason"):
        mine = Text("PAUSED", style="bold reverse yellow")
    elif uploads.get("running") is False:
        mine = Text("stopped", style="red")
    elif uploads.get("running"):
        mine = Text(
            f"on ({clean(uploads.get('mode'))}{', parallel' if uploads.get('parallel') else ''})",
            style="green",
        )
    else:
        mine = Text("-", style="dim")
    lines.append(
        _line(
            _label("Socket"),
            sock,
            ("   Frame.io paused ", "bold"),
            pause,
            ("   Uploads ", "bold"),
            mine,
        )
    )
    lines.append(_network_line(status))
    return lines


def _web_line(status: Status) -> Text | None:
    """Where the web page is, and the login code that lets a browser in (this screen only)."""
    url = (status.get("control") or {}).get("url")
    code = status.get("login_code")
    if not url or not code:
        return None
    return _line(
        _label("Web page"),
        (clean(url), "bold"),
        "  login code ",
        (spaced_code(clean(code)), "bold cyan"),
    )


def _network_line(status: Status) -> Text:
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
    return _line(
        _label("Network"),
        where,
        " · ",
        frameio,
        " · ",
        ("upload -" if speed is None else f"upload {float(speed):.1f} Mbit/s"),
    )


def _uploads(status: Status, now: float) -> _Section:
    uploads = status.get("uploads") or {}
    counts: Mapping[str, int] = uploads.get("counts") or {}
    files = int(uploads.get("files_remaining") or 0)
    title = Text.assemble(
        ("Uploads ", "bold"),
        (f"{files} file{'' if files == 1 else 's'}", "bold"),
        f", {size_text(uploads.get('bytes_remaining') or 0)} remaining",
    )
    if uploads.get("throughput_bps"):
        title.append(f" · {rate_text(uploads['throughput_bps'])}")
    title.append(f" · done {counts.get('done', 0)} · queued {counts.get('queued', 0)} · ")
    title.append(f"failed {counts.get('failed', 0)}", "bold red" if counts.get("failed") else "")
    for key in ("uploading", "recording", "corrupt", "skipped_paused", "cancelled"):
        if counts.get(key):
            title.append(f" · {key.replace('_', ' ')} {counts[key]}")
    title.append(" ")
    section = _Section(
        title,
        columns=[
            _Column(ratio=3, min_width=16),
            _Column(ratio=2, min_width=6),
            _Column(justify="right", min_width=4),
            _Column(justify="right", min_width=9),
            _Column(justify="right", min_width=10),
            _Column(style="dim", max_width=28),
        ],
        empty="queue empty" if uploads.get("running") is not None else None,
    )
    if uploads.get("paused_reason"):
        section.rows.append(Text(f"  ⏸ {clean(uploads['paused_reason'])}", style="bold yellow"))
    elif uploads.get("waiting_for"):
        section.rows.append(Text(f"  waiting: {clean(uploads['waiting_for'])}", style="yellow"))
    for current in uploads.get("current") or []:
        size = current.get("size")
        done = current.get("bytes_done") or 0
        progress = current.get("progress")
        rate = current.get("rate_bps")
        bar = ProgressBar(
            total=float(size) if size else None,
            completed=float(done),
            animation_time=now,
            complete_style="green" if current.get("state") == "uploading" else "cyan",
        )
        state = "recording" if current.get("state") == "recording" else "uploading"
        if current.get("retrying"):
            state = f"retrying: {clean(current['retrying'])}"
        section.rows.append(
            (
                Text(clean(current.get("name"))),
                bar,
                "rec" if progress is None else f"{float(progress):.0%}",
                f"{size_text(done)}" + ("" if not size else f"/{size_text(size)}"),
                rate_text(rate)
                if rate is not None and (rate > 0 or current.get("state") == "uploading")
                else "",
                state,
            )
        )
    for problem in reversed(uploads.get("problems") or []):
        label = {"skipped_paused": "skipped"}.get(problem.get("state"), problem.get("state"))
        section.rows.append(
            _line(
                (f"  ✗ {clean(label)} ", "bold red"),
                (clean(problem.get("name")), "bold"),
                ": ",
                (clean(problem.get("reason")), "red"),
            )
        )
    return section


def _recording(status: Status, now: float) -> _Section | None:
    recorder = status.get("recorder")
    if not recorder:
        return None
    take = recorder.get("take")
    if not take:
        title = Text.assemble(
            ("Recorder ", "bold"),
            "idle · next ",
            (
                f"scene {clean(recorder.get('scene'))} take {clean(recorder.get('next_take'))}",
                "bold",
            ),
            f" · TC {clean(recorder.get('timecode'))} ({clean(recorder.get('timecode_rate'))}) ",
        )
        section = _Section(title)
        last = recorder.get("last_take")
        if last:
            tracks = last.get("tracks") or []
            seconds = last.get("seconds")
            section.rows.append(
                Text(
                    f"  last: scene {clean(last.get('scene'))} take {clean(last.get('take'))}, "
                    f"from {clean(last.get('start_timecode'))}"
                    + (f", {float(seconds):.1f} s" if seconds is not None else "")
                    + f", {len(tracks)} tracks",
                    style="dim",
                )
            )
        return section
    started = take.get("started_at")
    tracks = take.get("tracks") or []
    title = Text.assemble(
        ("● REC ", "bold red"),
        (f"scene {clean(take.get('scene'))} take {clean(take.get('take'))}", "bold"),
        " · TC ",
        (clean(recorder.get("timecode")), "bold"),
        f" · {clock_text(now - float(started))}" if started else "",
        f" · {len(tracks)} track{'' if len(tracks) == 1 else 's'}",
        f" · from {clean(take.get('start_timecode'))} ",
    )
    section = _Section(
        title,
        columns=[
            _Column(justify="right", min_width=2),
            _Column(min_width=12),
            _Column(style="dim"),
            _Column(justify="right", min_width=14),
            _Column(justify="right", min_width=11),
            _Column(ratio=1),
        ],
        empty="no microphone attached: nothing is being recorded",
    )
    for track in tracks:
        dropouts = int(track.get("dropouts") or 0)
        section.rows.append(
            (
                str(clean(track.get("index"))),
                Text(clean(track.get("name")), style="bold"),
                clean(track.get("serial")),
                f"{int(track.get('frames') or 0):,} frames",
                Text(
                    f"{dropouts} dropout{'' if dropouts == 1 else 's'}",
                    style="bold red" if dropouts else "green",
                ),
                _track_note(track),
            )
        )
    return section


def _track_note(track: dict[str, Any]) -> Text | str:
    """A failed write in red; a microphone the hub stopped trusting (cut off, position jumps)
    in yellow."""
    if track.get("error"):
        return Text(clean(track.get("error")), style="red")
    if track.get("warning"):
        return Text(clean(track.get("warning")), style="yellow")
    return ""


def _devices(status: Status) -> _Section | None:
    devices = status.get("devices")
    channels = status.get("channels") or {}
    plugins = status.get("plugins") or []
    if devices is None and not plugins:
        return None
    devices = devices or []
    links = {c.get("serial"): c for c in channels.get("channels") or []}
    title = Text.assemble(
        ("Sub-devices ", "bold"),
        f"{len(devices)} attached · channels {clean(channels.get('state', '-'))} ",
    )
    section = _Section(
        title,
        columns=[
            _Column(min_width=8, style="dim"),
            _Column(min_width=12, style="bold"),
            _Column(style="dim"),
            _Column(ratio=1),
        ],
        empty="none attached",
    )
    if channels.get("last_error"):
        section.rows.append(Text(f"  channels: {clean(channels['last_error'])}", style="red"))
    for plugin in plugins:
        if plugin.get("state") not in (None, "loaded"):
            section.rows.append(
                Text(
                    f"  plugin {clean(plugin.get('name'))}: {clean(plugin.get('state'))}"
                    + (f" ({clean(plugin['reason'])})" if plugin.get("reason") else ""),
                    style="bold red",
                )
            )
        for source in plugin.get("sources") or []:
            reported = source.get("reported") or {}
            health = source.get("state")
            unhealthy = (
                health not in ("running", "starting", None) or reported.get("healthy") is False
            )
            if unhealthy:
                if health == "running":
                    detail = reported.get("detail") or source.get("last_error") or ""
                    health = "unhealthy"
                else:
                    detail = source.get("last_error") or reported.get("detail") or ""
                if source.get("restart_in") is not None:
                    detail = f"{detail}; restart in {duration_text(source['restart_in'])}"
                section.rows.append(
                    Text(
                        f"  ⚠ {clean(source.get('key') or source.get('source'))} "
                        f"{clean(health)}: {clean(detail)}".rstrip(": "),
                        style="bold red",
                    )
                )
    for device in devices:
        link = links.get(device.get("serial")) or {}
        index = link.get("external_index")
        state = link.get("state")
        if state == "connected" and link.get("routable") is False:
            # Not told apart from another channel: the reason is in `c2c-hub devices` and the log.
            where = Text(f"channel {index}? files wait", style="bold red")
        elif state == "connected" and index is not None:
            where = Text(f"channel {index}", style="green")
        elif state == "refused":
            where = Text(f"refused: {clean(link.get('error'))}", style="bold red")
        elif state:
            where = Text(clean(state), style="yellow")
        else:
            where = Text("no channel", style="dim")
        section.rows.append(
            (
                clean(device.get("serial")),
                clean(device.get("name")),
                clean(device.get("model")),
                where,
            )
        )
    for link in channels.get("departing") or []:
        section.rows.append(
            (
                clean(link.get("serial")),
                clean(link.get("name")),
                "detached",
                Text(clean(link.get("state")), style="yellow"),
            )
        )
    return section


_PRESS_STYLE = {"sent": "green", "pending": "yellow", "sending": "yellow"}


def _presses(status: Status, now: float) -> _Section | None:
    presses = status.get("presses")
    if presses is None:
        return None
    counts: Mapping[str, int] = presses.get("counts") or {}
    title = Text.assemble(("Logging events ", "bold"))
    title.append(" · ".join(f"{k} {v}" for k, v in counts.items() if v) or "none yet")
    title.append(" ")
    section = _Section(
        title,
        columns=[
            _Column(style="dim", min_width=8),
            _Column(),
            _Column(style="bold"),
            _Column(min_width=11),
            _Column(min_width=4),
            _Column(justify="right", min_width=6),
            _Column(ratio=1, style="red"),
        ],
        empty="no button pressed yet",
    )
    for press in reversed(presses.get("recent") or []):
        state = clean(press.get("state"))
        latency = press.get("latency_s")
        section.rows.append(
            (
                f"{duration_text(now - float(press['pressed_at']))} ago"
                if press.get("pressed_at")
                else "",
                clean(press.get("device")),
                clean(press.get("input")),
                clean(press.get("timecode")),
                Text(state, style=_PRESS_STYLE.get(state, "bold red")),
                "" if latency is None else f"{float(latency) * 1000:.0f} ms",
                clean(press.get("last_error")) if press.get("last_error") else "",
            )
        )
    return section


def _messages(status: Status) -> _Section | None:
    messages = status.get("messages")
    if not messages:
        return None
    section = _Section(Text.assemble(("Hub messages ", "bold")))
    for message in reversed(messages):
        style = "red" if message.get("level", 0) >= logging.ERROR else "yellow"
        section.rows.append(
            _line((f"  {_local(float(message['at']))} ", "dim"), (clean(message["text"]), style))
        )
    return section


def _pairing_panel(status: Status, now: float, width: int, height: int, show_qr: bool) -> Panel:
    pairing = status.get("pairing") or {}
    flow = status.get("pairing_flow") or {}
    state = pairing.get("state")
    code = flow.get("user_code")
    step = flow.get("step")
    left: list[RenderableType] = []
    title = "Pair this hub with Frame.io"
    if code and step not in FINAL_PAIRING_STEPS:
        if width >= 44:
            left += [Text(_big(code), style="bold cyan", no_wrap=True), Text("")]
        left.append(Text.assemble("Code: ", (spaced_code(clean(code)), "bold cyan")))
        uri = clean(flow.get("verification_uri"))
        left.append(Text.assemble("Enter it at ", Text(uri, style=f"bold link {uri}")))
        complete = flow.get("verification_uri_complete")
        if complete:
            link = clean(complete)
            left.append(Text.assemble("or open ", Text(link, style=f"underline link {link}")))
        expires = flow.get("expires_at")
        if expires is not None:
            remaining = max(0, int(float(expires) - now))
            left.append(Text(f"Expires in {remaining // 60}:{remaining % 60:02d}", style="yellow"))
        message = {
            "slowed": f"Frame.io asked to poll less often: {clean(flow.get('message'))}",
            "expired": "That code expired; getting a fresh one …",
        }.get(step or "", "Waiting for the code to be entered in Frame.io …")
        left.append(Text(f"{message}  (Ctrl-C to cancel)", style="dim"))
    elif step in ("denied", "failed", "cancelled"):
        text = {
            "denied": "The code was declined in Frame.io.",
            "cancelled": "Pairing was cancelled.",
        }.get(step, "Pairing failed")
        left.append(Text(text, style="bold red"))
        if flow.get("message"):
            left.append(Text(clean(flow["message"]), style="red"))
    elif flow.get("running"):
        left.append(Text("Asking Frame.io for a pairing code …"))
    else:
        title = "Not paired"
        reason = pairing.get("reason") or pairing.get("last_error")
        what = "needs pairing again" if state == "needs_pairing" else "is not paired"
        left.append(Text(f"This hub {what} with a Frame.io project.", style="bold yellow"))
        if reason:
            left.append(Text(clean(reason), style="yellow"))
        left.append(Text("Pair it: run 'c2c-hub pair' in another terminal", style="bold"))
        url = (status.get("control") or {}).get("url")
        if url:
            page = clean(url)
            left.append(Text.assemble("or open ", Text(page, style=f"underline link {page}")))
    body: RenderableType = Group(*left)
    complete = flow.get("verification_uri_complete")
    if show_qr and code and complete and step not in FINAL_PAIRING_STEPS:
        qr = _qr(clean(complete))
        qr_lines = qr.splitlines()
        qr_width = max(len(line) for line in qr_lines)
        if width >= 36 + qr_width + 7 and height >= len(qr_lines) + 2:
            grid = Table.grid(padding=(0, 2))
            grid.add_column(min_width=36)
            grid.add_column(width=qr_width, no_wrap=True)
            grid.add_row(body, Text(qr, no_wrap=True))
            body = grid
        elif height >= len(qr_lines) + len(left) + 3 and width >= qr_width + 4:
            body = Group(body, Text(qr, no_wrap=True))
    return Panel(body, title=Text(title, style="bold"), title_align="left", expand=False)


class _Screen:
    """The whole view; it fits itself to the width and height it is given."""

    def __init__(self, status: Status, now: float, *, show_qr: bool, reserve: int) -> None:
        self.status = status
        self.now = now
        self.show_qr = show_qr
        self.reserve = reserve

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = max(8, (options.height or options.max_height or 24) - self.reserve)
        status, now = self.status, self.now
        pairing = status.get("pairing") or {}
        top: list[RenderableType] = []
        used = 0
        if pairing.get("state") in PAIRED_STATES:
            header = _header(status, now, width)
            top += header
            used += len(header)
        else:
            panel = _pairing_panel(status, now, width, height - 3, self.show_qr)
            top.append(panel)
            used += len(console.render_lines(panel, options.reset_height(), pad=False))
            top.append(_network_line(status))
            used += 1
        web = _web_line(status)
        if web is not None:
            top.append(web)
            used += 1
        blocks: list[Block] = []
        if pairing.get("state") in PAIRED_STATES:
            blocks.append(_uploads(status, now))
            recording = _recording(status, now)
            if recording is not None:
                blocks.append(recording)
        devices, presses = _devices(status), _presses(status, now)
        if devices is not None and presses is not None and width >= 120:
            blocks.append(_Pair(devices, presses))
        else:
            blocks += [b for b in (devices, presses) if b is not None]
        messages = _messages(status)
        if messages is not None:
            blocks.append(messages)
        shown = _allocate(blocks, height - used)
        view = Group(*top, *(b.draw(n) for b, n in zip(blocks, shown, strict=True) if n >= 0))
        # Rendered at its natural height: a panel given the screen's height would fill it.
        yield from console.render(view, options.reset_height())


def render(status: Status, now: float, *, show_qr: bool = True, reserve: int = 0) -> RenderableType:
    """The operator's view of ``status`` (a :meth:`Hub.status` dict, plus the optional
    ``pairing_flow`` and ``messages`` keys :class:`LiveView` adds) at wall time ``now``.

    Pure: it reads nothing else. It takes the height it is given (``reserve`` rows fewer).
    """
    return _Screen(status, now, show_qr=show_qr, reserve=reserve)


# ====================================================================== plain lines
class PlainLog:
    """One line per meaningful change, for logs and dumb terminals (never an escape).

    Feed it snapshots (:meth:`observe`) and the uploader's events (:meth:`event`); each
    returns the lines it wrote (to ``write``, one call per line).
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or (lambda line: print(line, flush=True))
        self._first = True
        self._code: tuple[Any, ...] | None = None
        self._flow_end: tuple[Any, ...] | None = None
        self._paired: tuple[Any, ...] | None = None
        self._socket: str | None = None
        self._paused: bool | None = None
        self._upload_pause: str | None = None
        self._network: tuple[Any, ...] | None = None
        self._channels: dict[str, tuple[Any, ...]] = {}
        self._presses: dict[Any, str] = {}
        self._take: tuple[Any, ...] | None = None

    def _emit(self, now: float, lines: Iterable[str]) -> list[str]:
        out = [f"{_local(now)} {clean(line)}" for line in lines]
        for line in out:
            self.write(line)
        return out

    def observe(self, status: Status, now: float) -> list[str]:
        lines: list[str] = []
        lines += self._pairing(status, now)
        lines += self._socket_lines(status)
        lines += self._pause_lines(status)
        lines += self._network_lines(status)
        lines += self._channel_lines(status)
        lines += self._take_lines(status)
        lines += self._press_lines(status)
        self._first = False
        return self._emit(now, lines)

    def event(self, event: Mapping[str, Any], now: float | None = None) -> list[str]:
        """An uploader event: a file done, failed, corrupt, skipped or cancelled."""
        if event.get("type") != "file":
            return []
        name, state, reason = event.get("name"), event.get("state"), event.get("reason")
        size = event.get("size")
        line = {
            "done": f"uploaded {name}" + (f" ({size_text(size)})" if size else ""),
            "failed": f"upload failed: {name}: {reason}",
            "corrupt": f"upload failed (corrupt file): {name}: {reason}",
            "skipped_paused": f"upload skipped (device paused in Frame.io): {name}",
            "cancelled": f"upload cancelled: {name}",
        }.get(str(state))
        if line is None:
            return []
        at = now if now is not None else float(event.get("at") or time.time())
        return self._emit(at, [line])

    # -- the parts
    def _pairing(self, status: Status, now: float) -> list[str]:
        out: list[str] = []
        pairing = status.get("pairing") or {}
        flow = status.get("pairing_flow") or {}
        state = pairing.get("state")
        code = flow.get("user_code")
        step = flow.get("step")
        if code and state not in PAIRED_STATES and step not in FINAL_PAIRING_STEPS:
            key = (code, flow.get("verification_uri"))
            if key != self._code:
                self._code = key
                where = flow.get("verification_uri")
                line = f"pairing code {spaced_code(str(code))}: enter it at {where}"
                if flow.get("verification_uri_complete"):
                    line += f" (or open {flow['verification_uri_complete']})"
                if flow.get("expires_at") is not None:
                    line += f"; expires in {duration_text(float(flow['expires_at']) - now)}"
                out.append(line)
        if step in ("denied", "failed", "cancelled") and not flow.get("running"):
            key = (step, flow.get("message"))
            if key != self._flow_end:
                self._flow_end = key
                out.append(
                    f"pairing {step}" + (f": {flow['message']}" if flow.get("message") else "")
                )
        paired = (state, pairing.get("project_id"), pairing.get("project_name"))
        if paired != self._paired:
            before = self._paired
            self._paired = paired
            if state in PAIRED_STATES:
                if before is not None and before[0] in PAIRED_STATES and before[1] == paired[1]:
                    if before[2] != paired[2]:
                        out.append(f"project renamed: {paired[2]} ({paired[1]})")
                else:
                    line = f"paired with project {paired[2]} ({paired[1]})"
                    if pairing.get("authorized_by"):
                        line += f", authorized by {pairing['authorized_by']}"
                    out.append(line)
                    self._code = None
            elif state == "needs_pairing":
                reason = pairing.get("reason") or pairing.get("last_error")
                out.append("needs pairing" + (f": {reason}" if reason else ""))
            elif state == "unpaired":
                out.append(
                    ("not paired" if before is None else "unpaired")
                    + ": pair with 'c2c-hub pair' or the control API's web page"
                )
        return out

    def _socket_lines(self, status: Status) -> list[str]:
        socket = status.get("socket") or {}
        state = socket.get("state")
        before, self._socket = self._socket, state
        if state == before:
            return []
        if state == "joined":
            return ["socket joined"]
        if before == "joined":
            error = socket.get("last_error")
            return [f"socket lost ({state})" + (f": {error}" if error else "")]
        return []

    def _pause_lines(self, status: Status) -> list[str]:
        out = []
        paused = status.get("paused")
        if paused is not None and bool(paused) != bool(self._paused):
            out.append("Frame.io paused this device" if paused else "Frame.io resumed this device")
        if paused is not None:
            self._paused = bool(paused)
        reason = (status.get("uploads") or {}).get("paused_reason")
        if reason != self._upload_pause:
            out.append(f"uploads paused: {reason}" if reason else "uploads resumed")
            self._upload_pause = reason
        return out

    def _network_lines(self, status: Status) -> list[str]:
        net = status.get("network") or {}
        link = net.get("link") or {}
        key = (
            link.get("interface"),
            link.get("kind"),
            link.get("up"),
            net.get("frameio_reachable"),
        )
        if key == self._network:
            return []
        self._network = key
        line = (
            f"network: {link.get('interface') or 'no route'} ({link.get('kind')}, "
            f"{'up' if link.get('up') else 'down'})"
        )
        reach = net.get("frameio_reachable")
        if reach:
            rtt = net.get("health_rtt_ms")
            line += "; Frame.io reachable" + (f" ({float(rtt):.0f} ms)" if rtt is not None else "")
        elif reach is False:
            line += f"; Frame.io UNREACHABLE: {net.get('last_error')}"
        return [line]

    def _channel_lines(self, status: Status) -> list[str]:
        out = []
        channels = (status.get("channels") or {}).get("channels") or []
        now: dict[str, tuple[Any, ...]] = {}
        for link in channels:
            serial = str(link.get("serial"))
            key = (link.get("state"), link.get("external_index"), link.get("name"))
            now[serial] = key
            if self._channels.get(serial, (None,))[:2] == key[:2]:
                continue
            who = f"{link.get('name')} ({serial})"
            if key[0] == "connected":
                out.append(f"channel connected: {who}, index {key[1]}")
            elif key[0] == "refused":
                out.append(f"channel refused: {who}: {link.get('error')}")
        for serial, key in self._channels.items():
            if serial not in now:
                out.append(f"channel disconnected: {key[2]} ({serial})")
        self._channels = now
        return out

    def _take_lines(self, status: Status) -> list[str]:
        recorder = status.get("recorder") or {}
        take = recorder.get("take")
        key = (take.get("scene"), take.get("take")) if take else None
        if key == self._take:
            return []
        out = []
        before, self._take = self._take, key
        if before is not None:
            last = recorder.get("last_take") or {}
            line = f"take stopped: scene {before[0]} take {before[1]}"
            if (last.get("scene"), last.get("take")) == before:
                tracks = last.get("tracks") or []
                dropouts = sum(int(t.get("dropouts") or 0) for t in tracks)
                if last.get("seconds") is not None:
                    line += f", {float(last['seconds']):.2f} s"
                line += f", {len(tracks)} tracks, {dropouts} dropouts"
                if last.get("failure"):
                    line += f"; it stopped by itself: {last['failure']}"
            out.append(line)
        if take:
            tracks = take.get("tracks") or []
            out.append(
                f"take started: scene {take.get('scene')} take {take.get('take')} at "
                f"{take.get('start_timecode')}, {len(tracks)} tracks"
            )
        return out

    def _press_lines(self, status: Status) -> list[str]:
        out = []
        recent = (status.get("presses") or {}).get("recent") or []
        seen: dict[Any, str] = {}
        for press in recent:
            pid, state = press.get("id"), str(press.get("state"))
            seen[pid] = state
            if self._first or self._presses.get(pid) == state:
                continue
            what = (
                f"{press.get('device')} ({press.get('serial')}) '{press.get('input')}' "
                f"at {press.get('timecode')}"
            )
            if state == "sent":
                latency = press.get("latency_s")
                extra = "" if latency is None else f" ({float(latency) * 1000:.0f} ms)"
                out.append(f"press sent: {what}{extra}")
            elif state in ("unconfirmed", "failed"):
                error = press.get("last_error")
                out.append(f"press {state}: {what}" + (f": {error}" if error else ""))
        self._presses = seen
        return out


# ====================================================================== the live view
class _Capture(logging.Handler):
    """The hub's recent warnings, redacted, for the screen (the terminal's log lines would
    tear through it)."""

    def __init__(self, keep: int = MESSAGES_KEPT) -> None:
        super().__init__(logging.WARNING)
        self.addFilter(RedactingFilter())
        self.messages: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a bad format string must not break the screen
            text = str(record.msg)
        self.messages.append({"at": record.created, "level": record.levelno, "text": text})


@contextlib.contextmanager
def _logs_to_screen(capture: _Capture) -> Iterator[None]:
    """While the screen is up: warnings go to it; handlers writing to the terminal pause."""
    root = logging.getLogger()
    muted: list[tuple[logging.Handler, int]] = []
    for handler in root.handlers:
        stream = getattr(handler, "stream", None)
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            try:
                tty = bool(stream is not None and stream.isatty())
            except (AttributeError, ValueError):
                tty = False
            if tty:
                muted.append((handler, handler.level))
                handler.setLevel(logging.CRITICAL + 1)
    root.addHandler(capture)
    try:
        yield
    finally:
        root.removeHandler(capture)
        for handler, level in muted:
            handler.setLevel(level)


class _Rates:
    """Each current file's rate, from the bytes it moved over the last seconds."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self.window = window
        self._seen: dict[Any, collections.deque[tuple[float, float]]] = {}

    def annotate(self, status: dict[str, Any], at: float) -> None:
        current = (status.get("uploads") or {}).get("current") or []
        alive = set()
        for entry in current:
            key = entry.get("id")
            alive.add(key)
            samples = self._seen.setdefault(key, collections.deque())
            samples.append((at, float(entry.get("bytes_done") or 0)))
            while len(samples) > 2 and at - samples[0][0] > self.window:
                samples.popleft()
            span = samples[-1][0] - samples[0][0]
            if "rate_bps" not in entry and span >= 0.2:
                entry["rate_bps"] = max(0.0, (samples[-1][1] - samples[0][1]) / span)
        for key in set(self._seen) - alive:
            del self._seen[key]


class LiveView:
    """``c2c-hub run``'s screen (see the module docstring).

    :param hub: the running hub (its :meth:`~c2c_hub.runtime.Hub.status` is what is shown).
    :param console: where to draw (a new ``Console()`` on stdout by default).
    :param plain: plain lines instead of the screen; by default when stdout is not a terminal
        or ``TERM=dumb`` (:func:`wants_plain`).
    :param screen: use the terminal's alternate screen (restored on the way out); ``False``
        leaves the last frame in the scrollback (the demo does).
    :param status: where snapshots come from (default ``c2c_hub.status``).
    """

    def __init__(
        self,
        hub: Hub | None = None,
        *,
        console: Console | None = None,
        plain: bool | None = None,
        screen: bool = True,
        show_qr: bool = True,
        refresh_per_second: float = REFRESH_PER_SECOND,
        status: Callable[[], dict[str, Any]] | None = None,
        write: Callable[[str], None] | None = None,
    ) -> None:
        if hub is None and status is None:
            raise ValueError("LiveView needs a hub or a status callable")
        self.hub = hub
        self.console = console or Console()
        if plain is None:
            plain = wants_plain(self.console.file) or not self.console.is_terminal
        self.plain = plain
        self.screen = screen
        self.show_qr = show_qr
        self.interval = 1.0 / refresh_per_second
        self._status = status or (hub.status if hub is not None else dict)
        self.log = PlainLog(write)
        self._capture = _Capture()
        self._rates = _Rates()
        self._flow: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # -- what is shown
    def follow(self, pairing: Pairing) -> Callable[[], None]:
        """Show ``pairing`` 's code while it runs (else the control API's pairing, if any)."""
        return pairing.subscribe(self._pairing_update)

    def _pairing_update(self, update: PairingUpdate) -> None:
        self._flow = {
            "running": update.step.value not in FINAL_PAIRING_STEPS,
            "step": update.step.value,
            "user_code": update.user_code,
            "verification_uri": update.verification_uri,
            "verification_uri_complete": update.verification_uri_complete,
            "expires_at": update.expires_at,
            "message": update.message,
        }
        self._wake.set()

    def snapshot(self) -> dict[str, Any]:
        """The status shown now: the hub's, the pairing flow's public part, recent warnings."""
        status = dict(self._status())
        flow = status.get("pairing_flow") or {}
        if flow.get("step") is None and self._flow is not None:
            status["pairing_flow"] = self._flow  # a flow the hub does not run itself (the demo)
        status["messages"] = list(self._capture.messages)[-5:]
        control = self.hub.attached("control") if self.hub is not None else None
        login_code = getattr(control, "login_code", None)
        if callable(login_code) and not self.plain:
            # Only on the hub's own screen: never in the status the API serves, never a log line.
            status["login_code"] = login_code()
        self._rates.annotate(status, time.monotonic())
        return status

    def render(self, status: Status, now: float) -> RenderableType:
        return render(status, now, show_qr=self.show_qr, reserve=0 if self.screen else 1)

    # -- running
    async def run_until(self, stop: asyncio.Event) -> None:
        """Show the hub until ``stop`` is set."""
        unsubscribe = self._subscribe()
        try:
            if self.plain:
                await self._run_plain(stop)
            else:
                await self._run_live(stop)
        finally:
            for undo in unsubscribe:
                undo()

    async def __aenter__(self) -> LiveView:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.run_until(self._stop), name="live-view")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            await self._task
        self._task = self._stop = None

    def _subscribe(self) -> list[Callable[[], None]]:
        hub = self.hub
        if hub is None:
            return []
        return [
            hub.events.on_event(self._event),
            hub.presence.on_change(lambda *_: self._wake.set()),
        ]

    def _event(self, event: dict[str, Any]) -> None:
        """The hub's one event stream: draw again now (a press, a take, a channel, pairing),
        and in plain mode, a line for a file done or failed."""
        kind = event.get("kind")
        if kind != "upload" or event.get("type") == "file":
            self._wake.set()
        if kind == "upload" and self.plain:
            self._upload_event(event)

    def _upload_event(self, event: dict[str, Any]) -> None:
        try:
            self.log.event(event)
        except Exception:  # the view never takes the uploader down
            log.exception("the live view could not show an upload event")

    async def _tick(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())}
        try:
            await asyncio.wait(waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _run_plain(self, stop: asyncio.Event) -> None:
        while True:
            try:
                self.log.observe(self.snapshot(), time.time())
            except Exception:
                log.exception("the live view could not read the hub's status")
            if stop.is_set():
                return
            await self._tick(stop)

    async def _run_live(self, stop: asyncio.Event) -> None:
        from rich.live import Live

        with (
            _logs_to_screen(self._capture),
            Live(
                console=self.console,
                screen=self.screen,
                auto_refresh=False,
                transient=False,
                vertical_overflow="crop",
            ) as live,
        ):
            while True:
                try:
                    # The snapshot is taken here, on the hub's loop; drawing it (rich takes a
                    # few tens of ms) happens in a thread, so audio and uploads keep flowing.
                    frame = self.render(self.snapshot(), time.time())
                    await asyncio.to_thread(live.update, frame, refresh=True)
                except Exception:
                    log.exception("the live view could not draw the hub's status")
                if stop.is_set():
                    return
                await self._tick(stop)


__all__ = [
    "LiveView",
    "PlainLog",
    "clean",
    "render",
    "wants_plain",
]
