"""The upload queue: totals in the title, a bar per current file, the recent problems."""

from __future__ import annotations

from collections.abc import Mapping

from rich.progress_bar import ProgressBar
from rich.text import Text

from c2c_hub.ui import status_text
from c2c_hub.ui.live.format import Status, clean, rate_text, size_text
from c2c_hub.ui.live.layout import Column, Section, one_line


def uploads_section(status: Status, now: float) -> Section:
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
    section = Section(
        title,
        columns=[
            Column(ratio=3, min_width=16),
            Column(ratio=2, min_width=6),
            Column(justify="right", min_width=4),
            Column(justify="right", min_width=9),
            Column(justify="right", min_width=10),
            Column(style="dim", max_width=28),
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
            one_line(
                (f"  ✗ {clean(label)} ", "bold red"),
                (clean(problem.get("name")), "bold"),
                ": ",
                (clean(problem.get("reason")), "red"),
            )
        )
    for dup in reversed(uploads.get("possible_duplicates") or []):
        # a create that may have left an incomplete extra asset on Frame.io (see uploader.md)
        section.rows.append(
            one_line(
                ("  ? duplicate ", "bold yellow"),
                (clean(dup.get("name")), "bold"),
                ": Frame.io may hold an incomplete extra asset (",
                (clean(dup.get("why")), "yellow"),
                ")",
            )
        )
    # How the parts go up (the part streams, TCP's congestion control and why): with the queue
    # empty it shares the "queue empty" line; else it is the first row.
    streams = status_text.part_streams(uploads.get("part_streams"))
    cc = status_text.congestion(uploads.get("congestion_control"))
    if streams or cc:
        line = Text("  ")
        if streams:
            line.append("parts ", "bold").append(clean(streams))
        if cc:
            line.append(" · " if streams else "").append("TCP ", "bold").append(clean(cc))
        if section.rows:
            section.rows.insert(0, one_line(line))
        elif section.empty:
            section.empty = f"{section.empty} · {line.plain.strip()}"
        else:
            section.rows.append(one_line(line))
    return section
