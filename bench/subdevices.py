"""Sub-devices: a microphone's announcement to its channel connected, and a press to its 204.

Against the emulator (a child process) and a paired, running hub with its first-party plugins:

- **announce → channel**: an emulated AES67 microphone (a single-channel stream, RTP unicast on
  loopback) is announced by SAP on a group of the run's own; timed from its start (its first
  packet and announcement sent) to the moment Frame.io (the emulator) has its channel
  connected; ``bench.aes67`` measures the same for whole streams of 8 channels;
- **press → 204**: a button remote presses; timed from the press to the 204 of its trigger,
  median and worst of ``presses`` presses, twice: on the plugin's emulated radio (the hub's own
  path: plugin, source thread, registry, durable press log, HTTPS to the emulator), and through
  BlueZ mocked on a private D-Bus with bleak's real BlueZ backend (adds D-Bus and
  python-dbusmock; skipped where dbus-daemon is missing);
- **HID press → 204**: the same through BlueZ for a HID-over-GATT shutter remote (the
  hid_remotes plugin: a real Report Map, Volume Up down then up per press).

Run: ``python -m bench.subdevices [--rounds N] [--presses N]`` (prints JSON), or :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import bench_settings
from bench.part_sink import start_emulator
from c2c_hub.emulation.plugin_models import plugin_device_models
from c2c_hub.pairing import PairingStep, PairingUpdate
from c2c_hub.runtime import Hub
from c2c_hub.settings import HubSettings, PluginSettings, RecorderSettings, StorageSettings
from c2c_hub_plugins.aes67.emulated import EmulatedMicrophones

SAP_GROUP = f"239.255.{random.randrange(1, 250)}.{random.randrange(1, 250)}"


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
        "min_ms": round(ordered[0] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def _until(check: Callable[[], Any], within: float = 20.0, step: float = 0.002) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(step)
    raise TimeoutError(f"not within {within} s")


async def _pair(hub: Hub, emulator: Any) -> None:
    pairing = hub.pairing()
    loop = asyncio.get_running_loop()

    def approve(update: PairingUpdate) -> None:
        if update.step is PairingStep.SHOW_CODE and update.user_code:
            loop.run_in_executor(None, emulator.handle.approve, update.user_code)

    pairing.subscribe(approve)
    await pairing.run()


async def _mics(hub: Hub, rounds: int) -> dict[str, Any]:
    from_announce: list[float] = []
    for i in range(rounds):
        mics = EmulatedMicrophones([f"Bench {i}"], sap_group=SAP_GROUP)
        (serial,) = mics.serials
        announced = time.time()
        mics.start()
        link = await _until(
            lambda s=serial: (lambda x: x if x and x.state == "connected" else None)(  # type: ignore[misc]
                hub.channels.links.get(s)
            )
        )
        assert link.connected_at is not None
        from_announce.append(link.connected_at - announced)
        mics.stop()  # a SAP deletion: the stream and its channel go
        await _until(lambda s=serial: s not in hub.channels.links)  # type: ignore[misc]
    return {"rounds": rounds, "announce_to_channel_connected": _summary(from_announce)}


async def _presses(
    hub: Hub, count: int, press: Callable[[], bool], serial: str = "BENCH1"
) -> dict[str, Any]:
    await _until(lambda: hub.channels.channel_id_of(serial))
    latencies: list[float] = []
    for _ in range(count):
        before = hub.presses.counts.get("sent", 0)
        assert press()
        await _until(lambda b=before: hub.presses.counts.get("sent", 0) > b)  # type: ignore[misc]
        record = hub.presses.recent[-1]
        assert record.sent_at is not None
        latencies.append(record.sent_at - record.pressed_at)
        await asyncio.sleep(0.01)
    return {"presses": count, "serial": serial, "press_to_204": _summary(latencies)}


def _settings(
    emulator: Any, tmp: Path, ble: dict[str, Any], hid: dict[str, Any] | None = None
) -> HubSettings:
    hid = hid or {"radio": "emulated", "emulated_radio": "bench-none", "evdev": False}
    return HubSettings(
        frameio=bench_settings(emulator),
        storage=StorageSettings(data_dir=tmp / "hub"),
        recorder=RecorderSettings(directory=tmp / "recordings"),
        plugins=PluginSettings(
            options={
                "aes67": {"interface": "127.0.0.1", "sap_groups": [SAP_GROUP], "ravenna": False},
                "ble_remotes": ble,
                "hid_remotes": hid,
            }
        ),
    )


async def _measure(emulator: Any, rounds: int, presses: int) -> dict[str, Any]:
    from c2c_hub_plugins.ble_remotes.emulated import EmulatedRemote

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="c2c-bench-subdevices-") as tmp:
        ble = {"radio": "emulated", "emulated_radio": "bench"}
        settings = _settings(emulator, Path(tmp) / "a", ble)
        for _, model in plugin_device_models(settings.plugins, settings.device_models.directory):
            assert model.source is not None
            emulator.handle.declare_device_model(model.source.read_text(encoding="utf-8"))
        async with Hub(settings) as hub:
            await hub.start(presence=False, status_file=False)
            await _pair(hub, emulator)
            await _until(lambda: hub.channels.booted_for is not None)
            result["mics"] = await _mics(hub, rounds)
            remote = EmulatedRemote("AA:BB:CC:00:00:01", "C2C-Remote", "BENCH1", radio="bench")
            result["remote_emulated_radio"] = await _presses(hub, presses, lambda: remote.press(1))
        result["remote_bluez_mock"] = await _bluez(emulator, Path(tmp) / "b", presses)
        result["hid_remote_bluez_mock"] = await _hid_bluez(emulator, Path(tmp) / "c", presses)
    return result


async def _bluez(emulator: Any, tmp: Path, presses: int) -> dict[str, Any]:
    from c2c_hub.emulation.bluez import BlueZMock, BlueZMockError

    try:
        mock = BlueZMock().start()
    except BlueZMockError as exc:
        return {"skipped": str(exc)}
    try:
        mock.add_remote("AA:BB:CC:00:00:02", "C2C-Remote", "BENCH1")
        async with Hub(_settings(emulator, tmp, {"radio": "bleak"})) as hub:
            await hub.start(presence=False, status_file=False)
            await _pair(hub, emulator)
            return await _presses(hub, presses, lambda: mock.press("AA:BB:CC:00:00:02", 1))
    finally:
        mock.stop()


async def _hid_bluez(emulator: Any, tmp: Path, presses: int) -> dict[str, Any]:
    from c2c_hub.emulation.bluez import BlueZMock, BlueZMockError
    from c2c_hub.emulation.plugin_models import plugin_device_models
    from c2c_hub_plugins.hid_remotes.emulated import SHUTTER_REPORT_MAP
    from c2c_hub_plugins.hid_remotes.identity import client_id

    address = "F1:BE:0C:00:00:01"  # static random: an identity address
    settings = _settings(
        emulator,
        tmp,
        {"radio": "emulated", "emulated_radio": "bench-none"},
        {"radio": "bleak", "evdev": False},
    )
    for _, model in plugin_device_models(settings.plugins, settings.device_models.directory):
        if model.source is not None:
            emulator.handle.declare_device_model(model.source.read_text(encoding="utf-8"))
    try:
        mock = BlueZMock().start()
    except BlueZMockError as exc:
        return {"skipped": str(exc)}

    def press() -> bool:
        # The last press's key-up, then Volume Up down ("Good take"): the key-up is sent
        # before the clock starts (a press is stamped when its report arrives), so it does not
        # hold up the event loop while the press is on its way.
        mock.hid_report(address, 2, b"\x00")
        return mock.hid_report(address, 2, b"\x01")

    try:
        mock.add_hid_remote(
            address, "AB Shutter3", SHUTTER_REPORT_MAP, (1, 2), address_type="random"
        )
        async with Hub(settings) as hub:
            await hub.start(presence=False, status_file=False)
            await _pair(hub, emulator)
            serial = client_id(address, "random")
            await _until(lambda: mock.is_notifying(address))
            return await _presses(hub, presses, press, serial)
    finally:
        mock.stop()


def run(rounds: int = 10, presses: int = 100) -> dict[str, Any]:
    emulator = start_emulator()
    try:
        return asyncio.run(_measure(emulator, rounds, presses))
    finally:
        emulator.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10, help="microphones announced (10)")
    parser.add_argument("--presses", type=int, default=100, help="button presses (100)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rounds, args.presses), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
