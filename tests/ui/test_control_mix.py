"""The mix through the control API and ``c2c-hub mix``: set while the hub runs, refused
without the token or with a bad value, and the CLI's exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from c2c_hub.runtime import Hub
from c2c_hub.ui import cli_mix
from tests.ui.test_control import base, bearer, hub

__all__ = ["hub"]


async def test_a_track_is_set_through_the_api_and_shown_in_the_status(hub: Hub) -> None:
    async with httpx.AsyncClient(base_url=base(hub), timeout=5) as http:
        refused = await http.put("/mix/tracks/Boom", json={"gain_db": -6})
        assert refused.status_code == 401
        done = await http.put(
            "/mix/tracks/Lav%20Alice", json={"gain_db": -6.5, "pan": 0.25}, headers=bearer(hub)
        )
        assert done.status_code == 200, done.text
        assert done.json() == {"key": "Lav Alice", "gain_db": -6.5, "pan": 0.25, "mute": False}
        muted = await http.put("/mix/tracks/NM-1", json={"mute": True}, headers=bearer(hub))
        assert muted.json()["mute"] is True
        bad = await http.put("/mix/tracks/NM-1", json={"pan": 3}, headers=bearer(hub))
        assert bad.status_code == 400 and "pan" in bad.json()["error"]
        mode = await http.put("/mix/mode", json={"mode": "mono"}, headers=bearer(hub))
        assert mode.status_code == 200
        mix = (await http.get("/mix", headers=bearer(hub))).json()
        assert mix["settings"]["mode"] == "mono"
        assert mix["settings"]["tracks"]["Lav Alice"] == {
            "gain_db": -6.5,
            "pan": 0.25,
            "mute": False,
        }
        status = (await http.get("/status", headers=bearer(hub))).json()
        assert status["mix"]["settings"]["tracks"]["NM-1"]["mute"] is True
        assert status["mix"]["upload_order"] == ["proxy", "mix", "iso", "poly"]


async def test_the_cli_sets_a_track_and_says_when_no_hub_runs(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("C2C_HUB_CONFIG", raising=False)
    monkeypatch.setenv("C2C_HUB_STORAGE__DATA_DIR", str(hub.data_dir))
    code = await asyncio.to_thread(cli_mix.main, ["set", "Boom", "--gain-db", "-3", "--unmute"])
    assert code == 0
    assert hub.recorder.derived.mix_settings.tracks["Boom"].gain_db == -3.0
    assert await asyncio.to_thread(cli_mix.main, ["set", "Boom"]) == 2  # nothing to set
    assert await asyncio.to_thread(cli_mix.main, ["set", "Boom", "--pan", "2"]) == 2
    monkeypatch.setenv("C2C_HUB_STORAGE__DATA_DIR", str(tmp_path / "nobody"))
    assert await asyncio.to_thread(cli_mix.main, []) == 3
