"""A proxy goes up while its take rolls, part 1 included (issue 16's "stop → mix proxy
acknowledged" for long takes): it is append-only, byte-identical in Frame.io to the file on
disk, tagged as before, sample-aligned with its hero, and made whole after a power cut."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.recorder.derived import DerivedSettings
from c2c_hub.recorder.mix import MixSettings
from c2c_hub.recorder.proxy import LEAD_IN, ProxyEncoder
from c2c_hub.recorder.recovery import JOURNAL_FILE
from c2c_hub.recorder.takes import Recorder
from c2c_hub.session import Session
from c2c_hub.uploader import FileState
from tests.recorder.conftest import RATE, attach
from tests.recorder.test_mix import make_rig
from tests.uploader.conftest import MiB, UploaderFactory, sha256_of, until
from tests.uploader.conftest import Recorder as Events


def lag_of(proxy: Path, hero: np.ndarray) -> tuple[int, float]:
    """How many samples the decoded proxy lags its hero (within ±3), and the RMS difference
    there (full scale 1), past the codec's lead-in. An MP3 without gapless information decoded
    as is lags by ``LEAD_IN`` (1105) samples: with the tests' sine that is a large difference
    at every lag tried."""
    decoded = sf.read(str(proxy), dtype="float64", always_2d=True)[0][:, 0]
    x = hero.astype(np.float64) / 2**31
    x = x if x.ndim == 1 else x[:, 0]
    end = min(len(x), len(decoded)) - 2000
    errors = {
        lag: float(
            np.sqrt(
                np.mean((decoded[LEAD_IN + 1000 + lag : end + lag] - x[LEAD_IN + 1000 : end]) ** 2)
            )
        )
        for lag in range(-3, 4)
    }
    best = min(errors, key=errors.__getitem__)
    return best, errors[best]


def head(path: Path, size: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


def tags_of(path: Path) -> dict[str, str]:
    return {f.desc: f.text[0] for f in ID3(path).getall("TXXX")}


async def test_a_proxy_goes_up_while_the_take_rolls_part_1_included(
    session: Session, uploaders: UploaderFactory, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """140 s at 320 kbit/s: proxies over one 5 MiB part. Part 1 (the tag and the first frames)
    is acknowledged before stop; what was sent is never rewritten; Frame.io's copy is the file
    on disk; an independent reader finds the tags and the hero's samples, sample for sample.
    The mix's proxy then fails mid-take (its disk fills), after its part 1 went up: it is
    ``failed`` with the reason, and its hero and every other file go on."""
    disk_full = False

    class MixProxyDiskFills(ProxyEncoder):
        """A real encoder; the mix's proxy's disk fills when the test says so."""

        def write(self, samples: Any) -> None:
            if disk_full and self.path.name.endswith("_Mix.mp3"):
                self._fail("encoding failed: [Errno 28] No space left on device")
                return
            super().write(samples)

    derived = DerivedSettings(
        mix_settings=MixSettings(mode="mono"),
        proxy_bitrate_kbps=320,
        proxy_files=frozenset({"mix", "iso"}),
    )
    async with make_rig(
        session, uploaders, tmp_path, derived, proxy_encoder=MixProxyDiskFills
    ) as rig:
        attach(rig, "NM-1", "Boom")
        uploader = rig.recorder.uploader
        events = Events()
        uploader.on_event(events)
        await until(lambda: len(rig.channels.available()) == 1, within=10)
        take = await rig.recorder.start_take(scene="5", take=2)
        start = take.start_position

        async def play(first: int, seconds: int) -> None:
            for second in range(first, first + seconds):
                at = start + second * RATE
                rig.feed("NM-1", at, at + RATE, 440.0, block=4800)
                await rig.recorder.flush()  # the writer's turn: the proxies are encoded

        await play(0, 140)
        names = {f["name"]: f["id"] for f in uploader.files()}
        proxy_id, mix_proxy_id = names["S5_T002_01_Boom.mp3"], names["S5_T002_00_Mix.mp3"]
        path = Path(uploader.file(proxy_id)["path"])
        for file_id in (proxy_id, mix_proxy_id):
            await until(lambda i=file_id: events.of("part_acked", file_id=i, part=1), within=60)
            assert uploader.file(file_id)["state"] == FileState.RECORDING  # still rolling
        part_1 = head(path, 5 * MiB)

        disk_full = True  # the mix's proxy fails, with part 1 already in Frame.io
        await play(140, 2)
        await until(lambda: uploader.file(mix_proxy_id)["state"] == FileState.FAILED, within=10)
        assert "No space left" in (uploader.file(mix_proxy_id)["reason"] or "")
        done = await rig.recorder.stop_take()
        await until(
            lambda: all(f["state"] in ("done", "failed") for f in uploader.files()), within=60
        )
        states = {f["name"]: f["state"] for f in uploader.files()}
        assert states == {
            "S5_T002_00_Mix.mp3": "failed",
            "S5_T002_00_Mix.wav": "done",
            "S5_T002_01_Boom.mp3": "done",
            "S5_T002_01_Boom.wav": "done",
        }
        for f in uploader.files():
            if f["state"] == "done":
                asset = emulator.asset(f["asset_id"])
                assert asset["complete"] and asset["sha256"] == sha256_of(Path(f["path"]))
        asset = emulator.asset(uploader.file(proxy_id)["asset_id"])
        assert asset["filesize"] > 5 * MiB and len(asset["parts"]) == 2
        assert [p["attempts"] for p in asset["parts"]] == [1, 1]  # part 1 sent once, early
        assert head(path, 5 * MiB) == part_1  # not a byte of it changed at close

        tags = tags_of(path)
        assert tags["TIMECODE"] == take.start_timecode
        assert (tags["SCENE"], tags["TAKE"], tags["TRACK_NAME"]) == ("5", "2", "Boom")
        assert tags["PROJECT"] == "Test Project" and tags["HERO"] == "S5_T002_01_Boom.wav"
        info = MP3(path).info
        assert abs(info.bitrate - 320000) < 1000 and abs(info.length - 142) < 0.1
        assert b"Info" not in part_1[:2048] and b"Xing" not in part_1[:2048]
        iso = sf.read(str(done.tracks["NM-1"].path), dtype="int32")[0]
        lag, error = lag_of(path, iso)
        assert lag == 0 and error < 0.01  # sample n of the proxy is sample n of the hero


async def test_after_a_power_cut_each_proxy_is_rebuilt_from_its_hero_and_uploads(
    session: Session, uploaders: UploaderFactory, tmp_path: Path, emulator: EmulatorHandle
) -> None:
    """The power goes mid-take: the proxies on disk end wherever the page cache left them and
    the encoders' buffered frames are gone. At the restart each is encoded again from its
    repaired hero: its durable bytes are the same bytes, it holds every sample the hero does,
    and it uploads byte-identical."""
    rng = random.Random(16)
    derived = DerivedSettings(
        mix_settings=MixSettings(mode="stereo"), proxy_files=frozenset({"mix", "iso"})
    )
    async with make_rig(session, uploaders, tmp_path, derived) as rig:
        attach(rig, "NM-1", "Boom")
        await until(lambda: len(rig.channels.available()) == 1, within=10)
        take = await rig.recorder.start_take(scene="9")
        start = take.start_position
        for at in range(start, start + int(4.55 * RATE), RATE // 10):
            rig.feed("NM-1", at, at + RATE // 10, 440.0)
            await rig.recorder.flush()
        assert take.derived is not None and take.derived.mix is not None
        proxies = [f for f in take.derived.files if f.kind == "proxy"]
        assert len(proxies) == 2 and all(p.durable > 10_000 for p in proxies)
        durable = {p.path: p.path.read_bytes()[: p.durable] for p in proxies}

        # The power goes: nothing more is written; each hero keeps only what was durable (the
        # worst case for its proxy), each proxy anything at or after its last durable point.
        old = rig.recorder
        assert old._writer is not None
        old._writer.cancel()
        for track in take.tracks.values():
            track.assembler.writer.abandon()
            os.truncate(track.path, track.durable_size)
        take.derived.mix.writer.abandon()
        assert take.derived.mix_file is not None
        os.truncate(take.derived.mix_file.path, take.derived.mix_file.durable)
        for item in proxies:
            assert item.proxy is not None
            item.proxy.abandon()
            os.truncate(item.path, rng.randint(item.durable, item.path.stat().st_size))
        old.take = None
        await old.uploader.stop()
        assert (tmp_path / JOURNAL_FILE).exists()

        uploader = uploaders(channels=rig.channels)
        rig.channels.on_change(uploader.channels_changed)
        again = Recorder(
            rig.registry,
            uploader,
            directory=rig.directory,
            data_dir=tmp_path,
            clock=rig.clock,
            timecode=old.timecode,
            derived=derived,
        )
        await again.recover()
        assert not (tmp_path / JOURNAL_FILE).exists()
        shown = again.snapshot()["recovered"]  # in the status: the heroes repaired, proxies rebuilt
        for item in proxies:
            assert any(d.startswith(f"{item.path.name}: encoded again from ") for d in shown)
        await uploader.start()
        for item in proxies:
            assert item.hero is not None and item.file_id is not None
            data = item.path.read_bytes()
            assert data.startswith(durable[item.path])  # what was durable: the same bytes
            hero = sf.read(str(item.hero), dtype="int32")[0]
            decoded = sf.read(str(item.path), dtype="int32")[0]
            assert len(decoded) >= len(hero)  # every sample the hero kept
            lag, error = lag_of(item.path, hero)
            assert lag == 0 and error < 0.03  # sample n of the proxy is sample n of the hero
            assert tags_of(item.path)["SCENE"] == "9"
            await until(lambda i=item: uploader.file(i.file_id)["state"] == "done", within=30)
            asset = emulator.asset(uploader.file(item.file_id)["asset_id"])
            assert asset["complete"] and asset["sha256"] == sha256_of(item.path)
        await uploader.stop()
