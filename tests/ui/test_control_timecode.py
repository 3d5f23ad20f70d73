"""The timecode at the edge: GET /timecode and PUT /timecode/offset on a running hub (with the
owner's credential only), and ``c2c-hub timecode`` driving it from another process."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.runtime import Hub
from c2c_hub.settings import (
    ControlSettings,
    FrameioSettings,
    HubSettings,
    PluginSettings,
    RecorderSettings,
    StorageSettings,
)
from c2c_hub.ui.cli_timecode import render
from c2c_hub.ui.control import ControlServer
from c2c_hub.ui.live.screen import render as render_screen
from tests.conftest import ControlHubFactory

CLI = [sys.executable, "-m", "c2c_hub.ui.cli"]


@pytest.fixture
async def hub(control_hub: ControlHubFactory) -> AsyncIterator[Hub]:
    async with control_hub(recorder={"timecode_rate": "29.97df"}) as running:
        yield running.hub


def control_of(hub: Hub) -> ControlServer:
    control = hub.attached("control")
    assert isinstance(control, ControlServer)
    return control


async def test_the_offset_is_set_over_http_and_persisted_owner_only(hub: Hub) -> None:
    control = control_of(hub)
    assert control.url is not None
    url = control.url.rstrip("/")
    auth = {"Authorization": f"Bearer {control.token}"}
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{url}/timecode")).status_code == 401
        assert (await http.put(f"{url}/timecode/offset", json={"frames": 3})).status_code == 401
        got = (await http.get(f"{url}/timecode", headers=auth)).json()
        assert (got["source"], got["label"], got["rate"]) == ("system", "SYSTEM", "29.97 DF")
        assert got["summary"] == "system clock" and got["offset_frames"] == 0
        answer = await http.put(f"{url}/timecode/offset", json={"frames": -12}, headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["applies"] == "now"
        assert answer.json()["timecode"]["offset_frames"] == -12
        for bad in ({"frames": True}, {"frames": 1.5}, {"frames": "2"}, {"frames": 10**9}, {}):
            refused = await http.put(f"{url}/timecode/offset", json=bad, headers=auth)
            assert refused.status_code == 400 and "frames" in refused.json()["error"], bad
        status = (await http.get(f"{url}/status", headers=auth)).json()
    assert status["timecode"]["offset_frames"] == -12
    assert status["timecode"]["record_run"] == {"on": False}
    saved = hub.data_dir / "timecode.json"
    assert json.loads(saved.read_text()) == {"offset_frames": -12}
    assert stat.S_IMODE(saved.stat().st_mode) & 0o077 == 0


async def test_the_offset_waits_for_the_next_take_while_one_rolls(hub: Hub) -> None:
    take = await hub.recorder.start_take()
    assert take.sync is not None and take.sync.source == "SYSTEM"
    assert hub.timecode.set_offset(5)["applies"] == "from the next take"
    assert hub.status()["timecode"]["pending_offset_frames"] == 5
    assert hub.timecode.offset_frames == 0
    await hub.recorder.stop_take()
    assert hub.timecode.offset_frames == 5
    second = await hub.recorder.start_take()
    assert second.sync is not None and second.sync.offset_frames == 5
    await hub.recorder.stop_take()


async def test_the_command_line_drives_it_and_says_when_no_hub_runs(
    hub: Hub, frameio_settings: FrameioSettings, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    env.update(
        {
            "C2C_HUB_FRAMEIO__API_BASE_URL": frameio_settings.api_base_url,
            "C2C_HUB_FRAMEIO__CA_FILE": str(frameio_settings.ca_file),
            "C2C_HUB_FRAMEIO__CLIENT_SECRET": frameio_settings.client_secret.get_secret_value(),
            "C2C_HUB_STORAGE__DATA_DIR": str(hub.data_dir),
        }
    )

    def cli(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
        run_env = dict(env)
        if data_dir is not None:
            run_env["C2C_HUB_STORAGE__DATA_DIR"] = str(data_dir)
        return subprocess.run(
            [*CLI, "timecode", *args], env=run_env, capture_output=True, text=True, timeout=60
        )

    done = await asyncio.to_thread(cli, "offset", "7", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["offset_frames"] == 7
    shown = await asyncio.to_thread(cli, "--json")
    assert json.loads(shown.stdout)["offset_frames"] == 7
    human = await asyncio.to_thread(cli)
    assert "offset +7 frames" in human.stdout and "SYSTEM" in human.stdout
    usage = await asyncio.to_thread(cli, "offset", "seven")
    assert usage.returncode == 2
    nobody = await asyncio.to_thread(cli, data_dir=tmp_path / "elsewhere")
    assert nobody.returncode == 3 and "no hub is running" in nobody.stderr


def test_the_views_show_an_ltc_source_jammed_and_its_drift() -> None:
    status = {
        "pairing": {"state": "unpaired"},
        "timecode": {
            "source": "ltc",
            "label": "LTC",
            "summary": "LTC stopped: free-running for 12 s",
            "timecode": "10:00:13:04",
            "rate": "25",
            "offset_frames": 2,
            "pending_offset_frames": None,
            "since_jam_s": 12.0,
            "ltc_device": "tc-box",
            "ltc_channel": 2,
            "ltc": {
                "state": "stopped",
                "last": "10:00:01:03",
                "user_bits": "C0FFEE42",
                "level_dbfs": -18.1,
                "rate_detected": "25",
                "dropouts": 1,
                "jumps": 0,
            },
            "drift": [{"serial": "mic-a", "offset_ms": 31.5, "drift_ppm": 2.0}],
            "drift_warn_ms": 20,
            "warnings": ["mic-a is 31.5 ms off the hub's timecode (timecode.drift_warn_ms 20)"],
            "record_run": {"on": False},
        },
    }
    text = render(status["timecode"])  # type: ignore[arg-type]
    assert "LTC on tc-box ch 2: stopped" in text and "free-running for 12 s" in text
    assert "user bits C0FFEE42" in text and "mic-a: +31.5 ms, +2.0 ppm" in text
    from rich.console import Console

    console = Console(width=140, height=60, record=True, color_system=None)
    console.print(render_screen(status, 0.0, show_qr=False))  # type: ignore[arg-type]
    screen = console.export_text()
    assert "Timecode 10:00:13:04" in screen and "LTC" in screen
    assert "free-running for 12 s" in screen and "+31.5 ms" in screen
    assert "off the hub's timecode" in screen


async def test_a_hub_set_to_ltc_jams_shows_it_and_records_with_it(
    frameio_settings: FrameioSettings, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """The settings wire it all: [timecode] source = "ltc" on a sub-device's second channel,
    record-run on; LTC through the device registry starts a take stamped with the LTC."""
    import numpy as np

    from c2c_hub.settings import TimecodeSettings
    from c2c_hub.subdevices import AudioBlock, AudioFormat, SubDevice
    from c2c_hub.timecode import FPS_25, Timecode
    from c2c_hub.timecode.ltc import LtcEncoder
    from tests.recorder.conftest import MIC_MODEL

    settings = HubSettings(
        frameio=frameio_settings,
        storage=StorageSettings(data_dir=tmp_path / "hub"),
        recorder=RecorderSettings(directory=tmp_path / "rec", timecode_rate="25", stop_grace_s=0),
        timecode=TimecodeSettings(
            source="ltc", ltc_device="box", ltc_channel=2, record_run=True, preroll_s=0.5
        ),
        plugins=PluginSettings(allow=[]),
        control=ControlSettings(host="127.0.0.1", port=0),
    )
    ltc = LtcEncoder(48000, FPS_25, Timecode.from_string("14:00:00:00", FPS_25)).frames(50)
    pcm = (np.round(ltc * (2**23 - 1)).astype(np.int32)) << 8
    async with Hub(settings) as hub:
        await hub.start(presence=False, status_file=False)
        box = SubDevice("box", MIC_MODEL, "TC box", audio=AudioFormat(channels=2))
        assert hub.devices.attach("test:feed", box)
        origin = hub.timecode.reference.sample_position(48000)
        for i in range(0, len(pcm), 480):
            chunk = pcm[i : i + 480]
            stereo = np.stack([np.zeros_like(chunk), chunk], axis=1)  # the LTC on channel 2
            hub.devices.audio("test:feed", "box", AudioBlock(origin + i, stereo))
        status = hub.status()["timecode"]
        assert status["jammed"] and status["ltc"]["state"] == "running", status
        assert status["label"] == "LTC" and status["record_run"]["on"] is True
        for _ in range(2000):
            if hub.recorder.take is not None and hub.recorder.take.tracks:
                break
            await asyncio.sleep(0.01)
        take = hub.recorder.take
        assert take is not None and take.trigger == "record-run"
        assert take.sync is not None and take.sync.source == "LTC"
        assert take.start_timecode.startswith("13:59:59:")  # half a second of pre-roll
        await hub.recorder.stop_take()
