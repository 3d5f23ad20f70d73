"""The ``c2c-hub`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from c2c_hub.settings import HubSettings

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub
from c2c_hub.version import __version__


def _settings(args: argparse.Namespace) -> HubSettings | None:
    from c2c_hub.settings import SettingsError, load_settings

    try:
        return load_settings(Path(args.config) if args.config else None)
    except SettingsError as exc:
        print(f"c2c-hub: {exc}", file=sys.stderr)
        return None


def _pair(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    return asyncio.run(_pair_async(settings, args))


async def _pair_async(settings: HubSettings, args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    from c2c_hub.frameio import FrameioError
    from c2c_hub.pairing import PairingCancelled, PairingDenied
    from c2c_hub.runtime import Hub
    from c2c_hub.session import NeedsPairing
    from c2c_hub.tokens import PairingState
    from c2c_hub.ui.terminal import PairingView

    console = Console()
    running = await _through_running_hub(settings, args, console)
    if running is not None:
        return running
    async with Hub(settings) as hub:
        await hub.session.start()
        if hub.session.state is PairingState.PAIRED and not args.force:
            creds = hub.session.credentials
            name = creds.project_name if creds else None
            console.print(
                f"Already paired (project {name!r}). "
                "Run 'c2c-hub unpair' first, or 'c2c-hub pair --force'."
            )
            return 1
        if hub.session.state is not PairingState.UNPAIRED:
            await hub.session.unpair()
        pairing = hub.pairing()
        view = PairingView(show_qr=not args.no_qr)
        pairing.subscribe(view)
        task = pairing.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, pairing.cancel)
        loop.add_signal_handler(signal.SIGTERM, pairing.cancel)
        try:
            with Live(view.render(), console=console, refresh_per_second=2, transient=True) as live:
                while not task.done():
                    live.update(view.render())
                    await asyncio.wait({task}, timeout=0.5)
            device = await task
        except asyncio.CancelledError:
            console.print("Pairing cancelled. Nothing was stored.")
            return 130
        except PairingDenied:
            console.print("The code was declined in Frame.io. Nothing was stored.")
            return 1
        except (PairingCancelled, FrameioError, NeedsPairing) as exc:
            console.print(f"Pairing failed: {exc}")
            return 1
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        creds = hub.session.credentials
        console.print("[bold green]Paired.[/]")
        console.print(f"  Project:        {device.project.name}  ({device.project.id})")
        if device.authorization and device.authorization.creator:
            console.print(f"  Authorized by:  {device.authorization.creator.name}")
        if device.authorization and device.authorization.expires_at:
            console.print(f"  Expires:        {device.authorization.expires_at.isoformat()}")
        console.print(f"  Device:         {device.name}")
        console.print(f"  Status:         {device.status}")
        if creds is not None:
            console.print(f"  Stored in:      {hub.store.path} (encrypted, owner-only)")
    return 0


async def _through_running_hub(
    settings: HubSettings, args: argparse.Namespace, console: Any
) -> int | None:
    """With a hub running, pair through it (its control API): one writer of the tokens.

    None when no hub is running (the caller pairs by itself).
    """
    from rich.live import Live

    from c2c_hub.pairing import PairingStep, PairingUpdate
    from c2c_hub.ui.cli_uploads import HubNotRunning, call
    from c2c_hub.ui.terminal import PairingView

    try:
        status = await call(settings, "GET", "/status")
    except HubNotRunning:
        return None
    if status["pairing"]["state"] == "paired" and not args.force:
        console.print(
            f"Already paired (project {status['pairing'].get('project_name')!r}). "
            "Run 'c2c-hub unpair' first, or 'c2c-hub pair --force'."
        )
        return 1
    if status["pairing"]["state"] != "unpaired":
        await call(settings, "POST", "/unpair")
    try:
        await call(settings, "POST", "/pairing/start")
    except ValueError as exc:
        console.print(f"Pairing failed: {exc}")
        return 1
    view = PairingView(show_qr=not args.no_qr)
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, cancel.set)
    loop.add_signal_handler(signal.SIGTERM, cancel.set)
    state: dict[str, Any] = {}
    try:
        with Live(view.render(), console=console, refresh_per_second=2, transient=True) as live:
            while not cancel.is_set():
                state = await call(settings, "GET", "/pairing")
                if state.get("step"):
                    update = PairingUpdate(
                        step=PairingStep(state["step"]),
                        user_code=state.get("user_code"),
                        verification_uri=state.get("verification_uri"),
                        verification_uri_complete=state.get("verification_uri_complete"),
                        expires_at=state.get("expires_at"),
                        message=state.get("message") or "",
                    )
                    view(update)
                    live.update(view.render())
                if not state.get("running"):
                    break
                await asyncio.sleep(0.5)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
    if cancel.is_set():
        await call(settings, "POST", "/pairing/cancel")
        console.print("Pairing cancelled. Nothing was stored.")
        return 130
    status = await call(settings, "GET", "/status")
    if status["pairing"]["state"] != "paired":
        console.print(f"Pairing failed: {state.get('message') or state.get('step')}")
        return 1
    console.print("[bold green]Paired[/] (through the running hub).")
    console.print(f"  Project:        {status['pairing'].get('project_name')}")
    console.print(f"  Authorized by:  {status['pairing'].get('authorized_by') or '-'}")
    return 0


def _unpair(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    return asyncio.run(_unpair_async(settings))


async def _unpair_async(settings: HubSettings) -> int:
    from c2c_hub.runtime import Hub
    from c2c_hub.tokens import TokenStoreError

    async with Hub(settings) as hub:
        try:
            hub.session.load()
        except TokenStoreError as exc:
            print(f"stored credentials unreadable ({exc}); wiping them", file=sys.stderr)
        had = hub.session.credentials is not None
        await hub.session.unpair()
    print("Unpaired: tokens revoked at Frame.io and wiped here." if had else "Was not paired.")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    return asyncio.run(_status_async(settings, args))


async def _status_async(settings: HubSettings, args: argparse.Namespace) -> int:
    from rich.console import Console

    from c2c_hub.runtime import Hub
    from c2c_hub.status import read_status
    from c2c_hub.ui.cli_uploads import HubNotRunning, call
    from c2c_hub.ui.terminal import render_status

    try:  # a running hub answers on its control socket: the freshest truth
        status = await call(settings, "GET", "/status")
    except (HubNotRunning, ValueError):
        status = read_status(settings.storage.data_dir)
    if status is None:
        # No hub running: report what is stored and check the network and Frame.io ourselves,
        # without touching the tokens (a refresh here could race a hub starting up), and
        # without the data directory's lock: a look must never stop a hub from starting.
        async with Hub(settings, lock=False) as hub:
            hub.session.load()
            await hub.connectivity.check()
            await hub.network.start()  # NetworkManager's view, read-only here
            await _identity_if_valid(hub)
            status = hub.status()
            status["hub"]["running"] = False
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        render_status(status, Console())
    return 0


async def _identity_if_valid(hub: Hub) -> None:
    """Ask /v2/devices/me with the stored access token if it is still valid (never refresh)."""
    from c2c_hub.frameio import FrameioError
    from c2c_hub.tokens import PairingState

    creds = hub.session.credentials
    if creds is None or creds.state is not PairingState.PAIRED:
        return
    if creds.access_expires_at <= hub.clock.now():
        return
    try:
        hub.session.identity = await hub.client.me(creds.access_token)
    except FrameioError as exc:
        hub.session.last_error = str(exc)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    from c2c_hub.logs import configure_logging

    configure_logging(settings.log_level)
    from c2c_hub.plugin import PluginSettingsError

    try:
        return asyncio.run(_run_async(settings))
    except PluginSettingsError as exc:  # e.g. options for a plugin that is not installed
        print(f"c2c-hub: {exc}", file=sys.stderr)
        return 2


async def _run_async(settings: HubSettings) -> int:
    from c2c_hub.runtime import Hub
    from c2c_hub.ui.control import attach_control
    from c2c_hub.ui.live import LiveView

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Hub(settings) as hub:
        attach_control(hub)
        await hub.start()
        # In a terminal: the operator's live screen; otherwise one plain line per change.
        view = LiveView(hub)
        if view.plain:
            print(
                f"c2c-hub running: pairing {hub.session.state.value}; status in {hub.data_dir}",
                flush=True,
            )
        await view.run_until(stop)
        print("stopping", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="c2c-hub", description="Frame.io Camera to Cloud hub for sound recorders."
    )
    parser.add_argument("--version", action="version", version=f"c2c-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="TOML settings file (or C2C_HUB_CONFIG)")
        return p

    pair = with_config(sub.add_parser("pair", help="pair this hub with a Frame.io project"))
    pair.add_argument("--force", action="store_true", help="unpair first if already paired")
    pair.add_argument("--no-qr", action="store_true", help="do not draw the QR code")
    pair.set_defaults(func=_pair)
    unpair = with_config(sub.add_parser("unpair", help="revoke and wipe this hub's tokens"))
    unpair.set_defaults(func=_unpair)
    status = with_config(sub.add_parser("status", help="pairing, socket, network and tokens"))
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)
    run = with_config(sub.add_parser("run", help="run the hub: stay paired, present, online"))
    run.set_defaults(func=_run)

    from c2c_hub.ui import cli_devices, cli_mix, cli_net, cli_timecode, cli_uploads

    cli_uploads.register(sub, with_config, _settings)
    cli_mix.register(sub)
    cli_devices.register(sub, with_config, _settings)
    cli_timecode.register(sub, with_config, _settings)
    cli_net.register(sub, with_config, _settings)
    _register_extensions(sub, with_config)
    return parser


#: Entry-point group for extra ``c2c-hub`` subcommands. The emulation zone registers ``emulator``
#: and ``demo`` here, so the product's command line never imports the test doubles. An entry
#: point names a ``register(sub, with_config, settings_fn)`` function, as
#: :func:`c2c_hub.ui.cli_devices.register` is.
COMMANDS_GROUP = "c2c_hub.commands"


def _register_extensions(
    sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]
) -> None:
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = entry.load()
            register(sub, with_config, _settings)
        except Exception as exc:  # a broken extension must not take the CLI down
            print(f"c2c-hub: ignoring commands from {entry.value}: {exc}", file=sys.stderr)


#: Exit status when another hub holds the data directory (see :mod:`c2c_hub.datadir`).
EXIT_DATA_DIR_BUSY = 3


def main(argv: list[str] | None = None) -> int:
    from c2c_hub.datadir import DataDirBusy

    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except DataDirBusy as exc:
        print(f"c2c-hub {args.command}: {exc}", file=sys.stderr)
        return EXIT_DATA_DIR_BUSY
    return result


if __name__ == "__main__":
    sys.exit(main())
