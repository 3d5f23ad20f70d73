"""``c2c-hub mix``: the mix of the running hub (a click group, for the click CLI).

``c2c-hub mix [--json]`` shows it; ``c2c-hub mix set KEY [--gain-db G] [--pan P]
[--mute/--unmute]`` changes one track (a serial or a name; while rolling, from the next block
mixed); ``c2c-hub mix mode mono|stereo`` sets the mode from the next take.
Exit codes: 0 done, 2 usage, 3 no hub running, 4 refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from c2c_hub.settings import SettingsError, load_settings
from c2c_hub.ui.cli_uploads import HubNotRunning, call

EXIT_NO_HUB = 3
EXIT_REFUSED = 4


def _call(ctx: click.Context, method: str, path: str, body: Any = None) -> Any:
    try:
        settings = load_settings(Path(ctx.obj["config"]) if ctx.obj.get("config") else None)
    except SettingsError as exc:
        click.echo(f"c2c-hub: {exc}", err=True)
        ctx.exit(2)
    try:
        return asyncio.run(call(settings, method, path, body))
    except HubNotRunning as exc:
        click.echo(f"c2c-hub: {exc}", err=True)
        ctx.exit(EXIT_NO_HUB)
    except ValueError as exc:
        click.echo(f"c2c-hub: refused: {exc}", err=True)
        ctx.exit(EXIT_REFUSED)


def _show(data: dict[str, Any]) -> None:
    settings = data.get("settings", {})
    click.echo(
        f"mix: {'on' if data.get('enabled') else 'off'}, {settings.get('mode')}; "
        f"proxies: {'on' if data.get('proxies', {}).get('enabled') else 'off'} "
        f"({data.get('proxies', {}).get('bitrate_kbps')} kbit/s); "
        f"poly: {'on' if data.get('poly') else 'off'}; "
        f"upload order: {', '.join(data.get('upload_order', []))}"
    )
    live = (data.get("live") or {}).get("mix") or {}
    rows = live.get("tracks") or [
        {"key": k, "name": k, **v} for k, v in settings.get("tracks", {}).items()
    ]
    for t in rows:
        click.echo(
            f"  {t.get('name') or t['key']:<20} {t['gain_db']:+6.1f} dB  pan {t['pan']:+.2f}"
            f"{'  MUTED' if t['mute'] else ''}"
        )


@click.group(name="mix", invoke_without_command=True)
@click.option("--config", help="TOML settings file (or C2C_HUB_CONFIG)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def mix(ctx: click.Context, config: str | None, as_json: bool) -> None:
    """The mix of the running hub."""
    ctx.ensure_object(dict)
    ctx.obj.update(config=config, json=as_json)
    if ctx.invoked_subcommand is None:
        data = _call(ctx, "GET", "/mix")
        click.echo(json.dumps(data, indent=2, sort_keys=True)) if as_json else _show(data)


@mix.command(name="set")
@click.argument("key")
@click.option("--gain-db", type=click.FloatRange(-120, 24), help="gain in dB")
@click.option("--pan", type=click.FloatRange(-1, 1), help="-1 left, 0 centre, 1 right")
@click.option("--mute/--unmute", default=None, help="leave out of the mix, or put back")
@click.pass_context
def set_track(
    ctx: click.Context, key: str, gain_db: float | None, pan: float | None, mute: bool | None
) -> None:
    """One track's gain, pan or mute (KEY: a serial or a name)."""
    body = {
        k: v for k, v in {"gain_db": gain_db, "pan": pan, "mute": mute}.items() if v is not None
    }
    if not body:
        raise click.UsageError("give --gain-db, --pan, --mute or --unmute")
    data = _call(ctx, "PUT", f"/mix/tracks/{quote(key, safe='')}", body)
    click.echo(json.dumps(data) if ctx.obj["json"] else f"{key}: {data}")


@mix.command(name="mode")
@click.argument("mode", type=click.Choice(["mono", "stereo"]))
@click.pass_context
def set_mode(ctx: click.Context, mode: str) -> None:
    """Mono or stereo, from the next take."""
    data = _call(ctx, "PUT", "/mix/mode", {"mode": mode})
    click.echo(json.dumps(data) if ctx.obj["json"] else f"mix mode {mode} from the next take")


def main(argv: list[str]) -> int:
    """Run the group with ``argv``; its exit code."""
    try:
        code = mix.main(args=argv, prog_name="c2c-hub mix", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.Abort:
        return 1


def register(sub: Any) -> None:
    """Today's argparse CLI: ``c2c-hub mix ...`` hands its arguments to the click group."""
    parser = sub.add_parser("mix", help="the mix: gains, pans, mutes (running hub)", add_help=False)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda args: main(list(args.rest)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
