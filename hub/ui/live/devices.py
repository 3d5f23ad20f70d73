"""The sub-devices and their Frame.io channels, and the plugins or device sources in trouble."""

from __future__ import annotations

from rich.text import Text

from c2c_hub.ui import status_text
from c2c_hub.ui.live.format import Status, clean, duration_text
from c2c_hub.ui.live.layout import Column, Section, one_line


def devices_section(status: Status) -> Section | None:
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
    section = Section(
        title,
        columns=[
            Column(min_width=8, style="dim"),
            Column(min_width=12, style="bold"),
            Column(style="dim"),
            Column(ratio=1),
        ],
        empty="none attached",
    )
    disagreement = status_text.ptp_disagreement(devices)
    if disagreement:
        section.rows.append(one_line(("  ⚠ " + clean(disagreement), "bold yellow")))
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
        elif device.get("kind") == "local_input":  # the recorder's own: on the primary channel
            where = Text(f"primary ← {clean(device.get('address'))}", style="green")
        else:
            where = Text("no channel", style="dim")
        clock = status_text.device_clock(device.get("details"))
        if clock:
            where.append(f" · {clean(clock)}", style="dim")
        section.rows.append(
            (
                clean(device.get("serial")),
                clean(device.get("name")),
                clean(device.get("model")),
                where,
            )
        )
        warning = status_text.device_warning(device.get("details"))
        if warning:
            section.rows.append(
                one_line(
                    (f"  ⚠ {clean(device.get('serial'))} ", "bold yellow"),
                    (clean(warning), "yellow"),
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
