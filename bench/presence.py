"""Drop → rejoin: how long the hub is off Frame.io's C2C panel after its socket is cut.

The emulator runs in a child process (:func:`bench.part_sink.start_emulator`). The hub side is
the real :class:`~c2c_hub.presence.Presence` on the real clock with its default timings and backoff,
paired through the device-code flow. Each round cuts the socket with the control API's
``sockets/drop`` (no close frame, as a network fault) and times until the channel is joined
again. Two figures per round:

- ``drop_to_rejoin_s``: from just before the control call to the hub's JOINED (wall time);
- ``hub_outage_s``: what the hub records itself, from noticing the loss to the rejoin
  (``Presence.outages``; the figure the status output shows as ``last_outage_s``).

Run: ``python -m bench.presence [--drops N]`` (prints JSON), or call :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import bench_settings, paired_session
from bench.part_sink import start_emulator
from c2c_hub.frameio import FrameioClient, make_http_client
from c2c_hub.presence import Presence, PresenceConfig, PresenceState
from c2c_hub.settings import FrameioSettings


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "p90": ordered[max(0, round(0.9 * len(ordered)) - 1)],
        "max": ordered[-1],
    }


async def _measure(settings: FrameioSettings, emulator: Any, drops: int) -> dict[str, Any]:
    async with make_http_client(settings) as http:
        client = FrameioClient.from_settings(settings, http)
        with tempfile.TemporaryDirectory(prefix="c2c-bench-presence-") as tmp:
            session = await paired_session(client, settings, emulator, Path(tmp))
            presence = Presence(session)
            joined = asyncio.Event()
            presence.on_change(
                lambda p: joined.set() if p.state is PresenceState.JOINED else joined.clear()
            )
            await presence.start()
            walls: list[float] = []
            try:
                await asyncio.wait_for(joined.wait(), 10)
                for _ in range(drops):
                    await asyncio.sleep(0.2)  # a settled socket
                    before = presence.joins
                    started = time.monotonic()
                    dropped = await asyncio.to_thread(emulator.handle.drop_sockets)
                    if dropped != 1:
                        raise RuntimeError(
                            f"expected one socket to drop, the emulator cut {dropped}"
                        )
                    while presence.joins == before:
                        joined.clear()
                        await asyncio.wait_for(joined.wait(), 30)
                    walls.append(time.monotonic() - started)
                outages = list(presence.outages)[-drops:]
            finally:
                await presence.stop()
    config = PresenceConfig()
    return {
        "drops": drops,
        "drop_to_rejoin_s": _summary(walls),
        "hub_outage_s": _summary(outages),
        "backoff": {
            "initial_s": config.backoff_initial,
            "jitter_s": config.backoff_jitter,
            "max_s": config.backoff_max,
        },
    }


def run(drops: int = 20) -> dict[str, Any]:
    """Median (and spread) of ``drops`` drop → rejoin rounds against a fresh emulator."""
    emulator = start_emulator()
    try:
        settings = bench_settings(emulator)
        return asyncio.run(_measure(settings, emulator, drops))
    finally:
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--drops", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.drops), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
