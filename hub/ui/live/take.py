"""The recorder: the take being recorded and its tracks, or the next take and the last one."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean, clock_text
from c2c_hub.ui.live.layout import Column, Section


def take_section(status: Status, now: float) -> Section | None:
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
        section = Section(title)
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
    section = Section(
        title,
        columns=[
            Column(justify="right", min_width=2),
            Column(min_width=12),
            Column(style="dim"),
            Column(justify="right", min_width=14),
            Column(justify="right", min_width=11),
            Column(ratio=1),
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
