"""The recent logging events (button presses) and how each reached Frame.io."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean, duration_text
from c2c_hub.ui.live.layout import Column, Section

_PRESS_STYLE = {"sent": "green", "pending": "yellow", "sending": "yellow"}


def presses_section(status: Status, now: float) -> Section | None:
    presses = status.get("presses")
    if presses is None:
        return None
    counts: Mapping[str, int] = presses.get("counts") or {}
    title = Text.assemble(("Logging events ", "bold"))
    title.append(" · ".join(f"{k} {v}" for k, v in counts.items() if v) or "none yet")
    title.append(" ")
    section = Section(
        title,
        columns=[
            Column(style="dim", min_width=8),
            Column(),
            Column(style="bold"),
            Column(min_width=11),
            Column(min_width=4),
            Column(justify="right", min_width=6),
            Column(ratio=1, style="red"),
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
