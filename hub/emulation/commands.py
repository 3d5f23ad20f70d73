"""``c2c-hub emulator`` and ``c2c-hub demo``: the commands of the emulation zone.

They reach the product's command line through the ``c2c_hub.commands`` entry-point group (see
:data:`c2c_hub.ui.cli.COMMANDS_GROUP`), so the product never imports the test doubles.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _emulator(args: argparse.Namespace) -> int:
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
    print("Frame.io C2C emulator serving (HTTPS only)", flush=True)
    print(f"  API            {server.base_url}")
    print(f"  control API    {server.control_url}")
    print(f"  CA certificate {server.ca_file}")
    print(f"  client secret  in {secret_file}")
    print(f"  strict mode    {'on' if config.strict else 'off'}")
    for line in declared:
        print(f"  plugin model   {line}")
    print(f"  try: curl --cacert {server.ca_file} {server.base_url}/health", flush=True)
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


def _demo(args: argparse.Namespace) -> int:
    from c2c_hub.emulation import demo

    argv = ["--seconds", str(args.seconds)] + (["--json"] if args.json else [])
    if args.keep:
        argv += ["--keep", args.keep]
    argv += ["--remote", args.remote]
    return demo.main(argv)


def register(
    sub: Any,
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
    settings_fn: Callable[[argparse.Namespace], Any],
) -> None:
    emu = sub.add_parser("emulator", help="serve an emulated Frame.io C2C backend (HTTPS)")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emu.add_argument("--port", type=int, default=0, help="Frame.io API port (0: any free port)")
    emu.add_argument("--control-port", type=int, default=0, help="control API port (0: any)")
    emu.add_argument("--data-dir", help="where parts, CA and state files go (a temp dir)")
    emu.add_argument("--models", help="device model directory (the project's device_models/)")
    emu.add_argument("--project", default="Emulated Project", help="project name")
    emu.add_argument(
        "--no-plugin-models",
        action="store_true",
        help="do not declare the device models the installed plugins ship",
    )
    emu.add_argument(
        "--interval", type=float, default=5.0, help="device-code polling interval, seconds"
    )
    emu.add_argument(
        "--lax", action="store_true", help="turn strict mode off (accept off-contract calls)"
    )
    emu.set_defaults(func=_emulator)

    demo = sub.add_parser("demo", help="the main job end to end on the built-in emulators")
    demo.add_argument("--json", action="store_true", help="print a JSON summary only")
    demo.add_argument("--seconds", type=float, default=20.0, help="length of the take (20)")
    demo.add_argument("--keep", help="keep the emulator, recordings and state in this folder")
    demo.add_argument(
        "--remote",
        choices=("c2c", "hid"),
        default=os.environ.get("C2C_DEMO_REMOTE", "c2c"),
        help="the button remote: our own GATT format (c2c), or a HID shutter remote (hid); "
        "default $C2C_DEMO_REMOTE or c2c",
    )
    demo.set_defaults(func=_demo)
