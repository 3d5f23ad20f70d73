"""``c2c-hub timecode``: the timecode's source and state, and the offset at run time (click).

::

    c2c-hub timecode [show] [--json]      source, state (jammed, free-running, PTP), drift
    c2c-hub timecode offset FRAMES [--json]   set the offset (applied from the next take)

Exit status: 0 done, 2 usage, 3 no hub running, 4 refused by the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_REFUSED = 4


def _ask(config: str | None, method: str, path: str, body: Any = None) -> Any:
    from c2c_hub.settings import SettingsError, load_settings
    from c2c_hub.ui.cli_uploads import HubNotRunning, call

    try:
        settings = load_settings(Path(config) if config else None)
    except SettingsError as exc:
        click.echo(f"c2c-hub: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        return asyncio.run(call(settings, method, path, body))
    except HubNotRunning as exc:
        click.echo(f"c2c-hub timecode: {exc}", err=True)
        sys.exit(EXIT_NOT_RUNNING)
    except ValueError as exc:
        click.echo(f"c2c-hub timecode: refused: {exc}", err=True)
        sys.exit(EXIT_REFUSED)


def render(tc: dict[str, Any]) -> str:
    """The timecode status as lines for a sound mixer."""
    lines = [
        f"{tc.get('timecode')} ({tc.get('rate')}) · {tc.get('label')}: {tc.get('summary')}",
    ]
    offset = f"offset {int(tc.get('offset_frames') or 0):+d} frames"
    if tc.get("pending_offset_frames") is not None:
        offset += f" ({int(tc['pending_offset_frames']):+d} from the next take)"
    lines.append(offset)
    ltc = tc.get("ltc")
    if ltc:
        since = tc.get("since_jam_s")
        lines.append(
            f"LTC on {tc.get('ltc_device')} ch {tc.get('ltc_channel')}: {ltc.get('state')}, "
            f"last {ltc.get('last')}, user bits {ltc.get('user_bits')}, "
            f"{ltc.get('level_dbfs')} dBFS, rate {ltc.get('rate_detected')}, "
            f"{ltc.get('dropouts')} dropouts, {ltc.get('jumps')} jumps"
            + (f", last jam {since:.0f} s ago" if since is not None else "")
        )
    ptp = tc.get("ptp")
    if ptp:
        lines.append(f"PTP: {ptp.get('summary')}")
    run = tc.get("record_run") or {}
    if run.get("on"):
        lines.append(f"record-run on (pre-roll {run.get('preroll_s')} s)")
    for drift in tc.get("drift") or []:
        ms, ppm = drift.get("offset_ms"), drift.get("drift_ppm")
        lines.append(
            f"  {drift.get('serial')}: "
            + ("…" if ms is None else f"{ms:+.1f} ms")
            + ("" if ppm is None else f", {ppm:+.1f} ppm")
        )
    lines += [f"warning: {w}" for w in tc.get("warnings") or []]
    return "\n".join(lines)


@click.group(name="timecode", invoke_without_command=True)
@click.option("--config", help="TOML settings file (or C2C_HUB_CONFIG)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def timecode(ctx: click.Context, config: str | None, as_json: bool) -> None:
    """The hub's timecode: source, jam, offset, drift."""
    ctx.obj = {"config": config, "json": as_json}
    if ctx.invoked_subcommand is None:
        ctx.invoke(show)


@timecode.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def show(ctx: click.Context, as_json: bool = False) -> None:
    """Source and state of the timecode, offset, drift, warnings."""
    obj = ctx.obj or {}
    data = _ask(obj.get("config"), "GET", "/timecode")
    if as_json or obj.get("json"):
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render(data))


@timecode.command()
@click.argument("frames", type=int)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def offset(ctx: click.Context, frames: int, as_json: bool) -> None:
    """Set the offset in frames (negative: earlier); applied from the next take."""
    obj = ctx.obj or {}
    data = _ask(obj.get("config"), "PUT", "/timecode/offset", {"frames": frames})
    if as_json or obj.get("json"):
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(f"timecode offset {frames:+d} frames, applied {data.get('applies')}")


def register(
    sub: Any,
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    settings_fn: Callable[[argparse.Namespace], Any],
) -> None:
    """Today's argparse CLI: ``c2c-hub timecode ...`` hands its arguments to the click group."""
    parser = sub.add_parser(
        "timecode", help="timecode source, jam, offset and drift", add_help=False
    )
    parser.add_argument("-h", "--help", action="store_true", dest="tc_help")
    parser.add_argument("--json", action="store_true", dest="tc_json")
    parser.add_argument("--config", dest="tc_config")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=_from_argparse)


def _from_argparse(args: argparse.Namespace) -> int:
    argv = ["--config", args.tc_config] if args.tc_config else []
    argv += ["--json"] if args.tc_json else []
    argv += list(args.rest) + (["--help"] if args.tc_help else [])
    try:
        timecode.main(args=argv, prog_name="c2c-hub timecode", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (EXIT_USAGE if exc.code else 0)
    return 0


__all__ = ["register", "render", "timecode"]
