"""The mix, the proxies, the poly file and the upload order, end to end below the plugins:
known signals in, a mix equal to the numpy sum of the ISOs with the gains and pans set (within
24-bit rounding), uploaded on the primary channel and byte-identical in the emulator; each
proxy an MP3 with the hero's name and tags, acknowledged before its hero."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from c2c_hub.channels import ChannelManager
from c2c_hub.clock import ManualClock, SystemClock
from c2c_hub.devices import DeviceRegistry
from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.recorder.derived import DerivedSettings
from c2c_hub.recorder.id3 import id3v23_tag
from c2c_hub.recorder.mix import Mixer, MixSettings, TrackMix
from c2c_hub.recorder.proxy import ProxyEncoder
from c2c_hub.recorder.takes import Recorder
from c2c_hub.recorder.wav import read_track_metadata
from c2c_hub.session import Session
from c2c_hub.timecode import FrameRate, TimecodeClock
from c2c_hub.uploader import FileState
from tests.recorder.conftest import MODELS, RATE, Rig, attach, signal
from tests.uploader.conftest import UploaderFactory, sha256_of, until


def expected_mix(tracks: list[tuple[np.ndarray, TrackMix]], channels: int) -> np.ndarray:
    """The mix law, independently: float64 sum, rounded to 24 bits, left-justified."""
    out = np.zeros((len(tracks[0][0]), channels))
    for samples, t in tracks:
        if t.mute:
            continue
        g = 10 ** (t.gain_db / 20)
        x = samples.astype(np.float64) / 2**31
        if channels == 1:
            out[:, 0] += g * x
        else:
            a = (t.pan + 1) * math.pi / 4
            out[:, 0] += g * math.cos(a) * x
            out[:, 1] += g * math.sin(a) * x
    q = np.clip(np.rint(out * 2**23), -(2**23), 2**23 - 1).astype(np.int64)
    return q if channels > 1 else q[:, 0]


@contextlib.asynccontextmanager
async def make_rig(
    session: Session,
    uploaders: UploaderFactory,
    tmp_path: Path,
    derived: DerivedSettings,
    **kw: Any,
) -> AsyncIterator[Rig]:
    registry = DeviceRegistry(MODELS, time.time)
    channels = ChannelManager(session, registry, clock=SystemClock(), backoff_max_s=0.3)
    uploader = uploaders(channels=channels)
    channels.on_change(uploader.channels_changed)
    clock = ManualClock()
    recorder = Recorder(
        registry,
        uploader,
        directory=tmp_path / "recordings",
        data_dir=tmp_path,
        clock=clock,
        timecode=TimecodeClock(clock, FrameRate.parse("25")),
        stop_grace_s=0,
        project=lambda: "Test Project",
        derived=derived,
        **kw,
    )
    await uploader.start()
    await channels.start()
    await recorder.start()
    try:
        yield Rig(recorder, registry, channels, clock, tmp_path / "recordings")
    finally:
        await recorder.stop()
        await channels.stop()


MIX = MixSettings(
    mode="stereo",
    tracks={
        "NM-1": TrackMix(gain_db=-6.0, pan=-0.5),
        "Lav Alice": TrackMix(gain_db=2.5, pan=0.7),  # by name
        "NM-3": TrackMix(mute=True),
    },
)


@pytest.fixture
async def mix_rig(
    session: Session, uploaders: UploaderFactory, tmp_path: Path
) -> AsyncIterator[Rig]:
    derived = DerivedSettings(mix_settings=MIX, poly=True, proxy_files=frozenset({"mix", "iso"}))
    async with make_rig(session, uploaders, tmp_path, derived) as rig:
        yield rig


async def test_the_mix_is_the_sum_of_its_tracks_and_goes_up_on_the_primary_channel(
    mix_rig: Rig, emulator: EmulatorHandle
) -> None:
    rig = mix_rig
    attach(rig, "NM-1", "Boom")
    attach(rig, "NM-2", "Lav Alice")
    attach(rig, "NM-3", "Plant")
    await until(lambda: len(rig.channels.available()) == 3, within=10)
    take = await rig.recorder.start_take(scene="7B")
    start = take.start_position
    length = 3 * RATE + 77
    for at in range(start, start + length, 480):
        n = min(480, start + length - at)
        rig.advance_to(at + n)
        rig.send("NM-1", at, signal(at, n, 440.0))
        if not start + RATE <= at < start + RATE + 9600:  # NM-2 drops 0.2 s: silence in the mix
            rig.send("NM-2", at, signal(at, n, 660.0))
        rig.send("NM-3", at, signal(at, n, 1000.0))
        if (at - start) % 4800 == 0:
            await rig.recorder.flush()  # the mix is written while the take rolls
    mixed_while_rolling = take.derived.mixer.mixed if take.derived and take.derived.mixer else 0
    done = await rig.recorder.stop_take()
    assert mixed_while_rolling > RATE  # not all at the end
    tracks = sorted(done.tracks.values(), key=lambda t: t.index)
    isos = [sf.read(t.path, dtype="int32")[0] for t in tracks]
    mix_path = rig.directory / "S7B_T001" / "S7B_T001_00_Mix.wav"
    mix, rate = sf.read(mix_path, dtype="int32")
    assert rate == RATE and mix.shape == (length, 2)
    want = expected_mix(
        [
            (isos[0], MIX.tracks["NM-1"]),
            (isos[1], MIX.tracks["Lav Alice"]),
            (isos[2], MIX.tracks["NM-3"]),
        ],
        2,
    )
    assert np.max(np.abs((mix.astype(np.int64) >> 8) - want)) <= 1  # 24-bit rounding
    assert np.any(isos[1][RATE : RATE + 9600] == 0)

    meta = read_track_metadata(mix_path)
    assert list(meta.ixml.track_names) == ["Mix L", "Mix R"]
    assert "Boom" in meta.bext.description or "Boom" in (meta.ixml.note or "")
    assert meta.bext.time_reference == start

    uploader = rig.recorder.uploader
    files = {Path(f["path"]).name: f for f in uploader.files()}
    names = sorted(files)
    assert "S7B_T001_00_Mix.mp3" in names and "S7B_T001_01_Boom.mp3" in names
    await until(lambda: "S7B_T001_00_Poly.wav" in {f["name"] for f in uploader.files()}, within=15)
    await until(lambda: all(f["state"] in ("done", "failed") for f in uploader.files()), within=30)
    assets = {a["id"]: a for a in emulator.assets()}
    by_name = {}
    for f in uploader.files():
        assert f["state"] == FileState.DONE, f
        asset = assets[f["asset_id"]]
        assert asset["complete"] and asset["sha256"] == sha256_of(Path(f["path"]))
        by_name[f["name"]] = (f, asset)
    mix_file, mix_asset = by_name["S7B_T001_00_Mix.wav"]
    assert mix_asset["channel"] == 0 and mix_file["kind"] == "mix"
    proxy_file, proxy_asset = by_name["S7B_T001_00_Mix.mp3"]
    assert proxy_asset["channel"] == 0 and proxy_file["kind"] == "proxy"
    assert proxy_asset["completed_at"] <= mix_asset["completed_at"]  # the proxy first
    boom, boom_asset = by_name["S7B_T001_01_Boom.wav"]
    boom_proxy, boom_proxy_asset = by_name["S7B_T001_01_Boom.mp3"]
    assert boom_proxy_asset["channel"] == boom_asset["channel"] == rig.channels.index_of("NM-1")
    assert boom_proxy_asset["completed_at"] <= boom_asset["completed_at"]
    assert proxy_asset["completed_at"] <= boom_proxy_asset["completed_at"]  # the mix's first
    assert mix_asset["completed_at"] <= boom_asset["completed_at"]  # the mix before the ISOs
    poly, poly_asset = by_name["S7B_T001_00_Poly.wav"]
    assert poly_asset["channel"] == 0 and poly["kind"] == "poly"
    # The order is visible in the queue: each file's kind and its type's priority.
    assert [(f["kind"], f["type_priority"]) for f in (proxy_file, mix_file, boom, poly)] == [
        ("proxy", 30),
        ("mix", 20),
        ("iso", 10),
        ("poly", 0),
    ]

    # The proxies: MP3, the hero's tags (read by an independent library).
    tags = ID3(proxy_file["path"])
    user = {f.desc: f.text[0] for f in tags.getall("TXXX")}
    assert user["TIMECODE"] == take.start_timecode
    assert (user["SCENE"], user["TAKE"], user["PROJECT"]) == ("7B", "1", "Test Project")
    assert user["TRACK_NAME"] == "Mix" and tags["TALB"].text[0] == "Test Project"
    assert (
        ID3(boom_proxy["path"]).getall("TXXX")
        and {f.desc: f.text[0] for f in ID3(boom_proxy["path"]).getall("TXXX")}["TRACK_NAME"]
        == "Boom"
    )
    info = MP3(proxy_file["path"]).info
    assert info.channels == 2 and info.sample_rate == RATE
    assert abs(info.length - length / RATE) < 0.1
    decoded, _ = sf.read(proxy_file["path"], dtype="float32")
    assert len(decoded) >= length  # soundfile still reads it, tag and all

    # The poly file: every ISO, one channel each, named in its iXML track list.
    poly_data, _ = sf.read(poly["path"], dtype="int32")
    assert poly_data.shape == (length, 3)
    for c, iso in enumerate(isos):
        np.testing.assert_array_equal(poly_data[:, c], iso)
    assert list(read_track_metadata(Path(poly["path"])).ixml.track_names) == [
        "Boom",
        "Lav Alice",
        "Plant",
    ]


async def test_a_gain_set_while_rolling_applies_from_the_next_block(
    session: Session, uploaders: UploaderFactory, tmp_path: Path
) -> None:
    derived = DerivedSettings(mix_settings=MixSettings(mode="mono"), proxies=False)
    async with make_rig(session, uploaders, tmp_path, derived) as rig:
        attach(rig, "NM-1", "Boom")
        take = await rig.recorder.start_take()
        start = take.start_position
        rig.feed("NM-1", start, start + RATE, 440.0)
        await rig.recorder.flush()
        rig.recorder.set_mix(MixSettings(mode="stereo", tracks={"Boom": TrackMix(gain_db=-20)}))
        rig.feed("NM-1", start + RATE, start + 3 * RATE, 440.0)
        done = await rig.recorder.stop_take()
        iso = sf.read(done.tracks["NM-1"].path, dtype="int32")[0].astype(np.int64) >> 8
        mix = sf.read(done.directory / "S1_T001_00_Mix.wav", dtype="int32")[0]
        assert mix.ndim == 1  # the take's mode stays mono
        mix = mix.astype(np.int64) >> 8
        np.testing.assert_array_equal(mix[: RATE // 2], iso[: RATE // 2])  # unity at first
        tail = slice(2 * RATE, 3 * RATE)
        assert np.max(np.abs(mix[tail] - np.rint(iso[tail] * 10 ** (-1)))) <= 1  # -20 dB


async def test_an_encoder_failure_fails_the_proxy_and_the_hero_still_uploads(
    session: Session, uploaders: UploaderFactory, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """96 kHz: MP3 cannot carry it, so each proxy fails, with the reason, and nothing else."""
    derived = DerivedSettings(
        mix_settings=MixSettings(mode="mono"), proxy_files=frozenset({"mix", "iso"})
    )
    async with make_rig(session, uploaders, tmp_path, derived, sample_rate=96000) as rig:
        attach(rig, "NM-1", "Boom")
        channels, uploader = rig.channels, rig.recorder.uploader
        await until(lambda: len(channels.available()) == 1, within=10)
        take = await rig.recorder.start_take()
        rig.feed("NM-1", take.start_position, take.start_position + RATE, 440.0)
        await rig.recorder.stop_take()
        await until(
            lambda: all(f["state"] in ("done", "failed") for f in uploader.files()), within=30
        )
        states = {f["name"]: (f["state"], f["reason"]) for f in uploader.files()}
        assert states["S1_T001_01_Boom.wav"][0] == "done"
        assert states["S1_T001_00_Mix.wav"][0] == "done"
        for name in ("S1_T001_01_Boom.mp3", "S1_T001_00_Mix.mp3"):
            state, reason = states[name]
            assert state == "failed" and "48 kHz" in reason, states


class DiskFillsEncoder(ProxyEncoder):
    """A real encoder whose disk fills half a second in (as a full disk reports it)."""

    def write(self, samples: Any) -> None:
        if self.frames >= RATE // 2:
            self._fail("encoding failed: [Errno 28] No space left on device")
            return
        super().write(samples)


async def test_a_proxy_whose_encoder_fails_mid_take_is_failed_and_its_hero_goes_on(
    session: Session, uploaders: UploaderFactory, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    derived = DerivedSettings(
        mix_settings=MixSettings(mode="mono"), proxy_files=frozenset({"mix", "iso"})
    )
    async with make_rig(
        session, uploaders, tmp_path, derived, proxy_encoder=DiskFillsEncoder
    ) as rig:
        attach(rig, "NM-1", "Boom")
        channels, uploader = rig.channels, rig.recorder.uploader
        await until(lambda: len(channels.available()) == 1, within=10)
        take = await rig.recorder.start_take()
        for second in range(3):
            at = take.start_position + second * RATE
            rig.feed("NM-1", at, at + RATE, 440.0)
            await rig.recorder.flush()
        names = {f["name"]: f["id"] for f in uploader.files()}
        proxy = uploader.file(names["S1_T001_01_Boom.mp3"])
        assert proxy["state"] == "failed" and "No space left" in proxy["reason"]  # while rolling
        done = await rig.recorder.stop_take()
        await until(
            lambda: all(f["state"] in ("done", "failed") for f in uploader.files()), within=30
        )
        states = {f["name"]: f["state"] for f in uploader.files()}
        assert states == {
            "S1_T001_00_Mix.mp3": "failed",
            "S1_T001_00_Mix.wav": "done",
            "S1_T001_01_Boom.mp3": "failed",
            "S1_T001_01_Boom.wav": "done",
        }
        assert done.frames == 3 * RATE
        boom = uploader.file(names["S1_T001_01_Boom.wav"])
        asset = emulator.asset(boom["asset_id"])
        assert asset["complete"] and asset["sha256"] == sha256_of(done.tracks["NM-1"].path)


async def test_a_quiet_microphone_does_not_hold_the_mix_back(
    session: Session, uploaders: UploaderFactory, tmp_path: Path
) -> None:
    derived = DerivedSettings(mix_settings=MixSettings(mode="mono"), proxies=False)
    async with make_rig(session, uploaders, tmp_path, derived) as rig:
        attach(rig, "NM-1", "Boom")
        attach(rig, "NM-2", "Plant")
        take = await rig.recorder.start_take()
        start = take.start_position
        rig.feed("NM-2", start, start + RATE // 2, 220.0)  # then nothing: it went quiet
        for second in range(6):
            at = start + second * RATE
            rig.feed("NM-1", at, at + RATE, 440.0)
            await rig.recorder.flush()
        assert take.derived is not None and take.derived.mixer is not None
        # Behind by the tolerance (2 s) + 0.5 s + the holdback, not stuck at the quiet one's end.
        assert take.derived.mixer.mixed >= 3 * RATE
        done = await rig.recorder.stop_take()
        plant = sf.read(done.tracks["NM-2"].path, dtype="int32")[0]
        assert not np.any(plant[RATE // 2 :])  # silence from where it went quiet


def test_the_mixer_waits_for_every_track_and_a_late_joiner_joins_at_the_mix_head() -> None:
    mixer = Mixer(MixSettings(mode="mono"))
    mixer.add("a", "a", "A")
    mixer.add("b", "b", "B")
    one = np.full(100, 1 << 20, dtype=np.int32)
    mixer.feed("a", one)
    assert mixer.ready() == 0 and len(mixer.pull()) == 0  # b has nothing yet
    mixer.feed("b", one[:40])
    out = mixer.pull()
    assert len(out) == 40 and np.all(out == 2 << 20)
    mixer.add("c", "c", "C")  # joins at frame 40: its first 40 frames are skipped
    mixer.feed("c", np.full(100, 1 << 20, dtype=np.int32))
    mixer.feed("b", one[40:])
    out = mixer.pull()
    assert len(out) == 60 and np.all(out == 3 << 20)


def test_the_id3_writer_is_read_by_an_independent_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.mp3"
    x = (np.sin(np.arange(RATE) / 10) * (1 << 28)).astype(np.int32)
    enc = ProxyEncoder(
        path,
        sample_rate=RATE,
        channels=1,
        bitrate_kbps=96,
        tag=id3v23_tag([("TIT2", "Scène 1"), ("TALB", "Projekt Ω")], [("TIMECODE", "10:00:00:00")]),
    ).open()
    enc.write(x)
    assert enc.close() == path.stat().st_size
    tags = ID3(path)
    assert tags.version == (2, 3, 0)
    assert tags["TIT2"].text[0] == "Scène 1" and tags["TALB"].text[0] == "Projekt Ω"
    assert tags.getall("TXXX")[0].text[0] == "10:00:00:00"
    assert abs(MP3(path).info.bitrate - 96000) < 2000
    assert len(sf.read(path)[0]) >= RATE


def test_a_proxy_whose_file_is_closed_under_it_fails_with_the_reason_and_nothing_escapes(
    tmp_path: Path,
) -> None:
    """An abrupt stop can close the proxy's file while its writer thread still encodes: the
    encoder must know it failed (and say why), not print an error from libsndfile's callback
    and carry on as if the file were still being written."""
    path = tmp_path / "t.mp3"
    x = (np.sin(np.arange(2 * RATE) / 10) * (1 << 28)).astype(np.int32)
    enc = ProxyEncoder(path, sample_rate=RATE, channels=1, bitrate_kbps=128, tag=b"").open()
    enc.write(x)
    assert enc.failed is None
    escaped: list[str] = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda seen: escaped.append(repr(seen.exc_value))
    try:
        assert enc._fh is not None
        enc._fh.close()  # what the abrupt stop does from another thread
        enc.write(x)
        enc.write(x)
        assert enc.close() is None
    finally:
        sys.unraisablehook = hook
    assert escaped == []
    assert enc.failed is not None and "closed file" in enc.failed
    assert enc.snapshot()["failed"] == enc.failed  # in the status, as any proxy failure
