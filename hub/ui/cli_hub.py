"""``c2c-hub pair | unpair | status | run``: the account and the hub itself.

``pair`` pairs through the running hub when there is one (one writer of the tokens), else by
itself; ``status`` asks the running hub, else reports what is stored and checks the network
and Frame.io itself; ``run`` is the hub.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

from c2c_hub.ui.cli_kit import (
    EXIT_INTERRUPTED,
    EXIT_REFUSED,
    EXIT_USAGE,
    CommandFailed,
    config_option,
    console,
    json_option,
    load,
)

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console

    from c2c_hub.pairing import PairingUpdate
    from c2c_hub.runtime import Hub
    from c2c_hub.settings import HubSettings
    from c2c_hub.ui.live.keys import Keys


# ---------------------------------------------------------------------------------- pair
class _PairingShow:
    """Shows pairing as it goes: a live panel in a terminal; else one plain line per new code
    (a service's journal, a pipe), or one JSON line per step with ``--json``."""

    def __init__(self, out: Console, *, show_qr: bool, as_json: bool) -> None:
        from c2c_hub.ui.terminal import PairingView

        self.out = out
        self.as_json = as_json
        self.live_panel = out.is_terminal and not as_json
        self.view = PairingView(show_qr=show_qr)
        self._shown: tuple[Any, ...] | None = None
        self._live: Any = None

    def __enter__(self) -> _PairingShow:
        if self.live_panel:
            from rich.live import Live

            self._live = Live(
                self.view.render(), console=self.out, refresh_per_second=2, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def __call__(self, update: PairingUpdate) -> None:
        self.view(update)
        self.refresh()
        key: tuple[Any, ...] = (update.user_code, update.verification_uri_complete)
        if self.as_json:  # every step; people need a line only for a new code
            key = (update.step.value, *key)
        if self.live_panel or key == self._shown:
            return
        self._shown = key
        if self.as_json:  # what a UI shows of a step: never the device code or a token
            public = {
                "event": "pairing",
                "step": update.step.value,
                "user_code": update.user_code,
                "verification_uri": update.verification_uri,
                "verification_uri_complete": update.verification_uri_complete,
                "expires_at": update.expires_at,
                "message": update.message,
            }
            click.echo(json.dumps(public))
        elif update.user_code:
            from c2c_hub.ui.live.format import spaced_code

            click.echo(
                f"Pairing code: {spaced_code(update.user_code)}  "
                f"enter it at {update.verification_uri}"
            )
            if update.verification_uri_complete:
                click.echo(f"Or open: {update.verification_uri_complete}")
        sys.stdout.flush()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.view.render())


def _already_paired(project: Any, as_json: bool) -> CommandFailed:
    return CommandFailed(
        f"already paired (project {project!r}). Run 'c2c-hub unpair' first, "
        "or 'c2c-hub pair --force'.",
        EXIT_REFUSED,
        as_json=as_json,
    )


@click.command()
@click.option("--force", is_flag=True, help="Unpair first if this hub is already paired.")
@click.option("--no-qr", is_flag=True, help="Do not draw the QR code of the pairing link.")
@config_option
@json_option
def pair(force: bool, no_qr: bool, config: str | None, as_json: bool) -> int:
    """Pair this hub with a Frame.io project: shows a code (513 665), a link and a QR code.

    Enter the code in Frame.io (or open the link). Ctrl-C cancels; nothing is stored until
    Frame.io approves. With a hub running, it pairs through that hub.
    """
    import asyncio

    settings = load(config, as_json=as_json)
    return asyncio.run(_pair(settings, force=force, no_qr=no_qr, as_json=as_json))


async def _pair(settings: HubSettings, *, force: bool, no_qr: bool, as_json: bool) -> int:
    import asyncio

    from c2c_hub.frameio import FrameioError
    from c2c_hub.pairing import PairingCancelled, PairingDenied
    from c2c_hub.runtime import Hub
    from c2c_hub.session import NeedsPairing
    from c2c_hub.tokens import PairingState

    out = console()
    running = await _pair_through_running_hub(settings, force, no_qr, as_json, out)
    if running is not None:
        return running
    async with Hub(settings) as hub:
        await hub.session.start()
        if hub.session.state is PairingState.PAIRED and not force:
            creds = hub.session.credentials
            raise _already_paired(creds.project_name if creds else None, as_json)
        if hub.session.state is not PairingState.UNPAIRED:
            await hub.session.unpair()
        pairing = hub.pairing()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, pairing.cancel)
        loop.add_signal_handler(signal.SIGTERM, pairing.cancel)
        try:
            with _PairingShow(out, show_qr=not no_qr, as_json=as_json) as show:
                pairing.subscribe(show)
                task = pairing.start()
                while not task.done():
                    show.refresh()
                    await asyncio.wait({task}, timeout=0.5)
                device = await task
        except asyncio.CancelledError:
            return _cancelled(as_json)
        except PairingDenied:
            raise CommandFailed(
                "the code was declined in Frame.io. Nothing was stored.", as_json=as_json
            ) from None
        except (PairingCancelled, FrameioError, NeedsPairing) as exc:
            raise CommandFailed(f"pairing failed: {exc}", as_json=as_json) from None
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        result = {
            "paired": True,
            "through_running_hub": False,
            "project_name": device.project.name,
            "project_id": device.project.id,
            "authorized_by": (
                device.authorization.creator.name
                if device.authorization and device.authorization.creator
                else None
            ),
            "expires_at": (
                device.authorization.expires_at.isoformat()
                if device.authorization and device.authorization.expires_at
                else None
            ),
            "device_name": device.name,
            "device_status": device.status,
            "stored_in": str(hub.store.path),
        }
    _paired(result, as_json, out)
    return 0


