"""Takes end to end below the plugins: samples fed into the device registry become one BWF track
per microphone, exactly the take's length, uploaded in real time on each microphone's channel and
byte-identical in the emulator."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.recorder.takes import Recorder, TakeError
from c2c_hub.recorder.wav import read_track_metadata
from c2c_hub.uploader import FileState
from tests.recorder.conftest import RATE, Rig, attach, signal
from tests.uploader.conftest import sha256_of, until


async def test_each_mic_gets_an_exact_length_track_uploaded_on_its_channel(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    attach(rig, "NM-1", "Boom")
    attach(rig, "NM-2", "Lav Alice")
    await until(lambda: len(rig.channels.available()) == 2, within=10)
    take = await rig.recorder.start_take(scene="12A")
    start = take.start_position
    length = 3 * RATE + 123  # 3 s and a bit of the take
    rig.feed("NM-1", start, start + length, 440.0)
    # NM-2 drops 0.2 s in the middle and stops 0.5 s early: silence, never a shift.
    rig.feed("NM-2", start, start + RATE, 660.0)
    rig.feed("NM-2", start + RATE + 9600, start + length - RATE // 2, 660.0)
    rig.advance_to(start + length)
    done = await rig.recorder.stop_take()
    assert done.frames == length

    tracks = sorted(done.tracks.values(), key=lambda t: t.index)
    assert [t.path.name for t in tracks] == ["S12A_T001_01_Boom.wav", "S12A_T001_02_Lav_Alice.wav"]
    boom, lav = (sf.read(t.path, dtype="int32")[0] for t in tracks)
    assert len(boom) == len(lav) == length
    np.testing.assert_array_equal(boom, signal(start, length, 440.0))
    expected = signal(start, length, 660.0)
    expected[RATE : RATE + 9600] = 0
    expected[length - RATE // 2 :] = 0
    np.testing.assert_array_equal(lav, expected)
    assert tracks[1].assembler.dropouts >= 1

    meta = read_track_metadata(tracks[0].path)
    assert meta.bext.time_reference == start
    assert (meta.ixml.project, meta.ixml.scene, meta.ixml.take) == ("Test Project", "12A", "1")

    uploader = rig.recorder.uploader
    for track in tracks:
        assert track.file_id is not None
        await until(
            lambda t=track: uploader.file(t.file_id)["state"] == FileState.DONE,  # type: ignore[misc]
            within=15,
        )
        asset = emulator.asset(uploader.file(track.file_id)["asset_id"])
        assert asset["complete"] and asset["sha256"] == sha256_of(track.path)
        assert asset["channel"] == rig.channels.index_of(track.serial)
        assert asset["realtime"] is True


async def test_a_mic_that_arrives_mid_take_gets_a_track_from_the_take_start(
    rig: Rig, emulator: EmulatorHandle
) -> None:
    attach(rig, "NM-1", "Boom")
    take = await rig.recorder.start_take()
    start = take.start_position
    attach(rig, "NM-3", "Plant")
    await until(lambda: "NM-3" in take.tracks, within=30)
    rig.feed("NM-1", start, start + 2 * RATE, 440.0)
    rig.feed("NM-3", start + RATE, start + 2 * RATE, 330.0)
    rig.advance_to(start + 2 * RATE)
    done = await rig.recorder.stop_take()
    plant = sf.read(done.tracks["NM-3"].path, dtype="int32")[0]
    assert len(plant) == 2 * RATE
    assert not plant[:RATE].any()
    np.testing.assert_array_equal(plant[RATE:], signal(start + RATE, RATE, 330.0))


async def test_take_numbers_carry_on_and_bad_commands_are_refused(rig: Rig) -> None:
    with pytest.raises(TakeError, match="not recording"):
        await rig.recorder.stop_take()
    with pytest.raises(TakeError, match="scene"):
        await rig.recorder.start_take(scene="../etc")
    first = await rig.recorder.start_take(scene="7")
    with pytest.raises(TakeError, match="already recording"):
        await rig.recorder.start_take()
    rig.clock.advance(0.5)
    await rig.recorder.stop_take()
    second = await rig.recorder.start_take()
    assert (first.scene, first.number, second.scene, second.number) == ("7", 1, "7", 2)
    rig.clock.advance(0.5)
    await rig.recorder.stop_take()
    # A restart reads the numbering back.
    again = Recorder(
        rig.registry,
        rig.recorder.uploader,
        directory=rig.directory,
        data_dir=rig.recorder._numbering_path.parent,
        clock=rig.clock,
        timecode=rig.recorder.timecode,
    )
    assert (again.scene, again.next_take_number()) == ("7", 3)


@pytest.mark.parametrize("group", [None, 65534])
async def test_recordings_are_readable_by_owner_and_group_only(rig: Rig, group: int | None) -> None:
    """Folders 0750 and tracks 0640 whatever the umask; with ``recorder.group`` the sound
    team's group owns them (set-group-ID folders hand the group to every new track)."""
    import os
    import stat

    rig.recorder.group = group
    old = os.umask(0o022)  # the usual umask made 0644 files and 0755 folders
    try:
        attach(rig, "NM-1", "Boom")
        await until(lambda: len(rig.channels.available()) == 1, within=10)
        take = await rig.recorder.start_take(scene="7")
        rig.feed("NM-1", take.start_position, take.start_position + RATE // 2, 440.0)
        rig.clock.advance(0.5)
        done = await rig.recorder.stop_take()
    finally:
        os.umask(old)
    tracks = list(done.tracks.values())
    assert tracks
    for folder in (rig.directory, done.directory):
        mode = folder.stat().st_mode
        assert stat.S_IMODE(mode) & 0o777 == 0o750, (folder, oct(mode))
        assert bool(mode & stat.S_ISGID) == (group is not None)
        if group is not None:
            assert folder.stat().st_gid == group
    for track in tracks:
        info = track.path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o640, (track.path, oct(info.st_mode))
        if group is not None:
            assert info.st_gid == group
