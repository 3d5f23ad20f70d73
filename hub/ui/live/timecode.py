"""The timecode: its source and state (jammed, free-running, PTP lock), offset, and drift."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean
from c2c_hub.ui.live.layout import Column, Section


def timecode_section(status: Status, now: float) -> Section | None:
    tc: dict[str, Any] | None = status.get("timecode")
    if not tc:
        return None
    warnings = tc.get("warnings") or []
    offset = int(tc.get("offset_frames") or 0)
    pending = tc.get("pending_offset_frames")
    title = Text.assemble(
        ("Timecode ", "bold"),
        (clean(tc.get("timecode")), "bold"),
        f" ({clean(tc.get('rate'))}) · ",
        (clean(tc.get("label")), "bold cyan"),
        f": {clean(tc.get('summary'))}",
        f" · offset {offset:+d} fr" if offset or pending is not None else "",
        f" (next take {int(pending):+d})" if pending is not None else "",
        " ",
    )
    section = Section(
        title,
        columns=[Column(min_width=14), Column(justify="right", min_width=12), Column(ratio=1)],
    )
    ltc = tc.get("ltc")
    if ltc:
        since = tc.get("since_jam_s")
        section.rows.append(
            Text(
                f"  LTC {clean(ltc.get('state'))} · {clean(ltc.get('last'))} · "
                f"ubits {clean(ltc.get('user_bits'))} · {clean(ltc.get('level_dbfs'))} dBFS · "
                f"rate {clean(ltc.get('rate_detected'))}"
                + (f" · last jam {float(since):.0f} s ago" if since is not None else "")
                + f" · {int(ltc.get('dropouts') or 0)} dropouts"
                + f", {int(ltc.get('jumps') or 0)} jumps",
                style="dim",
            )
        )
    for drift in tc.get("drift") or []:
        ms, ppm = drift.get("offset_ms"), drift.get("drift_ppm")
        late = ms is not None and abs(float(ms)) > float(tc.get("drift_warn_ms") or 50)
        section.rows.append(
            (
                Text(f"  {clean(drift.get('serial'))}"),
                Text(
                    "…" if ms is None else f"{float(ms):+.1f} ms",
                    style="bold red" if late else "green",
                ),
                Text("" if ppm is None else f"{float(ppm):+.1f} ppm", style="dim"),
            )
        )
    for warning in warnings:
        section.rows.append(Text(f"  ⚠ {clean(warning)}", style="bold yellow"))
    return section
