"""``make demo``: the hub's main job end to end on the built-in emulators.

Today (the foundation): start the emulated Frame.io, pair a hub against it with the device-code
flow (the emulated user approves the code as a person would in Frame.io's web app), and print
the connected project. Later stages of the hub extend this script.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from pydantic import SecretStr

from hub.emulator.handle import EmulatorHandle
from hub.emulator.server import EmulatorServer
from hub.emulator.state import EmulatorConfig
from hub.frameio import (
    AuthorizationPending,
    FrameioClient,
    FrameioError,
    SlowDown,
    make_http_client,
)
from hub.settings import FrameioSettings

APPROVE_AFTER_S = 2.0


def say(text: str = "") -> None:
    print(text, flush=True)


def _user_approves_later(handle: EmulatorHandle, user_code: str) -> threading.Timer:
    """The person on set types the code into Frame.io a moment later."""

    def approve() -> None:
        say(f"  [Frame.io web app] the user enters {user_code} and picks the project")
        handle.approve(user_code)

    timer = threading.Timer(APPROVE_AFTER_S, approve)
    timer.daemon = True
    timer.start()
    return timer


async def pair(settings: FrameioSettings, handle: EmulatorHandle) -> int:
    async with make_http_client(settings) as http:
        client = FrameioClient.from_settings(settings, http)
        health = await client.health()
        say(f"Frame.io reachable: {health.ok}")
        code = await client.request_device_code(
            settings.client_id, settings.client_secret, url_pairing=settings.url_pairing
        )
        say()
        say(f"  Pairing code:  {code.user_code[:3]} {code.user_code[3:]}")
        say(f"  Enter it at:   {code.verification_uri}")
        if code.verification_uri_complete:
            say(f"  Or open:       {code.verification_uri_complete}")
        say(f"  Expires in:    {code.expires_in} s")
        say()
        timer = _user_approves_later(handle, code.user_code)
        interval = float(code.interval)
        deadline = time.monotonic() + code.expires_in
        try:
            while True:
                await asyncio.sleep(interval)
                remaining = int(deadline - time.monotonic())
                try:
                    tokens = await client.poll_device_token(
                        settings.client_id, settings.client_secret, code.device_code
                    )
                    break
                except AuthorizationPending:
                    say(f"  waiting for the user to enter the code ({remaining} s left)")
                except SlowDown:
                    interval += 5
                    say(f"  Frame.io asked us to slow down: polling every {interval:.0f} s")
        finally:
            timer.cancel()
        device = await client.me(tokens.access_token)
    say()
    say("Paired.")
    say(f"  Project:        {device.project.name}  ({device.project_id})")
    if device.authorization is not None and device.authorization.creator is not None:
        say(f"  Authorized by:  {device.authorization.creator.name}")
    say(f"  Device:         {device.name}")
    say(f"  Status:         {device.status}")
    say(f"  Channels:       {len(device.channels)} (primary = the recorder)")
    violations = handle.violations()
    if violations:
        say(f"  Off-contract calls seen by the emulator: {violations}")
        return 1
    say("  Every call followed Frame.io's contract (strict emulator, no violations).")
    return 0


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="c2c-demo-"))
    say("Starting the emulated Frame.io (HTTPS, strict) ...")
    config = EmulatorConfig(strict=True, device_code_interval=1.0, project_name="Demo Shoot")
    with EmulatorServer(data_dir, config=config) as server:
        say(f"  API {server.base_url}   CA {server.ca_file}")
        settings = FrameioSettings(
            api_base_url=server.base_url,
            client_id=f"demo-{uuid.uuid4()}",
            client_secret=SecretStr(config.client_secret),
            ca_file=server.ca_file,
        )
        handle = EmulatorHandle(
            server.base_url, server.control_url, server.ca_file, config.client_secret
        )
        try:
            return asyncio.run(pair(settings, handle))
        except FrameioError as exc:
            say(f"pairing failed: {exc}")
            return 1
        finally:
            handle.close()


if __name__ == "__main__":
    sys.exit(main())
