"""``c2c-hub emulator`` and ``c2c-hub demo``: the commands of the emulation zone.

They reach the product's command line through the ``c2c_hub.commands`` entry-point group (see
:data:`c2c_hub.ui.cli.COMMANDS_GROUP`), so the product never imports the test doubles. This
module imports only click at the top: the emulator is imported when the command runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=0, help="Frame.io API port (0: any free port).")
@click.option("--control-port", type=int, default=0, help="Control API port (0: any free port).")
@click.option("--data-dir", help="Where parts, the CA and state files go (default: a temp dir).")
@click.option("--models", help="Device model directory (default: the installed device models).")
@click.option("--project", default="Emulated Project", show_default=True, help="Project name.")
@click.option(
    "--no-plugin-models",
    is_flag=True,
    help="Do not declare the device models the installed plugins ship.",
)
@click.option(
    "--interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Device-code polling interval Frame.io asks for, seconds.",
)
@click.option("--lax", is_flag=True, help="Turn strict mode off (accept off-contract calls).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON line (api, control, ca_file, client_secret_file) once serving.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    help="Also write the export lines to this file (to source it: . FILE).",
)
def emulator(**options: Any) -> int:
    """Serve an emulated Frame.io C2C backend over HTTPS until Ctrl-C.

    Prints its URL, its CA certificate and the file holding its client secret, and the
    lines to paste so that a hub uses it.
    """
    return _emulator(_Args(options))


class _Args:
    def __init__(self, options: dict[str, Any]) -> None:
        self.__dict__.update(options)


def _emulator(args: Any) -> int:
    from c2c_hub.device_models import DeviceModelError
    from c2c_hub.emulation.frameio.server import EmulatorServer
    from c2c_hub.emulation.frameio.state import EmulatorConfig

    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="c2c-emu-"))
    config = EmulatorConfig(
        strict=not args.lax,
        device_code_interval=args.interval,
        project_name=args.project,
    )
    if os.environ.get("C2C_EMULATOR_CLIENT_SECRET"):
        config.client_secret = os.environ["C2C_EMULATOR_CLIENT_SECRET"]
    kwargs = {} if args.models is None else {"models_dir": Path(args.models)}
    try:
        server = EmulatorServer(
            data_dir,
            config=config,
            host=args.host,
            port=args.port,
            control_port=args.control_port,
            **kwargs,  # type: ignore[arg-type]
        )
    except DeviceModelError as exc:
        print(f"c2c-hub emulator: bad device models:\n{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"c2c-hub emulator: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return 2
    declared = [] if args.no_plugin_models else _declare_plugin_models(server)
    # The emulator's client secret is a stand-in, but it is still handled like a secret: it goes
    # to an owner-only file, never to the terminal.
    secret_file = data_dir / "client-secret"
    secret_file.touch(mode=0o600)
    secret_file.chmod(0o600)
    secret_file.write_text(config.client_secret, encoding="utf-8")
    info = {
        "api": server.base_url,
        "control": server.control_url,
        "ca_file": str(server.ca_file),
        "client_secret_file": str(secret_file),
        "strict": config.strict,
    }
    (data_dir / "emulator.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    server.start()
    exports = [
        f"export C2C_HUB_FRAMEIO__API_BASE_URL={server.base_url}",
        f"export C2C_HUB_FRAMEIO__CA_FILE={server.ca_file}",
        f"export C2C_HUB_FRAMEIO__CLIENT_SECRET_FILE={secret_file}",
    ]
    if args.as_json:
        print(json.dumps(info), flush=True)
    else:
        print("Frame.io C2C emulator serving (HTTPS only)", flush=True)
        print(f"  API            {server.base_url}")
        print(f"  control API    {server.control_url}")
        print(f"  CA certificate {server.ca_file}")
        print(f"  client secret  in {secret_file}")
        print(f"  strict mode    {'on' if config.strict else 'off'}")
        for line in declared:
            print(f"  plugin model   {line}")
        print(f"  try: curl --cacert {server.ca_file} {server.base_url}/health")
        print("To point a hub at it, paste:")
        for line in exports:
            print(f"  {line}")
        print(
            f"Approve a pairing code as a Frame.io user would: c2c-hub emulate approve "
            f"--data-dir {data_dir}",
            flush=True,
        )
    if args.env_file:
        _write_env(Path(args.env_file), exports)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("stopping emulator", flush=True)
    server.stop()
    return 0


def _declare_plugin_models(server: Any) -> list[str]:
    """Declare the installed plugins' own device models, as the integration's console would."""
    from c2c_hub.emulation.plugin_models import plugin_device_models
    from c2c_hub.settings import PluginSettings

    declared = []
    for plugin, model in plugin_device_models(PluginSettings(), server.models_dir):
        server.state.declare_model(model)
        declared.append(f"{model.name} ({model.id}, plugin {plugin})")
    return declared


def _write_env(path: Path, lines: list[str]) -> None:
    """Export lines to source; written whole (a reader waiting for the file never sees half)."""
    part = path.with_name(path.name + ".part")
    part.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    part.replace(path)


def _wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@click.group()
def emulate() -> None:
    """Emulated parts to try the hub by hand: Frame.io, microphones, a button remote.

    Each runs standalone until Ctrl-C and prints the lines to paste so that 'c2c-hub run'
    uses it (README: "Try it by hand").
    """


emulate.add_command(emulator, "frameio")


@emulate.command("approve")
@click.option("--data-dir", required=True, help="The emulator's --data-dir.")
@click.option("--code", help="Approve this code only (default: every pending one).")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a pending code.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the approved codes as JSON.")
def emulate_approve(data_dir: str, code: str | None, wait_s: float, as_json: bool) -> int:
    """Approve pairing codes on a running emulator, as the user would in Frame.io's web app."""
    import time

    from c2c_hub.emulation.frameio.handle import EmulatorHandle

    info = json.loads((Path(data_dir) / "emulator.json").read_text(encoding="utf-8"))
    secret = Path(info["client_secret_file"]).read_text(encoding="utf-8")
    handle = EmulatorHandle(info["api"], info["control"], Path(info["ca_file"]), secret)
    approved: list[str] = []
    deadline = time.monotonic() + wait_s
    try:
        while not approved and time.monotonic() < deadline:
            for pending in handle.pending_pairings():
                user_code = str(pending["user_code"])
                if code is None or user_code == code.replace(" ", ""):
                    handle.approve(user_code)
                    approved.append(user_code)
            if not approved:
                time.sleep(0.3)
    finally:
        handle.close()
    if as_json:
        print(json.dumps({"approved": approved}))
    elif approved:
        print("Approved: " + ", ".join(f"{c[:3]} {c[3:]}" for c in approved))
    else:
        print(f"No pairing code to approve within {wait_s:g} s", file=sys.stderr)
    return 0 if approved else 1


