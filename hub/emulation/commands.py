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
        print(f"  export C2C_HUB_FRAMEIO__API_BASE_URL={server.base_url}")
        print(f"  export C2C_HUB_FRAMEIO__CA_FILE={server.ca_file}")
        print(f"  export C2C_HUB_FRAMEIO__CLIENT_SECRET_FILE={secret_file}", flush=True)
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary only.")
@click.option("--seconds", type=float, default=20.0, show_default=True, help="Length of the take.")
@click.option("--keep", help="Keep the emulator, recordings and state in this folder.")
def demo(as_json: bool, seconds: float, keep: str | None) -> int:
    """The main job end to end on the built-in emulators: pair, channels, a take, tracks
    verified on Frame.io."""
    from c2c_hub.emulation import demo as demo_module

    argv = ["--seconds", str(seconds)] + (["--json"] if as_json else [])
    if keep:
        argv += ["--keep", keep]
    return demo_module.main(argv)


commands = [emulator, demo]
