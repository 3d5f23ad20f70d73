"""``c2c-hub doctor`` and ``c2c-hub service unit | paths``: running the hub as a service.

``doctor`` checks each part the hub depends on (:mod:`c2c_hub.doctor`) and says what to fix;
``service unit`` prints the systemd unit (:mod:`c2c_hub.service`) for this installation;
``service paths`` says where settings, state and logs are (:mod:`c2c_hub.locations`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from c2c_hub.ui.cli_kit import EXIT_FAILED, config_option, emit, json_option, load

if TYPE_CHECKING:
    from rich.console import Console

MARK = {"ok": ("ok", "green"), "warn": ("warn", "yellow"), "fail": ("FAIL", "bold red")}


def render_checks(data: dict[str, Any], out: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()
    for check in data["checks"]:
        label, style = MARK[check["state"]]
        found = Text(check["found"])
        if check.get("fix"):
            found.append(f"\n  fix: {check['fix']}", style="dim" if label == "ok" else style)
        table.add_row(Text(label, style=style), check["name"], found)
    out.print(table)
    failed = [c["name"] for c in data["checks"] if c["state"] == "fail"]
    out.print(
        f"[bold red]{len(failed)} to fix: {', '.join(failed)}[/]" if failed else "Nothing to fix."
    )


@click.command()
@config_option
@json_option
def doctor(config: str | None, as_json: bool) -> int:
    """Check what the hub depends on, and say what to fix.

    Frame.io reachability, the clock and its synchronisation, free space, permissions, BlueZ,
    JACK, NetworkManager and PTP. Exits 1 when something must be fixed (a "fail"); "warn" is
    for parts only some set-ups need. Changes nothing.
    """
    import asyncio

    from c2c_hub.doctor import FAIL, run_checks

    settings = load(config, as_json=as_json)
    checks = asyncio.run(run_checks(settings))
    data = {"checks": [c.to_json() for c in checks], "ok": all(c.state != FAIL for c in checks)}
    emit(data, as_json, render_checks)
    return 0 if data["ok"] else EXIT_FAILED


@click.group()
def service() -> None:
    """Run the hub as a systemd service: the unit, and where things are."""


@service.command("unit")
@click.option("--user", "user_unit", is_flag=True, help="The user's own unit (systemctl --user).")
@click.option(
    "--account",
    default="c2c-hub",
    show_default=True,
    help="The system service's user (and group) account.",
)
@json_option
def service_unit(user_unit: bool, account: str, as_json: bool) -> None:
    """Print the systemd unit (Type=notify, watchdog) for this installation.

    Save it as /etc/systemd/system/c2c-hub.service (or, with --user, as
    ~/.config/systemd/user/c2c-hub.service) and enable it; see docs/service.md.
    """
    from c2c_hub.service import command_path, render_unit

    text = render_unit(user=user_unit, account=account)
    if as_json:
        name = "c2c-hub.service"
        where = "~/.config/systemd/user/" if user_unit else "/etc/systemd/system/"
        click.echo(
            json.dumps(
                {"unit": text, "install_as": where + name, "exec": str(command_path())},
                indent=2,
            )
        )
    else:
        click.echo(text, nl=False)


@service.command("paths")
@config_option
@json_option
def service_paths(config: str | None, as_json: bool) -> None:
    """Where the hub reads its settings and keeps its state and logs."""
    from c2c_hub.locations import config_candidates
    from c2c_hub.log_outputs import LOG_DIR, LOG_FILE, journald_stream

    settings = load(config, as_json=as_json)
    used = config or next((str(p) for p in config_candidates() if p.is_file()), None)
    data = {
        "config_file": used,
        "config_candidates": [str(p) for p in config_candidates()],
        "data_dir": str(settings.storage.data_dir),
        "recordings": str(settings.recorder.directory),
        "log": "journald"
        if journald_stream()
        else str(Path(settings.storage.data_dir) / LOG_DIR / LOG_FILE),
    }

    def render(d: dict[str, Any], out: Console) -> None:
        out.print(f"Settings file:  {d['config_file'] or '(none: defaults and environment)'}")
        out.print("  looked for:   " + "\n                ".join(d["config_candidates"]))
        out.print(f"State:          {d['data_dir']}")
        out.print(f"Recordings:     {d['recordings']}")
        out.print(f"Log:            {d['log']}")

    emit(data, as_json, render)


commands = [doctor, service]