@emulate.command("mics")
@click.option("--count", type=int, default=2, show_default=True, help="How many microphones.")
@click.option("--channels", type=int, default=1, show_default=True, help="Channels of each.")
@click.option(
    "--interface",
    help="IPv4 address to send from (default: the hub's aes67 interface option, 127.0.0.1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print each sender's SDP as JSON lines.")
def emulate_mics(count: int, channels: int, interface: str | None, as_json: bool) -> int:
    """Network microphones: AES67 senders (a tone each) announced by SAP, until Ctrl-C.

    They announce where the hub's aes67 plugin listens (its options in the hub's settings,
    C2C_HUB_CONFIG; by default loopback and the standard SAP group); each becomes a
    sub-device with a channel, and a track of every take.
    """
    from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender

    options = _aes67_options()
    interface = interface or str(options.get("interface") or "127.0.0.1")
    group = {"sap_group": options["sap_groups"][0]} if options.get("sap_groups") else {}
    senders = [
        EmulatedAes67Sender(
            name=f"Emulated Mic {n + 1}",
            channels=channels,
            address=f"239.69.1.{n + 1}",
            interface=interface,
            signal="tone",
            **group,
        )
        for n in range(count)
    ]
    for sender in senders:
        sender.start()
        if as_json:
            print(json.dumps({"name": sender.name, "sdp": sender.sdp}), flush=True)
    if not as_json:
        print(f"{count} emulated AES67 microphones sending from {interface}, announced by SAP.")
        print("Nothing to paste: 'c2c-hub run' (aes67 plugin, default options) finds them.")
        print("Ctrl-C stops them.", flush=True)
    try:
        _wait_for_stop()
    finally:
        for sender in senders:
            sender.stop()
    return 0


