"""``c2c-hub record | devices | presses | plugins``: takes, sub-devices, logging, plugins.

``record`` and ``devices`` drive the running hub (``c2c-hub run``) through its control socket.
``plugins`` asks the running hub when there is one (it knows the sources' health), and
otherwise loads the plugins here and lists what would load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from c2c_hub.settings import HubSettings
from c2c_hub.ui.cli_uploads import HubNotRunning, call

SettingsFn = Callable[[argparse.Namespace], HubSettings | None]


def _ask(settings: HubSettings, method: str, path: str, body: Any = None) -> Any:
    return asyncio.run(call(settings, method, path, body))


def render_take(data: dict[str, Any], console: Console) -> None:
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
    links = {c["serial"]: c for c in data["channels"].get("channels", [])}
    table = Table(title="Sub-devices", title_justify="left")
    for column in ("serial", "name", "model", "source", "channel", "state"):
        table.add_column(column)
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
        )
    console.print(table)
    console.print(
        f"Channels: {data['channels'].get('state')}; "
        f"{data['channels'].get('connects', 0)} connects, "
        f"{data['channels'].get('disconnects', 0)} disconnects, "
        f"{data['channels'].get('bulk_disconnects', 0)} bulk disconnects"
    )


def _hub_command(
    settings_fn: SettingsFn,
    name: str,
    fetch: Callable[[HubSettings, argparse.Namespace], Any],
    render: Callable[[Any, Console], None],
) -> Callable[[argparse.Namespace], int]:
    """A command that asks the running hub: ``fetch`` the data, then print it (or its JSON)."""

    def command(args: argparse.Namespace) -> int:
        settings = settings_fn(args)
        if settings is None:
            return 2
        try:
            data = fetch(settings, args)
        except (HubNotRunning, ValueError) as exc:
            print(f"c2c-hub {name}: {exc}", file=sys.stderr)
            return 1
        if data is None:
            return 0
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            render(data, Console())
        return 0

    return command


def _fetch_take(settings: HubSettings, args: argparse.Namespace) -> Any:
    if args.action == "start":
        body: dict[str, Any] = {}
        if args.scene:
            body["scene"] = args.scene
        if args.take is not None:
            body["take"] = args.take
        return {"take": _ask(settings, "POST", "/takes/start", body)}
    if args.action == "stop":
        return {"take": _ask(settings, "POST", "/takes/stop")}
    return _ask(settings, "GET", "/takes")


def _fetch_devices(settings: HubSettings, args: argparse.Namespace) -> Any:
    return _ask(settings, "GET", "/devices")


def render_presses(data: dict[str, Any], console: Console) -> None:
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


def _fetch_presses(settings: HubSettings, args: argparse.Namespace) -> Any:
    if args.resend:
        for press_id in args.resend:
            _ask(settings, "POST", f"/presses/{press_id}/resend")
            print(f"press {press_id}: will be sent again")
        return None
    return _ask(settings, "GET", "/presses")


def _plugins(settings_fn: SettingsFn) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from c2c_hub.plugin import PluginHost, format_plugins

        settings = settings_fn(args)
        if settings is None:
            return 2
        try:
            snapshot = _ask(settings, "GET", "/plugins")["plugins"]
            where = "the running hub"
        except HubNotRunning:
            host = PluginHost(settings.plugins)
            host.load()
            host.sources()
            snapshot = host.snapshot()
            where = "loaded here (no hub is running: sources not started)"
        except ValueError as exc:
            print(f"c2c-hub plugins: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(snapshot, indent=2, default=str))
        else:
            print(format_plugins(snapshot))
            print(f"({where})")
        return 0

    return command


def register(
    sub: Any,
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    settings_fn: SettingsFn,
) -> None:
    record = with_config(sub.add_parser("record", help="start or stop a take (running hub)"))
    record.add_argument("action", choices=["start", "stop", "status"])
    record.add_argument("--scene", help="scene name (default: the current scene)")
    record.add_argument("--take", type=int, help="take number (default: the next one)")
    record.add_argument("--json", action="store_true", help="machine-readable output")
    record.set_defaults(func=_hub_command(settings_fn, "record", _fetch_take, render_take))

    devices = with_config(sub.add_parser("devices", help="sub-devices and their channels"))
    devices.add_argument("--json", action="store_true", help="machine-readable output")
    devices.set_defaults(func=_hub_command(settings_fn, "devices", _fetch_devices, render_devices))

    presses = with_config(sub.add_parser("presses", help="button presses and their delivery"))
    presses.add_argument("--json", action="store_true", help="machine-readable output")
    presses.add_argument(
        "--resend", type=int, nargs="+", metavar="ID", help="send unconfirmed/failed presses again"
    )
    presses.set_defaults(func=_hub_command(settings_fn, "presses", _fetch_presses, render_presses))

    plugins = with_config(sub.add_parser("plugins", help="plugins, sources and their health"))
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_plugins(settings_fn))
