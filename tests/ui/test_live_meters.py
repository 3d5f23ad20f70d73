"""The terminal view's meters: each track's bar and numbers from ``status["meters"]`` (the
numbers the web page draws), a clip held in red, a track with no signal marked."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from c2c_hub.ui.live.meters import meter_bar, meters_section
from c2c_hub.ui.live.screen import render


def reading(name: str, peak: float | None, rms: float | None, **extra: Any) -> dict[str, Any]:
    return {
        "serial": name.upper(),
        "name": name,
        "peak_dbfs": peak,
        "rms_dbfs": rms,
        "hold_dbfs": peak,
        "clip": False,
        "clips": 0,
        "signal": peak is not None,
        "state": "ok" if peak is not None else "no_audio",
        **extra,
    }


def status(*readings: dict[str, Any]) -> dict[str, Any]:
    return {
        "pairing": {"state": "unpaired"},
        "network": {},
        "meters": {"interval_s": 0.05, "updates": 40, "tracks": list(readings)},
    }


def screen(value: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), record=True, width=110, height=50, force_terminal=True)
    console.print(render(value, 0.0))
    return console.export_text()


def test_each_track_shows_its_peak_rms_and_hold_in_dbfs_and_a_bar() -> None:
    text = screen(
        status(
            reading("Boom", -6.02, -9.03),
            reading("Lav", -1.0, -3.0, clip=True, clips=3),
            reading("Plant", None, None),
            reading("Spare", None, None, state="silent", signal=False),
        )
    )
    assert "Meters" in text
    line = next(row for row in text.splitlines() if "Boom" in row)
    assert "-6.0  -9.0  -6.0" in line and "█" in line
    assert "CLIP" in next(row for row in text.splitlines() if "Lav" in row)
    assert "no audio" in next(row for row in text.splitlines() if "Plant" in row)
    assert "no signal" in next(row for row in text.splitlines() if "Spare" in row)


def test_the_bar_fills_with_the_rms_and_marks_the_peak() -> None:
    bar = meter_bar(reading("Boom", -6.0, -30.0), width=20)
    assert bar.plain.count("█") == 10 and bar.plain.count("▒") == 8
    assert meter_bar(reading("Plant", None, None), width=20).plain == "·" * 20


def test_no_meters_no_section() -> None:
    assert meters_section({"meters": {"tracks": []}}) is None
    assert meters_section({}) is None
