"""``c2c-hub record | devices | presses | plugins``: takes, sub-devices, logging, plugins.

``record`` and ``devices`` drive the running hub (``c2c-hub run``) through its control socket.
``plugins`` asks the running hub when there is one (it knows the sources' health), and
otherwise loads the plugins here and lists what would load.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from c2c_hub.ui import status_text
from c2c_hub.ui.cli_kit import (
    EXIT_NO_HUB,
    EXIT_REFUSED,
    CommandFailed,
    ask,
    config_option,
    emit,
    json_option,
    load,
)

if TYPE_CHECKING:
    from rich.console import Console


def render_take(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    take = data.get("take") or data.get("last_take")
    if data.get("recording") is not None:
        state = "recording" if data.get("recording") else "idle"
        console.print(
            f"Recorder: {state}; scene {data.get('scene')}, next take {data.get('next_take')}; "
            f"timecode {data.get('timecode')} ({data.get('timecode_rate')})"
        )
    if not take:
        return
    seconds = take.get("seconds")
    length = f"{seconds:.2f} s" if seconds is not None else "rolling"
    if take.get("failure"):
        console.print(Text(f"The take stopped by itself: {take['failure']}", style="red"))
    for warning in take.get("warnings") or []:  # timecode warnings at the take's start
        console.print(Text(f"warning: {warning}", style="yellow"))
    table = Table(
        title=f"Scene {take['scene']} take {take['take']} at {take['start_timecode']} ({length})",
        title_justify="left",
    )
    for column in ("track", "microphone", "file", "frames", "dropouts", "upload"):
        table.add_column(column)
    for track in take.get("tracks", []):
        table.add_row(
            str(track["index"]),
            f"{track['name']} ({track['serial']})",
            track["path"].rsplit("/", 1)[-1],
            str(track["frames"]),
            f"{track['dropouts']} ({track['dropout_samples']} samples)"
            + (f"; {track['warning']}" if track.get("warning") else ""),
            f"file {track['file_id']}" if track.get("file_id") else (track.get("error") or "-"),
        )
    console.print(table)


def render_devices(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    links = {c["serial"]: c for c in data["channels"].get("channels", [])}
    table = Table(title="Sub-devices", title_justify="left")
    for column in ("serial", "name", "model", "source", "channel", "state", "clock"):
        table.add_column(column)
    warnings = []
    for device in data["devices"]:
        link = links.get(device["serial"], {})
        index = link.get("external_index")
        table.add_row(
            device["serial"],
            device["name"],
            device["model"],
            device["source"],
            "-" if index is None else str(index),
            link.get("state", "-") + (f": {link['error']}" if link.get("error") else ""),
            status_text.device_clock(device.get("details")) or "-",
        )
        warning = status_text.device_warning(device.get("details"))
        if warning:
            warnings.append(f"Warning: {device['serial']} ({device['name']}): {warning}")
    console.print(table)
    disagreement = status_text.ptp_disagreement(data["devices"])
    for line in [*warnings, *([f"Warning: {disagreement}"] if disagreement else [])]:
        console.print(line, style="yellow", highlight=False, markup=False)
    console.print(
        f"Channels: {data['channels'].get('state')}; "
        f"{data['channels'].get('connects', 0)} connects, "
        f"{data['channels'].get('disconnects', 0)} disconnects, "
        f"{data['channels'].get('bulk_disconnects', 0)} bulk disconnects"
    )


def render_presses(data: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(title="Button presses (real-time logging)", title_justify="left")
    for column in ("id", "remote", "input", "timecode", "state", "latency", "note"):
        table.add_column(column)
    for press in data["presses"][-50:]:
        latency = press.get("latency_s")
        table.add_row(
            str(press["id"]),
            press["device"],
            f"{press['input_index']} {press['input']}",
            f"{press['timecode']} @ {press['rate']}",
            press["state"],
            "-" if latency is None else f"{latency * 1000:.0f} ms",
            press.get("last_error") or "",
        )
    console.print(table)
    counts = data["snapshot"]["counts"]
    console.print(", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no presses yet")


# ---------------------------------------------------------------------------------- record
@click.group()
def record() -> None:
    """Takes: start or stop one (every attached microphone to its own track), or show them."""


@record.command("start")
@click.option("--scene", help="Scene name (default: the current scene).")
@click.option("--take", "take_number", type=int, help="Take number (default: the next one).")
@click.option("--force", is_flag=True, help="Start even with no source attached (no tracks).")
@config_option
@json_option
def record_start(
    scene: str | None, take_number: int | None, force: bool, config: str | None, as_json: bool
) -> None:
    """Start a take on the running hub.

    Exits 4 if a take is already rolling, or if no source is attached (the take would have
    no tracks) unless --force.
    """
    settings = load(config, as_json=as_json)
    body: dict[str, Any] = {"force": True} if force else {}
    if scene:
        body["scene"] = scene
    if take_number is not None:
        body["take"] = take_number
    take = ask(settings, "POST", "/takes/start", body, as_json=as_json)
    emit({"take": take}, as_json, render_take)


@record.command("stop")
@config_option
@json_option
def record_stop(config: str | None, as_json: bool) -> None:
    """Stop the take that is rolling; shows its tracks. Exits 4 if none is."""
    settings = load(config, as_json=as_json)
    take = ask(settings, "POST", "/takes/stop", as_json=as_json)
    emit({"take": take}, as_json, render_take)


@record.command("status")
@config_option
@json_option
def record_status(config: str | None, as_json: bool) -> None:
    """The recorder: rolling or idle, the scene, the next take, timecode; the last take."""
    settings = load(config, as_json=as_json)
    emit(ask(settings, "GET", "/takes", as_json=as_json), as_json, render_take)


# ---------------------------------------------------------------------------------- devices
@click.command()
@config_option
@json_option
def devices(config: str | None, as_json: bool) -> None:
    """Attached sub-devices (microphones, remotes), their models, sources and channels."""
    settings = load(config, as_json=as_json)
    emit(ask(settings, "GET", "/devices", as_json=as_json), as_json, render_devices)


# ---------------------------------------------------------------------------------- presses
@click.command()
@click.option(
    "--resend",
    "resend",
    type=int,
    multiple=True,
    metavar="ID",
    help="Send this unconfirmed or failed press again (repeat for several).",
)
@config_option
@json_option
def presses(resend: tuple[int, ...], config: str | None, as_json: bool) -> int:
    """Button presses (real-time logging): their timecode and delivery to Frame.io."""
    settings = load(config, as_json=as_json)
    if not resend:
        emit(ask(settings, "GET", "/presses", as_json=as_json), as_json, render_presses)
        return 0
    results: list[dict[str, Any]] = []
    for press_id in resend:
        try:
            ask(settings, "POST", f"/presses/{press_id}/resend", as_json=as_json)
            results.append({"id": press_id, "resent": True})
        except CommandFailed as exc:
            if exc.exit_code != EXIT_REFUSED:
                raise
            reason = exc.message.removeprefix("the hub refused: ")
            results.append({"id": press_id, "resent": False, "error": reason})
    refused = [r for r in results if not r["resent"]]
    if as_json:
        answer: dict[str, Any] = {"presses": results}
        if refused:
            answer["error"] = f"not sent again: press {', '.join(str(r['id']) for r in refused)}"
            answer["exit_code"] = EXIT_REFUSED
        click.echo(json.dumps(answer, indent=2))
    else:
        for r in results:
            if r["resent"]:
                click.echo(f"Press {r['id']}: will be sent again.")
            else:
                click.echo(f"Press {r['id']}: not sent again: {r['error']}", err=True)
    return EXIT_REFUSED if refused else 0


# ---------------------------------------------------------------------------------- plugins
@click.command()
@config_option
@json_option
def plugins(config: str | None, as_json: bool) -> None:
    """Plugins, their sources and their health (the running hub's, else loaded here)."""
    from c2c_hub.plugin import PluginHost, format_plugins

    settings = load(config, as_json=as_json)
    try:
        snapshot = ask(settings, "GET", "/plugins", as_json=as_json)["plugins"]
        where = "the running hub"
    except CommandFailed as exc:
        if exc.exit_code != EXIT_NO_HUB:
            raise
        host = PluginHost(settings.plugins)
        host.load()
        host.sources()
        snapshot = host.snapshot()
        where = "loaded here (no hub is running: sources not started)"
    if as_json:
        click.echo(json.dumps(snapshot, indent=2, default=str))
    else:
        click.echo(format_plugins(snapshot))
        click.echo(f"({where})")


commands = [record, devices, presses, plugins]