def _cancelled(as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps({"paired": False, "cancelled": True}))
    click.echo("Pairing cancelled. Nothing was stored.", err=as_json)
    return EXIT_INTERRUPTED


def _paired(result: dict[str, Any], as_json: bool, out: Console) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    how = " (through the running hub)" if result["through_running_hub"] else ""
    out.print(f"[bold green]Paired.[/]{how}")
    rows = [
        ("Project", f"{result['project_name']}  ({result.get('project_id') or '-'})"),
        ("Authorized by", result.get("authorized_by") or "-"),
        ("Expires", result.get("expires_at")),
        ("Device", result.get("device_name")),
        ("Status", result.get("device_status")),
        ("Stored in", result.get("stored_in") and f"{result['stored_in']} (encrypted, owner-only)"),
    ]
    for label, value in rows:
        if value:
            out.print(f"  {label + ':':<15} {value}", highlight=False)


async def _pair_through_running_hub(
    settings: HubSettings, force: bool, no_qr: bool, as_json: bool, out: Console
) -> int | None:
    """With a hub running, pair through it (its control API): one writer of the tokens.

    None when no hub is running (the caller pairs by itself).
    """
    import asyncio

    from c2c_hub.pairing import PairingStep, PairingUpdate
    from c2c_hub.ui.client import HubNotRunning, HubRefused, call

    try:
        status = await call(settings, "GET", "/status")
    except HubNotRunning:
        return None
    if status["pairing"]["state"] == "paired" and not force:
        raise _already_paired(status["pairing"].get("project_name"), as_json)
    if status["pairing"]["state"] != "unpaired":
        await call(settings, "POST", "/unpair")
    try:
        await call(settings, "POST", "/pairing/start")
    except HubRefused as exc:
        raise CommandFailed(f"pairing refused: {exc}", EXIT_REFUSED, as_json=as_json) from None
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, cancel.set)
    loop.add_signal_handler(signal.SIGTERM, cancel.set)
    state: dict[str, Any] = {}
    try:
        with _PairingShow(out, show_qr=not no_qr, as_json=as_json) as show:
            while not cancel.is_set():
                state = await call(settings, "GET", "/pairing")
                if state.get("step"):
                    show(
                        PairingUpdate(
                            step=PairingStep(state["step"]),
                            user_code=state.get("user_code"),
                            verification_uri=state.get("verification_uri"),
                            verification_uri_complete=state.get("verification_uri_complete"),
                            expires_at=state.get("expires_at"),
                            message=state.get("message") or "",
                        )
                    )
                if not state.get("running"):
                    break
                await asyncio.sleep(0.5)
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
    if cancel.is_set():
        await call(settings, "POST", "/pairing/cancel")
        return _cancelled(as_json)
    status = await call(settings, "GET", "/status")
    pairing = status["pairing"]
    if pairing["state"] != "paired":
        reason = state.get("message") or state.get("step")
        raise CommandFailed(f"pairing failed: {reason}", as_json=as_json)
    result = {
        "paired": True,
        "through_running_hub": True,
        "project_name": pairing.get("project_name"),
        "project_id": pairing.get("project_id"),
        "authorized_by": pairing.get("authorized_by"),
        "expires_at": pairing.get("authorization_expires_at"),
        "device_name": pairing.get("device_name"),
        "device_status": pairing.get("device_status"),
        "stored_in": None,
    }
    _paired(result, as_json, out)
    return 0


# ---------------------------------------------------------------------------------- unpair
@click.command()
@config_option
@json_option
def unpair(config: str | None, as_json: bool) -> None:
    """Revoke this hub's tokens at Frame.io and wipe them here."""
    import asyncio

    settings = load(config, as_json=as_json)
    had = asyncio.run(_unpair(settings))
    if as_json:
        click.echo(json.dumps({"unpaired": True, "was_paired": had}))
    else:
        click.echo(
            "Unpaired: tokens revoked at Frame.io and wiped here." if had else "Was not paired."
        )


async def _unpair(settings: HubSettings) -> bool:
    from c2c_hub.runtime import Hub
    from c2c_hub.tokens import TokenStoreError

    # Takes the data directory's lock: with a hub running, refused (exit 4), nothing changed.
    async with Hub(settings) as hub:
        try:
            hub.session.load()
        except TokenStoreError as exc:
            click.echo(f"stored credentials unreadable ({exc}); wiping them", err=True)
        had = hub.session.credentials is not None
        await hub.session.unpair()
    return had


