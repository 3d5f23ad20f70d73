"""``make demo``: the hub's main job end to end on the built-in emulators.

So far: start the emulated Frame.io (strict, HTTPS), pair a hub with the device-code flow (the
emulated user approves the code as a person would in Frame.io's web app), print the connected
project, hold the device socket, see Frame.io pause and resume the device, and show the hub's
status. Later stages of the hub extend this script.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from hub.emulator.handle import EmulatorHandle
from hub.emulator.server import EmulatorServer
from hub.emulator.state import EmulatorConfig
from hub.frameio import FrameioError
from hub.pairing import PairingStep, PairingUpdate
from hub.presence import PresenceState
from hub.runtime import Hub
from hub.settings import FrameioSettings, HubSettings, StorageSettings

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


def _show(handle: EmulatorHandle, timers: list[threading.Timer]) -> Callable[[PairingUpdate], None]:
    def observer(update: PairingUpdate) -> None:
        if update.step is PairingStep.SHOW_CODE and update.user_code:
            code = update.user_code
            say()
            say(f"  Pairing code:  {code[:3]} {code[3:]}")
            say(f"  Enter it at:   {update.verification_uri}")
            if update.verification_uri_complete:
                say(f"  Or open:       {update.verification_uri_complete}")
            say()
            timers.append(_user_approves_later(handle, code))
        elif update.step is PairingStep.WAITING:
            say("  waiting for the code to be entered in Frame.io ...")

    return observer


async def _until(check: Callable[[], bool], within: float = 15.0) -> bool:
    for _ in range(int(within / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


async def run(settings: HubSettings, handle: EmulatorHandle) -> int:
    timers: list[threading.Timer] = []
    async with Hub(settings) as hub:
        await hub.start()
        health = await hub.connectivity.check()
        say(f"Frame.io reachable: {health.frameio_reachable}")
        pairing = hub.pairing()
        pairing.subscribe(_show(handle, timers))
        try:
            device = await pairing.run()
        finally:
            for timer in timers:
                timer.cancel()
        say()
        say("Paired.")
        say(f"  Project:        {device.project.name}  ({device.project.id})")
        if device.authorization is not None and device.authorization.creator is not None:
            say(f"  Authorized by:  {device.authorization.creator.name}")
        say(f"  Device:         {device.name}")
        say(f"  Status:         {device.status}")
        say(f"  Channels:       {len(device.channels)} (primary = the recorder)")

        say()
        joined = await _until(lambda: hub.presence.state is PresenceState.JOINED)
        say(f"Socket:           {hub.presence.state.value} (devices:{device.id[:8]}...)")
        if not joined:
            return 1
        say("  [Frame.io web app] the user pauses the device in the C2C Connections panel")
        handle.pause(device.id)
        await _until(lambda: hub.presence.paused is True)
        say(f"  Paused:         {hub.presence.paused} (pushed, confirmed with /v2/devices/me)")
        handle.resume(device.id)
        await _until(lambda: hub.presence.paused is False)
        say(f"  Paused:         {hub.presence.paused} (resumed)")

        status = hub.status()
        link = status["network"]["link"]
        say()
        say("Status (c2c-hub status shows the same):")
        say(f"  Pairing:        {status['pairing']['state']}")
        say(f"  Network:        {link['interface']} ({link['kind']}, up={link['up']})")
        say(f"  Frame.io:       reachable={status['network']['frameio_reachable']}")
        say(f"  Socket:         {status['socket']['state']}")
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
    with EmulatorServer(data_dir / "emulator", config=config) as server:
        say(f"  API {server.base_url}   CA {server.ca_file}")
        settings = HubSettings(
            frameio=FrameioSettings(
                api_base_url=server.base_url,
                client_id=f"demo-{uuid.uuid4()}",
                client_secret=SecretStr(config.client_secret),
                ca_file=server.ca_file,
            ),
            storage=StorageSettings(data_dir=data_dir / "hub"),
        )
        handle = EmulatorHandle(
            server.base_url, server.control_url, server.ca_file, config.client_secret
        )
        try:
            return asyncio.run(run(settings, handle))
        except FrameioError as exc:
            say(f"pairing failed: {exc}")
            return 1
        finally:
            handle.close()


if __name__ == "__main__":
    sys.exit(main())
