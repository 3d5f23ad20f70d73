"""Switching networks through NetworkManager while a file uploads: the hub keeps its pairing,
replaces its socket at NetworkManager's word and the file arrives byte-identical; the PSKs it
was given are in no log line, no status and no file of its data directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.emulation.networkmanager import NetworkManagerMock
from c2c_hub.emulation.testing import PluginHubFactory
from c2c_hub.status import write_status
from c2c_hub.uploader import FileState
from tests.network.conftest import HOTSPOT_PSK, STUDIO_PSK, until
from tests.uploader.conftest import MiB, make_file, sha256_of


async def test_switching_networks_mid_upload_keeps_the_pairing_and_the_file_arrives_whole(
    nm_mock: NetworkManagerMock,
    plugin_hub: PluginHubFactory,
    emulator: EmulatorHandle,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    media = tmp_path / "media"
    media.mkdir()
    path = make_file(media, "take.wav", 20 * MiB)  # four parts of 5 MiB (one per stream)
    async with plugin_hub(presence=True) as hub:
        events: list[dict[str, object]] = []
        hub.events.on_event(events.append)
        await until(lambda: hub.network.snapshot()["controls"])
        await hub.network.connect("StudioNet", STUDIO_PSK, priority=10)
        await until(lambda: hub.presence.snapshot()["state"] == "joined")
        assert hub.session.credentials is not None
        device_id = hub.session.credentials.device_id
        joins = hub.presence.joins
        pairings = len(emulator.devices())

        # The first part's answer is held (in flight while the network changes), and the
        # second part's connection is cut half-way, as the old network's would be.
        emulator.fault("part", kind="stall", seconds=3.0, part_number=1)
        emulator.fault("part", kind="reset", part_number=2)
        file_id = await hub.enqueue(str(path))
        await until(lambda: (hub.uploader.file(file_id) or {}).get("asset_id"))
        asset_id = hub.uploader.file(file_id)["asset_id"]
        await until(lambda: emulator.asset(asset_id)["parts"][0]["attempts"] == 1)

        await hub.network.connect("Hotspot", HOTSPOT_PSK)  # mid-upload
        assert nm_mock.active_ids() == ["Hotspot"]
        await until(
            lambda: hub.presence.joins > joins and hub.presence.snapshot()["state"] == "joined"
        )
        record = await hub.uploader.wait_for(file_id)
        assert record.state is FileState.DONE
        asset = emulator.asset(record.asset_id or "")
        assert asset["complete"] and asset["sha256"] == sha256_of(path)
        assert len(emulator.assets()) == 1
        attempts = [p["attempts"] for p in asset["parts"]]
        assert len(attempts) >= 2 and attempts[1] >= 2  # the cut part was sent again
        assert any(e.get("kind") == "network" for e in events)  # NetworkManager's word

        # the same device, paired once: no new pairing at Frame.io, none pending
        assert hub.session.credentials.device_id == device_id
        assert len(emulator.devices()) == pairings and emulator.pending_pairings() == []
        status = hub.status()
        nets = status["networks"]
        assert nets["in_use"]["ssid"] == "Hotspot" and nets["in_use"]["why"]
        assert nets["upload"]["mbps"] is not None and nets["upload"]["age_s"] is not None
        assert nets["health"]["verdict"] in {"good", "degraded"}
        write_status(hub.data_dir, status)
        data_dir = hub.data_dir

    secrets = [STUDIO_PSK, HOTSPOT_PSK]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in repr(events)
    for file in data_dir.rglob("*"):
        if file.is_file():
            body = file.read_bytes()
            for secret in secrets:
                assert secret.encode() not in body, f"a PSK in {file}"
