"""The ``c2c-hub`` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from hub.version import __version__


def _emulator(args: argparse.Namespace) -> int:
    from hub.device_models import DeviceModelError
    from hub.emulator.server import EmulatorServer
    from hub.emulator.state import EmulatorConfig

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
    print(f"  try: curl --cacert {server.ca_file} {server.base_url}/health", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("stopping emulator", flush=True)
    server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="c2c-hub", description="Frame.io Camera to Cloud hub for sound recorders."
    )
    parser.add_argument("--version", action="version", version=f"c2c-hub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    emu = sub.add_parser("emulator", help="serve an emulated Frame.io C2C backend (HTTPS)")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emu.add_argument("--port", type=int, default=0, help="Frame.io API port (0: any free port)")
    emu.add_argument("--control-port", type=int, default=0, help="control API port (0: any)")
    emu.add_argument("--data-dir", help="where parts, CA and state files go (a temp dir)")
    emu.add_argument("--models", help="device model directory (the project's device_models/)")
    emu.add_argument("--project", default="Emulated Project", help="project name")
    emu.add_argument(
        "--interval", type=float, default=5.0, help="device-code polling interval, seconds"
    )
    emu.add_argument(
        "--lax", action="store_true", help="turn strict mode off (accept off-contract calls)"
    )
    emu.set_defaults(func=_emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
