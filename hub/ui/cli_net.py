"""``c2c-hub net ...``: the recorder's networks, through the running hub (its control socket).

::

    c2c-hub net list                       # in use and why, health, Wi-Fi in range, saved, modems
    c2c-hub net scan                       # scan for Wi-Fi networks
    c2c-hub net connect SSID --psk-file F  # join and save (or --psk-stdin; asked when a terminal)
    c2c-hub net use NAME                   # switch to a saved network (Wi-Fi, Ethernet, cellular)
    c2c-hub net forget NAME                # forget a saved network (name, SSID or UUID)
    c2c-hub net priority NAME N            # its priority among saved networks
    c2c-hub net static NAME 192.168.1.50/24 --gateway 192.168.1.1 --dns 1.1.1.1
    c2c-hub net dhcp NAME

Every command takes ``--json`` and ``--config``. Exit status: 0 done, 2 usage, 3 no hub running,
4 refused (bad input, NetworkManager failed, or no NetworkManager: the message says which).
The PSK is never an argument (it would show in the process list): a file, standard input, or a
hidden prompt; it is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from c2c_hub.ui.cli_uploads import HubNotRunning, control_client

#: Joining a network may take NetworkManager up to 45 s, and restoring the previous one as long.
TIMEOUT_S = 120.0
EXIT_USAGE = 2
EXIT_NO_HUB = 3
EXIT_REFUSED = 4
HEALTH_STYLE = {"good": "green", "degraded": "yellow", "offline": "red", "unknown": "dim"}


def _settings(config: str | None) -> Any:
    from c2c_hub.settings import SettingsError, load_settings

    try:
        return load_settings(Path(config) if config else None)
    except SettingsError as exc:
        click.echo(f"c2c-hub net: {exc}", err=True)
        sys.exit(EXIT_USAGE)


async def call(settings: Any, method: str, path: str, body: Any = None) -> Any:
    """As :func:`c2c_hub.ui.cli_uploads.call`, with time for NetworkManager to try and fail."""
    async with control_client(settings) as client:
        client.timeout = httpx.Timeout(TIMEOUT_S)
        try:
            response = await client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise HubNotRunning(f"the hub does not answer on its control socket ({exc})") from None
    data = response.json()
    if response.status_code >= 400:
        raise ValueError(data.get("error", response.text))
    return data


def _ask(
    ctx_json: bool,
    config: str | None,
    method: str,
    path: str,
    body: Any = None,
    render: Callable[[Any, Console], None] | None = None,
) -> None:
    settings = _settings(config)
    try:
        data = asyncio.run(call(settings, method, path, body))
    except HubNotRunning as exc:
        click.echo(f"c2c-hub net: {exc}", err=True)
        sys.exit(EXIT_NO_HUB)
    except ValueError as exc:
        click.echo(f"c2c-hub net: {exc}", err=True)
        sys.exit(EXIT_REFUSED)
    if ctx_json:
        click.echo(json.dumps(data, indent=2))
    elif render is not None:
        render(data, Console())
    else:
        click.echo(_done(data))


def _done(data: dict[str, Any]) -> str:
    if "joined" in data:
        return f"Now on {data['joined']} (saved)."
    if "forgot" in data:
        return f"Forgot {data['forgot']}."
    if "priority" in data:
        return f"{data['network']}: priority {data['priority']}."
    if "addressing" in data:
        a = data["addressing"]
        what = "DHCP" if a["method"] == "dhcp" else f"static {a['address']}"
        when = "now" if data.get("applied") else "next time it connects"
        return f"{data['network']}: {what} ({when})."
    return json.dumps(data)


# ---------------------------------------------------------------------- rendering
def render_networks(data: dict[str, Any], console: Console) -> None:
    health = data.get("health") or {}
    style = HEALTH_STYLE.get(health.get("verdict", ""), "")
    console.print(
        Text(f"Network: {health.get('verdict', '?')} - {health.get('reason', '')}", style=style)
    )
    using = data.get("in_use")
    if using:
        detail = [using.get("kind") or "?"]
        if using.get("ssid"):
            detail.append(f"SSID {using['ssid']}")
        if using.get("operator"):
            detail.append(f"{using['operator']} {using.get('technology') or ''}".strip())
        if using.get("signal") is not None:
            detail.append(f"signal {using['signal']}%")
        if using.get("link_rate_mbps"):
            detail.append(f"link {using['link_rate_mbps']:g} Mbit/s")
        console.print(f"In use: {using.get('name')} ({', '.join(detail)}); why: {using.get('why')}")
    else:
        console.print("In use: nothing")
    upload = data.get("upload") or {}
    if upload.get("mbps") is not None:
        age = upload.get("age_s")
        console.print(
            f"Upload speed: {upload['mbps']:.2f} Mbit/s"
            + (f", measured {age:.0f} s ago" if age is not None else "")
        )
    else:
        console.print("Upload speed: not measured yet")
    frameio = data.get("frameio") or {}
    rtt = frameio.get("rtt_ms")
    console.print(
        "Frame.io: "
        + {True: "reachable", False: "unreachable", None: "not checked yet"}[
            frameio.get("reachable")
        ]
        + (f" ({rtt:.0f} ms)" if rtt is not None else "")
    )
    routes = data.get("routes") or {}
    for family in ("ipv4", "ipv6"):
        found = routes.get(family) or []
        text = ", ".join(f"{r['interface']} via {r['gateway'] or 'link'}" for r in found) or "none"
        console.print(f"Default route {family[:2].upper()}v{family[-1]}: {text}")
    if not data.get("controls"):
        console.print(Text(f"Controls off: {data.get('why_no_controls')}", style="yellow"))
    if data.get("busy"):
        console.print(Text(f"Busy: {data['busy']}", style="cyan"))
    last = data.get("last_action")
    if last:
        console.print(
            Text(f"Last action: {last['message']}", style="green" if last["ok"] else "red")
        )
    for modem in data.get("modems") or []:
        console.print(
            f"Modem: {modem.get('operator') or 'no operator'}, {modem.get('technology') or '?'}, "
            f"signal {modem.get('signal')}%, {modem.get('state')}"
        )
    if data.get("wifi"):
        render_wifi(data["wifi"], console)
    if data.get("saved"):
        table = Table(title="Saved networks", title_justify="left")
        for column in ("name", "kind", "priority", "auto", "addressing", "in use"):
            table.add_column(column)
        for saved in data["saved"]:
            a = saved["addressing"]
            table.add_row(
                saved["name"],
                saved["kind"],
                str(saved["priority"]),
                "yes" if saved["autoconnect"] else "no",
                "DHCP" if a["method"] == "dhcp" else f"{a['address']} gw {a['gateway'] or '-'}",
                "*" if saved["in_use"] else "",
            )
        console.print(table)


def render_wifi(networks: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Wi-Fi in range", title_justify="left")
    for column in ("SSID", "signal", "security", "band", "saved", "in use"):
        table.add_column(column)
    for n in networks:
        table.add_row(
            n["ssid"],
            f"{n['signal']}%",
            n["security"],
            n["band"],
            "yes" if n["saved"] else "",
            "*" if n["in_use"] else "",
        )
    console.print(table)


# ---------------------------------------------------------------------- commands
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")
config_option = click.option("--config", help="TOML settings file (or C2C_HUB_CONFIG)")


@click.group(name="net", help="The recorder's networks: Wi-Fi, DHCP or static, cellular.")
def net() -> None:
    pass


@net.command(name="list", help="in use and why, health, Wi-Fi in range, saved networks, modems")
@json_option
@config_option
def list_(as_json: bool, config: str | None) -> None:
    _ask(as_json, config, "GET", "/networks", render=render_networks)


@net.command(help="scan for Wi-Fi networks")
@json_option
@config_option
def scan(as_json: bool, config: str | None) -> None:
    _ask(as_json, config, "POST", "/networks/scan", render=lambda d, c: render_wifi(d["wifi"], c))


def _read_psk(psk_file: str | None, psk_stdin: bool) -> str | None:
    if psk_file and psk_stdin:
        raise click.UsageError("give --psk-file or --psk-stdin, not both")
    if psk_file:
        try:
            text = Path(psk_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot read the PSK file: {exc.strerror}") from None
        return text.splitlines()[0] if text else ""
    if psk_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return None


@net.command(help="join a Wi-Fi network and save it")
@click.argument("ssid")
@click.option("--psk-file", type=click.Path(dir_okay=False), help="a file holding the password")
@click.option("--psk-stdin", is_flag=True, help="read the password from standard input")
@click.option("--open", "open_network", is_flag=True, help="an open network: no password")
@click.option("--priority", type=click.IntRange(-999, 999), default=None)
@click.option("--no-autoconnect", is_flag=True, help="join only when asked")
@click.option("--hidden", is_flag=True, help="a network that does not announce its name")
@json_option
@config_option
def connect(
    ssid: str,
    psk_file: str | None,
    psk_stdin: bool,
    open_network: bool,
    priority: int | None,
    no_autoconnect: bool,
    hidden: bool,
    as_json: bool,
    config: str | None,
) -> None:
    psk = _read_psk(psk_file, psk_stdin)
    if psk is None and not open_network:
        if not sys.stdin.isatty():
            raise click.UsageError("give the password with --psk-file or --psk-stdin (or --open)")
        psk = click.prompt(f"Password for {ssid}", hide_input=True)
    body: dict[str, Any] = {"ssid": ssid, "autoconnect": not no_autoconnect, "hidden": hidden}
    if psk is not None:
        body["psk"] = psk
    if priority is not None:
        body["priority"] = priority
    _ask(as_json, config, "POST", "/networks/connect", body)


@net.command(help="switch to a saved network (Wi-Fi, Ethernet or cellular)")
@click.argument("name")
@json_option
@config_option
def use(name: str, as_json: bool, config: str | None) -> None:
    _ask(as_json, config, "POST", f"/networks/{quote(name, safe='')}/use")


@net.command(help="forget a saved network")
@click.argument("name")
@json_option
@config_option
def forget(name: str, as_json: bool, config: str | None) -> None:
    _ask(as_json, config, "POST", f"/networks/{quote(name, safe='')}/forget")


@net.command(help="a saved network's priority (higher joins first)")
@click.argument("name")
@click.argument("priority", type=click.IntRange(-999, 999))
@json_option
@config_option
def priority(name: str, priority: int, as_json: bool, config: str | None) -> None:
    path = f"/networks/{quote(name, safe='')}/priority"
    _ask(as_json, config, "PUT", path, {"priority": priority})


@net.command(help="a static IPv4 address for a saved network")
@click.argument("name")
@click.argument("address")
@click.option("--gateway")
@click.option("--dns", multiple=True, help="a DNS server (repeat for more)")
@json_option
@config_option
def static(
    name: str,
    address: str,
    gateway: str | None,
    dns: tuple[str, ...],
    as_json: bool,
    config: str | None,
) -> None:
    body = {"method": "static", "address": address, "gateway": gateway, "dns": list(dns)}
    _ask(as_json, config, "PUT", f"/networks/{quote(name, safe='')}/addressing", body)


@net.command(help="DHCP for a saved network")
@click.argument("name")
@json_option
@config_option
def dhcp(name: str, as_json: bool, config: str | None) -> None:
    body = {"method": "dhcp"}
    _ask(as_json, config, "PUT", f"/networks/{quote(name, safe='')}/addressing", body)


def main(args: list[str]) -> int:
    """Run the group with ``args``; its exit status."""
    try:
        net.main(args=args, prog_name="c2c-hub net", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    return 0


def register(sub: Any, with_config: Callable[..., Any], settings_fn: Any) -> None:
    """Today's argparse CLI hands ``c2c-hub net ...`` to the click group as is."""
    parser = sub.add_parser(
        "net", help="networks: Wi-Fi, DHCP or static, cellular", add_help=False, prefix_chars="\x01"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER)
    parser.set_defaults(func=lambda ns: main(list(ns.args)))
