"""``c2c-hub run`` stops cleanly: on SIGTERM every channel is disconnected at Frame.io, within a
bounded time, before the process exits (before: 3 runs of 5 left channels connected)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub_plugins.aes67.emulated import EmulatedMicrophones
from tests.discovery import declare_installed_models, private_discovery, private_sap_group
from tests.test_channels import frameio_channels
from tests.ui.test_hub_commands import CLI, _pair

MICS = ["Boom", "Lav", "Plant"]
RUNS = 3
STOP_BOUND_S = 30.0  # generous for a loaded machine; the hub's own bound is 10 s


@pytest.fixture
def mics() -> Iterator[EmulatedMicrophones]:
    """Three emulated AES67 microphones, announced by SAP on a group of our own."""
    with EmulatedMicrophones(MICS, sap_group=private_sap_group(), sap_interval=0.5) as made:
        yield made


def _env(emulator: EmulatorHandle, tmp_path: Path, mics: EmulatedMicrophones) -> dict[str, str]:
    config = private_discovery(tmp_path, sap_group=mics.sap_group).config
    declare_installed_models(emulator)
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    return env | {
        "C2C_HUB_CONFIG": str(config),
        "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
        "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
        "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
        "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
        "C2C_HUB_RECORDER__DIRECTORY": str(tmp_path / "recordings"),
        "C2C_HUB_CONTROL__PORT": "0",
        "PYTHONUNBUFFERED": "1",
    }


async def _until(check: object, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true within {within} s")


async def test_sigterm_disconnects_every_channel_before_exit(
    emulator: EmulatorHandle, tmp_path: Path, mics: EmulatedMicrophones
) -> None:
    env = _env(emulator, tmp_path, mics)
    paired = await asyncio.to_thread(_pair, emulator, env)
    assert paired.returncode == 0, paired.stdout
    for run in range(RUNS):
        log = tmp_path / f"run{run}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *CLI, "run", env=env, stdout=out, stderr=subprocess.STDOUT
            )
            try:
                await _until(
                    lambda: set(frameio_channels(emulator)) == set(mics.serials), within=60
                )
            finally:
                signalled = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(proc.wait(), STOP_BOUND_S)
                took = time.monotonic() - signalled
        output = log.read_text(errors="replace")
        assert code == 0, output[-3000:]
        assert took < STOP_BOUND_S
        # Gone from Frame.io before the process ended, by id (no bulk clear needed).
        assert frameio_channels(emulator) == {}, f"run {run}: left connected\n{output[-3000:]}"
        assert "channel(s) disconnected at Frame.io" in output, output[-3000:]
    assert emulator.violations() == []


if sys.platform != "linux":  # loopback multicast as the rest of the suite uses it
    pytestmark = pytest.mark.skip("needs Linux loopback multicast")