def _aes67_options() -> dict[str, Any]:
    """The aes67 plugin's options in the hub's settings (none when they cannot be read)."""
    from c2c_hub.settings import SettingsError, load_settings

    try:
        options = load_settings().plugins.options.get("aes67") or {}
    except SettingsError:
        return {}
    return dict(options)


@emulate.command("remote")
@click.option("--address", default="C2:C0:00:00:0C:01", show_default=True, help="BLE address.")
@click.option("--serial", default="RMT-TRY-1", show_default=True, help="The remote's serial.")
@click.option("--press-every", type=float, help="Press a button every this many seconds.")
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    help="Also write the export line to this file (to source it: . FILE).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the bus address and presses as JSON.")
def emulate_remote(
    address: str, serial: str, press_every: float | None, env_file: str | None, as_json: bool
) -> int:
    """A BLE button remote on a mocked BlueZ (a private D-Bus), until Ctrl-C.

    Start 'c2c-hub run' with the printed DBUS_SYSTEM_BUS_ADDRESS: its ble_remotes plugin finds
    the remote through BlueZ as it would a real one. Type 1, 2 or 3 and Enter to press a
    button (Enter alone: 1), or use --press-every. Needs dbus-daemon and python-dbusmock.
    """
    from c2c_hub.emulation.bluez import BlueZMock

    bluez = BlueZMock(set_environment=False).start()
    try:
        bluez.add_remote(address, name="C2C-Remote Try", serial=serial)
        export = f"export DBUS_SYSTEM_BUS_ADDRESS={bluez.address}"
        if env_file:
            _write_env(Path(env_file), [export])
        if as_json:
            print(json.dumps({"dbus_system_bus_address": bluez.address, "serial": serial}))
        else:
            print(f"Emulated button remote {serial} ({address}) on a mocked BlueZ.")
            print("Paste before 'c2c-hub run':")
            print(f"  {export}")
            print("Type 1, 2 or 3 and Enter to press a button (Enter alone: 1).", flush=True)

        def press(code: int) -> None:
            delivered = bluez.press(address, code)
            if as_json:
                print(json.dumps({"pressed": code, "delivered": delivered}), flush=True)
            else:
                note = "" if delivered else " (nobody subscribed yet: lost, as a real press)"
                print(f"pressed {code}{note}", flush=True)

        if press_every:
            import time

            def presses() -> None:
                n = 0
                while bluez.running:
                    time.sleep(press_every)
                    press(n % 3 + 1)
                    n += 1

            threading.Thread(target=presses, daemon=True).start()
        elif sys.stdin is not None and sys.stdin.isatty():

            def typed() -> None:
                for line in sys.stdin:
                    word = line.strip() or "1"
                    if word in ("1", "2", "3"):
                        press(int(word))

            threading.Thread(target=typed, daemon=True).start()
        _wait_for_stop()
    finally:
        bluez.stop()
    return 0


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary only.")
@click.option("--seconds", type=float, default=20.0, show_default=True, help="Length of the take.")
@click.option("--keep", help="Keep the emulator, recordings and state in this folder.")
@click.option(
    "--remote",
    type=click.Choice(["c2c", "hid"]),
    default=lambda: os.environ.get("C2C_DEMO_REMOTE", "c2c"),
    help="The button remote: our own GATT format (c2c), or a HID shutter remote (hid); "
    "default $C2C_DEMO_REMOTE or c2c.",
)
@click.option(
    "--no-local-inputs",
    is_flag=True,
    help="No private JACK server and no local inputs: network microphones only.",
)
def demo(
    as_json: bool, seconds: float, keep: str | None, remote: str, no_local_inputs: bool
) -> int:
    """The main job end to end on the built-in emulators: pair, channels, a take, tracks
    verified on Frame.io."""
    from c2c_hub.emulation import demo as demo_module

    argv = ["--seconds", str(seconds)] + (["--json"] if as_json else [])
    if keep:
        argv += ["--keep", keep]
    argv += ["--remote", remote]
    if no_local_inputs:
        argv.append("--no-local-inputs")
    return demo_module.main(argv)


commands = [emulator, emulate, demo]
