"""The whole screen: the pure :func:`render` of a status dict at a time."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.text import Text

from c2c_hub.ui.live.devices import devices_section
from c2c_hub.ui.live.format import PAIRED_STATES, Status, clean
from c2c_hub.ui.live.header import header_lines, web_line
from c2c_hub.ui.live.layout import Block, Pair, allocate
from c2c_hub.ui.live.messages import messages_section
from c2c_hub.ui.live.meters import meters_section
from c2c_hub.ui.live.network import network_line
from c2c_hub.ui.live.pairing import pairing_panel
from c2c_hub.ui.live.presses import presses_section
from c2c_hub.ui.live.take import take_section
from c2c_hub.ui.live.timecode import timecode_section
from c2c_hub.ui.live.uploads import uploads_section


class Screen:
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
            header = header_lines(status, now, width)
            top += header
            used += len(header)
        else:
            panel = pairing_panel(status, now, width, height - 3, self.show_qr)
            top.append(panel)
            used += len(console.render_lines(panel, options.reset_height(), pad=False))
            top.append(network_line(status))
            used += 1
        web = web_line(status)
        if web is not None:
            top.append(web)
            used += 1
        blocks: list[Block] = []
        if pairing.get("state") in PAIRED_STATES:
            blocks.append(uploads_section(status, now))
            recording = take_section(status, now)
            if recording is not None:
                blocks.append(recording)
        levels = meters_section(status)
        if levels is not None:
            blocks.append(levels)
        blocks += [b for b in (timecode_section(status, now),) if b is not None]
        devices, presses = devices_section(status), presses_section(status, now)
        if devices is not None and presses is not None and width >= 120:
            blocks.append(Pair(devices, presses))
        else:
            blocks += [b for b in (devices, presses) if b is not None]
        messages = messages_section(status)
        if messages is not None:
            blocks.append(messages)
        bottom = keys_lines(status, width)
        used += len(bottom)
        shown = allocate(blocks, height - used)
        view = Group(
            *top, *(b.draw(n) for b, n in zip(blocks, shown, strict=True) if n >= 0), *bottom
        )
        # Rendered at its natural height: a panel given the screen's height would fill it.
        yield from console.render(view, options.reset_height())


def keys_lines(status: Status, width: int) -> list[RenderableType]:
    """The keys' help line and the last key's outcome (when the view reads keys)."""
    keys = status.get("keys")
    if not keys:
        return []
    lines: list[RenderableType] = []
    if keys.get("notice"):
        lines.append(
            Text(clean(keys["notice"]), style="bold yellow", no_wrap=True, overflow="ellipsis")
        )
    lines.append(Text(clean(keys.get("help")), style="reverse", no_wrap=True, overflow="ellipsis"))
    return lines


def render(status: Status, now: float, *, show_qr: bool = True, reserve: int = 0) -> RenderableType:
    """The operator's view of ``status`` (a :meth:`Hub.status` dict, plus the optional
    ``pairing_flow`` and ``messages`` keys :class:`LiveView` adds) at wall time ``now``.

    Pure: it reads nothing else. It takes the height it is given (``reserve`` rows fewer).
    """
    return Screen(status, now, show_qr=show_qr, reserve=reserve)