# ---------------------------------------------------------------------------------- status
@click.command()
@config_option
@json_option
def status(config: str | None, as_json: bool) -> None:
    """Pairing, project, user, socket, network, uploads, sub-devices and token expiry.

    Asks the running hub; with none running, reports what is stored and checks the network
    and Frame.io here (without refreshing a token or taking the data directory's lock).
    """
    import asyncio

    settings = load(config, as_json=as_json)
    snapshot = asyncio.run(_status(settings))
    if as_json:
        click.echo(json.dumps(snapshot, indent=2, sort_keys=True))
    else:
        from c2c_hub.ui.terminal import render_status

        render_status(snapshot, console())


async def _status(settings: HubSettings) -> dict[str, Any]:
    from c2c_hub.runtime import Hub
    from c2c_hub.status import read_status
    from c2c_hub.ui.client import HubNotRunning, HubRefused, call

    try:  # a running hub answers on its control socket: the freshest truth
        found: dict[str, Any] | None = await call(settings, "GET", "/status")
    except (HubNotRunning, HubRefused):
        found = read_status(settings.storage.data_dir)
    if found is not None:
        return found
    # No hub running: report what is stored and check the network and Frame.io ourselves,
    # without touching the tokens (a refresh here could race a hub starting up), and without
    # the data directory's lock: a look must never stop a hub from starting.
    async with Hub(settings, lock=False) as hub:
        hub.session.load()
        await hub.connectivity.check()
        await hub.network.start()  # NetworkManager's view, read-only here
        await _identity_if_valid(hub)
        snapshot = hub.status()
        snapshot["hub"]["running"] = False
    return snapshot


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


# ---------------------------------------------------------------------------------- run
@click.command()
@config_option
@json_option
def run(config: str | None, as_json: bool) -> int:
    """Run the hub: stay paired, present and online; record, upload, serve the web page.

    In a terminal: the live view. Otherwise (a service, a pipe): one plain line per change,
    or with --json one JSON line per event. SIGINT or SIGTERM stops it cleanly.
    """
    import asyncio

    settings = load(config, as_json=as_json)
    from c2c_hub.plugin import PluginSettingsError

    try:
        return asyncio.run(_run(settings, as_json))
    except PluginSettingsError as exc:  # e.g. options for a plugin that is not installed
        raise CommandFailed(str(exc), EXIT_USAGE, as_json=as_json) from None


async def _run(settings: HubSettings, as_json: bool) -> int:
    import asyncio

    from c2c_hub.log_outputs import configure_run_logging
    from c2c_hub.runtime import Hub
    from c2c_hub.sdnotify import Notifier
    from c2c_hub.ui.control import attach_control
    from c2c_hub.ui.live import LiveView
    from c2c_hub.ui.live.keys import Keys

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    keys: Keys | None = None

    def interrupted() -> None:  # Ctrl-C while pairing cancels the pairing, not the hub
        if keys is None or not keys.interrupt():
            stop.set()

    loop.add_signal_handler(signal.SIGINT, interrupted)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    systemd = Notifier()
    async with Hub(settings) as hub:  # the data directory's lock first: then logs may go there
        log_file = configure_run_logging(settings.log_level, hub.data_dir)
        attach_control(hub)
        systemd.status("starting")
        await hub.start()
        systemd.ready(f"running; pairing {hub.session.state.value}")
        systemd.start_watchdog()
        try:
            if as_json:
                await _run_json(hub, stop)
                return 0
            # In a terminal: the operator's live screen; otherwise one plain line per change.
            keys = Keys(hub, stop)
            view = LiveView(hub, keys=keys)
            if view.plain:
                keys = None  # no terminal to read keys from
                where = f"; log in {log_file}" if log_file else ""
                click.echo(
                    f"c2c-hub running: pairing {hub.session.state.value}; "
                    f"status in {hub.data_dir}{where}"
                )
                sys.stdout.flush()
            await view.run_until(stop)
            click.echo("stopping")
        finally:
            systemd.stopping()
            await systemd.stop_watchdog()
    return 0


async def _run_json(hub: Hub, stop: asyncio.Event) -> None:
    """One JSON line per event of the hub's event stream, between ``started`` and ``stopping``."""
    import asyncio

    def line(data: dict[str, Any]) -> None:
        click.echo(json.dumps(data, default=str, sort_keys=True))
        sys.stdout.flush()

    line(
        {
            "kind": "hub",
            "type": "started",
            "data_dir": str(hub.data_dir),
            "pairing": hub.session.state.value,
        }
    )
    async with hub.events.subscribe() as events:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            iterator = aiter(events)
            while True:
                nxt = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if nxt in done:
                    line(nxt.result())
                else:
                    nxt.cancel()
                    break
        finally:
            stopping.cancel()
    line({"kind": "hub", "type": "stopping"})


commands = [pair, unpair, status, run]
