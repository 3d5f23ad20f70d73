"""Track numbers and names the operator pins (``recorder.tracks``), for any source's
sub-devices: every take puts a pinned microphone on its own number, under its given name;
the others take the lowest numbers no pin holds."""

from __future__ import annotations

import pytest

from c2c_hub.recorder.wav import read_track_metadata
from c2c_hub.settings import SettingsError, load_settings
from tests.recorder.conftest import SRC, Rig, attach
from tests.uploader.conftest import until


async def test_pinned_tracks_keep_their_numbers_and_names_in_every_take(rig: Rig) -> None:
    rig.recorder.pinned = {"MIC-B": 1, "MIC-D": 5}
    rig.registry.names = {"MIC-B": "Boom"}
    attach(rig, "MIC-A", "Lav 1")  # attached first, pinned nowhere
    attach(rig, "MIC-B", "ch 2")  # the source's name; the operator's wins
    attach(rig, "MIC-C", "Lav 2")
    assert rig.registry.get("MIC-B").device.name == "Boom"  # type: ignore[union-attr]
    for _ in range(2):
        take = await rig.recorder.start_take(scene="3")
        got = {t.serial: (t.index, t.name) for t in take.tracks.values()}
        assert got == {"MIC-B": (1, "Boom"), "MIC-A": (2, "Lav 1"), "MIC-C": (3, "Lav 2")}
        assert take.tracks["MIC-B"].path.name.endswith("_01_Boom.wav")
        attach(rig, "MIC-D", "Plant")  # arrives mid-take: its pinned number, not the next one
        await until(lambda t=take: "MIC-D" in t.tracks, within=30)
        assert take.tracks["MIC-D"].index == 5
        attach(rig, "MIC-E", "Spare")  # mid-take, unpinned: the lowest free number
        await until(lambda t=take: "MIC-E" in t.tracks, within=30)
        assert take.tracks["MIC-E"].index == 4
        done = await rig.recorder.stop_take()
        ixml = read_track_metadata(done.tracks["MIC-B"].path).ixml
        assert ixml is not None and ixml.track_names == ("Boom",)
        assert "<CHANNEL_INDEX>1</CHANNEL_INDEX>" in ixml.xml
        rig.registry.detach(SRC, "MIC-D", "gone")
        rig.registry.detach(SRC, "MIC-E", "gone")


def test_a_track_number_pinned_twice_is_refused() -> None:
    pins = {"A": {"track": 2}, "B": {"track": 2, "name": "Boom"}}
    with pytest.raises(SettingsError, match="track 2 is pinned twice"):
        load_settings(recorder={"tracks": pins})
    settings = load_settings(recorder={"tracks": {"A": {"track": 2}, "B": {"name": "Boom"}}})
    assert settings.recorder.tracks["B"].name == "Boom"
