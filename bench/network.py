"""Network switches through NetworkManager: how long the hub is off Frame.io when the operator
switches networks, and how long a failed join (a wrong password) takes to restore the previous.

NetworkManager is python-dbusmock's template on a private bus
(:class:`~c2c_hub.emulation.networkmanager.NetworkManagerMock`), whose activations are instant:
the figures are the hub's own share (D-Bus round trips, reading NetworkManager's view, hearing
its signals, replacing the socket), not a radio's association time. The emulator runs in a child
process; the hub side is the real :class:`~c2c_hub.network.NetworkControl` and
:class:`~c2c_hub.presence.Presence`, wired as :class:`~c2c_hub.runtime.Hub` wires them.

- ``switch_s``: ``connect()`` to another saved-or-new network, until it returns (activated);
- ``switch_to_rejoin_s``: from the same start until the device channel is joined again;
- ``wrong_psk_restore_s``: a join with a wrong password, until it fails with the previous
  network active again.

Run: ``python -m bench.network [--rounds N]`` (prints JSON), or call :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import bench_settings, paired_session
from bench.part_sink import start_emulator
from bench.presence import _summary
from c2c_hub.emulation.networkmanager import NetworkManagerMock
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.network import ConnectFailed, NetworkControl
from c2c_hub.presence import Presence, PresenceState
from c2c_hub.settings import FrameioSettings

PSKS = {"StudioNet": "studio-bench-psk", "Hotspot": "hotspot-bench-psk"}


async def _measure(settings: FrameioSettings, emulator: Any, rounds: int) -> dict[str, Any]:
    async with make_http_client(settings) as http:
        client = FrameioClient.from_settings(settings, http)
        with tempfile.TemporaryDirectory(prefix="c2c-bench-network-") as tmp:
            session = await paired_session(client, settings, emulator, Path(tmp))
            presence = Presence(session)
            control = NetworkControl()
            control.on_change(lambda _reason: presence.network_changed())
            joined = asyncio.Event()
            presence.on_change(
                lambda p: joined.set() if p.state is PresenceState.JOINED else joined.clear()
            )
            await control.start()
            await presence.start()
            switches: list[float] = []
            rejoins: list[float] = []
            restores: list[float] = []
            try:
                await control.connect("StudioNet", PSKS["StudioNet"])
                await asyncio.wait_for(joined.wait(), 30)
                for number in range(rounds):
                    await asyncio.sleep(0.2)  # a settled socket
                    ssid = "Hotspot" if number % 2 == 0 else "StudioNet"
                    before = presence.joins
                    started = time.monotonic()
                    await control.connect(ssid, PSKS[ssid])
                    switches.append(time.monotonic() - started)
                    while presence.joins == before or presence.snapshot()["state"] != "joined":
                        if time.monotonic() - started > 30:
                            raise RuntimeError("the socket did not rejoin within 30 s")
                        await asyncio.sleep(0.005)
                    rejoins.append(time.monotonic() - started)
                    other = "StudioNet" if ssid == "Hotspot" else "Hotspot"
                    started = time.monotonic()
                    try:
                        await control.connect(other, "definitely-wrong")
                    except ConnectFailed:
                        restores.append(time.monotonic() - started)
                    else:
                        raise RuntimeError("a wrong password was accepted")
            finally:
                await presence.stop()
                await control.stop()
    return {
        "rounds": rounds,
        "switch_s": _summary(switches),
        "switch_to_rejoin_s": _summary(rejoins),
        "wrong_psk_restore_s": _summary(restores),
    }


def run(rounds: int = 20) -> dict[str, Any]:
    emulator = start_emulator()
    try:
        settings = bench_settings(emulator)
        with NetworkManagerMock() as nm:
            nm.add_wifi_device("wlan0")
            nm.add_access_point("StudioNet", psk=PSKS["StudioNet"], strength=82)
            nm.add_access_point("Hotspot", psk=PSKS["Hotspot"], strength=40, frequency=5180)
            return asyncio.run(_measure(settings, emulator, rounds))
    finally:
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rounds), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
