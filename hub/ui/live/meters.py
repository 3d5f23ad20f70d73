"""The level meters: one row per track, a bar of its RMS with its peak, and the numbers in dBFS
(``status["meters"]``, the numbers the web page draws too)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean
from c2c_hub.ui.live.layout import Column, Section

FLOOR_DBFS = -60.0
BAR = 24


def meter_bar(reading: dict[str, Any], width: int = BAR) -> Text:
    """``width`` cells: the RMS filled, the peak (and hold) marked, coloured by level."""
    rms, peak, hold = (reading.get(k) for k in ("rms_dbfs", "peak_dbfs", "hold_dbfs"))

    def cells(level: Any) -> int:
        if level is None:
            return 0
        return max(0, min(width, round((float(level) - FLOOR_DBFS) / -FLOOR_DBFS * width)))

    filled, top, held = cells(rms), cells(peak), cells(hold)
    colour = "red" if reading.get("clip") else "yellow" if (peak or -99) > -6 else "green"
    bar = Text()
    for i in range(1, width + 1):
        if i <= filled:
            bar.append("█", style=colour)
        elif i <= top:
            bar.append("▒", style=colour)
        elif i == held:
            bar.append("│", style=colour)
        else:
            bar.append("·", style="dim")
    return bar


def _db(value: Any) -> str:
    return "  -∞" if value is None else f"{float(value):5.1f}"


def meters_section(status: Status) -> Section | None:
    meters = status.get("meters") or {}
    tracks = meters.get("tracks") or []
    if not tracks:
        return None
    section = Section(
        Text.assemble(("Meters ", "bold"), ("dBFS: peak / RMS / hold ", "dim")),
        columns=[
            Column(min_width=10, max_width=18),
            Column(min_width=BAR, max_width=BAR),
            Column(justify="right", min_width=20),
            Column(min_width=9),
        ],
    )
    for reading in tracks:
        section.rows.append(meter_row(reading))
    return section


def meter_row(reading: dict[str, Any]) -> tuple[Text, Text, str, Text]:
    """One track's meter: its name, its bar, peak / RMS / hold in dBFS, and ``CLIP``,
    ``no audio`` or ``no signal`` (the *Meters* panel's row; the demo prints the same)."""
    if reading.get("clip"):
        note = Text("CLIP", style="bold white on red")
    elif not reading.get("signal"):
        why = "no audio" if reading.get("state") == "no_audio" else "no signal"
        note = Text(why, style="bold yellow")
    else:
        note = Text("")
    return (
        Text(clean(reading.get("name")), style="bold"),
        meter_bar(reading),
        f"{_db(reading.get('peak_dbfs'))} {_db(reading.get('rms_dbfs'))} "
        f"{_db(reading.get('hold_dbfs'))}",
        note,
    )
