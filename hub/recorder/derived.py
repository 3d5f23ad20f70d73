"""What a take derives from its tracks: the mix, the proxies and the poly file.

- **The mix** (:mod:`~c2c_hub.recorder.mix`): a BWF of its own (``S12A_T003_00_Mix.wav``, bext
  and an iXML naming its channels and, in its note, the tracks it mixes), written while the take
  rolls from what reaches each ISO file, and uploaded in real time on the primary channel.
- **Proxies** (:mod:`~c2c_hub.recorder.proxy`): an MP3 of the mix and of each ISO, encoded in
  the writer thread as the hero is written, uploaded in real time on the hero's channel, part 1
  included (a proxy is append-only: at stop only its tail is left); at the take's end their
  last parts go before the heroes' (upload order by kind). After a power cut each proxy is
  encoded again from its repaired hero (:func:`~c2c_hub.recorder.proxy.rebuild_proxy`).
- **The poly file**: every ISO in one polyphonic BWF with an iXML track list, written after the
  take stops (from the closed ISOs) and queued on the primary channel.

Upload order: each file is queued with its kind (``proxy``, ``mix``, ``iso``, ``poly``) and the
uploader's type priorities rank the kinds (``kind:proxy`` ...), set from
``recorder.upload_order`` when the recorder starts; the ends of a take's recordings are sent in
that order (:meth:`c2c_hub.uploader.Uploader.begin_recording`).

Everything that touches a file runs in the recorder's writer thread or ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from c2c_hub.recorder.id3 import id3v23_tag
from c2c_hub.recorder.mix import Mixer, MixSettings, TrackMix
from c2c_hub.recorder.proxy import ProxyEncoder, proxy_name
from c2c_hub.recorder.wav import BwfWriter, TrackAssembler, TrackInfo, track_filename
from c2c_hub.recorder.wav.info import Samples
from c2c_hub.uploader import Uploader
from c2c_hub.uploader.content_types import WAV

log = logging.getLogger(__name__)

MP3 = "audio/mpeg"
KIND_ORDER = ("proxy", "mix", "iso", "poly")
POLY_CHUNK = 1 << 16


@dataclass(frozen=True)
class DerivedSettings:
    """``[recorder.mix]``, ``[recorder.proxy]``, ``recorder.poly``, ``recorder.upload_order``."""

    mix: bool = True
    mix_settings: MixSettings = field(default_factory=MixSettings)
    proxies: bool = True
    proxy_files: frozenset[str] = frozenset({"mix"})
    proxy_bitrate_kbps: int = 128
    poly: bool = False
    upload_order: tuple[str, ...] = KIND_ORDER

    def type_priorities(self) -> dict[str, int]:
        """``kind:<k>`` → priority: the first kind of ``upload_order`` highest."""
        n = len(self.upload_order)
        return {f"kind:{k}": 10 * (n - 1 - i) for i, k in enumerate(self.upload_order)}


def derived_settings(recorder: Any) -> DerivedSettings:
    """From ``[recorder]`` (:class:`c2c_hub.settings.RecorderSettings`)."""
    mix = recorder.mix
    return DerivedSettings(
        mix=mix.enabled,
        mix_settings=MixSettings(
            mode=mix.mode,
            tracks={
                key: TrackMix(gain_db=t.gain_db, pan=t.pan, mute=t.mute)
                for key, t in mix.tracks.items()
            },
        ),
        proxies=recorder.proxy.enabled,
        proxy_files=frozenset(recorder.proxy.files),
        proxy_bitrate_kbps=recorder.proxy.bitrate_kbps,
        poly=recorder.poly,
        upload_order=tuple(recorder.upload_order),
    )


EncoderFactory = Callable[..., ProxyEncoder]


@dataclass
class Derived:
    """One derived file of a take."""

    kind: str
    path: Path
    file_id: int | None = None
    durable: int = 0
    proxy: ProxyEncoder | None = None  # for a proxy: its encoder
    hero: Path | None = None  # for a proxy: the file it is a proxy of
    failed: str | None = None
    reported_failed: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "file": self.path.name,
            "path": str(self.path),
            "file_id": self.file_id,
            "failed": self.failed or (self.proxy.failed if self.proxy else None),
        }
        if self.proxy is not None:
            out.update(self.proxy.snapshot())
        return out


def proxy_tag(info: TrackInfo, timecode: str, hero: Path) -> bytes:
    """The ID3v2.3 tag of a hero's proxy (see :mod:`c2c_hub.recorder.proxy`)."""
    title = f"Scene {info.scene} Take {info.take}: {info.track_name or hero.stem}"
    origination = info.origination
    text = [
        ("TIT2", title),
        ("TALB", info.project),
        ("TRCK", str(info.track_index)),
        ("TSSE", "c2c-hub proxy of " + hero.name),
    ]
    if origination is not None:
        text += [("TYER", origination.strftime("%Y")), ("TDAT", origination.strftime("%d%m"))]
    user = [
        ("TIMECODE", timecode),
        ("SCENE", info.scene),
        ("TAKE", info.take),
        ("TAPE", info.tape),
        ("TRACK_NAME", info.track_name),
        ("PROJECT", info.project),
        ("TIME_REFERENCE", str(info.time_reference)),
        ("SAMPLE_RATE", str(info.sample_rate)),
        ("HERO", hero.name),
    ]
    return id3v23_tag(text, user)


class TakeDerived:
    """The mix, proxies and poly file of one take (see the module docstring)."""

    def __init__(
        self,
        settings: DerivedSettings,
        uploader: Uploader,
        *,
        base: TrackInfo,
        timecode: str,
        capture_time: float,
        encoder: EncoderFactory = ProxyEncoder,
    ) -> None:
        self.settings = settings
        self.uploader = uploader
        self.base = base
        self.timecode = timecode
        self.capture_time = capture_time
        self.encoder = encoder
        self.mixer: Mixer | None = Mixer(settings.mix_settings) if settings.mix else None
        self.mix: TrackAssembler | None = None
        self.mix_file: Derived | None = None
        self.files: list[Derived] = []  # every derived file, proxies included
        self.poly_file: Derived | None = None
        self._poly_task: asyncio.Task[None] | None = None
        self._iso_proxies: dict[str, Derived] = {}  # by the serial of the ISO they are of
        self._mixed_out = 0
        self.synced_at = 0.0  # when the derived files were last fsynced (hub clock)

    @property
    def aligns(self) -> bool:
        """Tracks must keep up with each other (quiet ones padded): the mix follows them."""
        return self.mix is not None

    # ------------------------------------------------------------------ opening
    async def open_mix(self, names: list[str]) -> None:
        """Create the mix file and its proxy; register both (the proxy first)."""
        if self.mixer is None:
            return
        base = self.base
        channels = self.mixer.channels
        path = base.path.parent / track_filename(base.scene, base.take, 0, "Mix")
        info = replace(
            base,
            path=path,
            channels=channels,
            track_name="Mix",
            track_index=1,
            channel_names=("Mix L", "Mix R") if channels == 2 else ("Mix",),
            note=("mix of: " + ", ".join(names))[:240] if names else "mix",
            originator_reference=f"mix-{base.scene}-{base.take}"[:32],
        )
        try:
            self.mix = await asyncio.to_thread(_open_assembler, info)
        except OSError as exc:
            log.error("the mix cannot be written (%s): the take goes on without it", exc)
            self.mixer = None
            return
        proxy = await self._open_proxy("mix", info, priority=1)  # the mix's proxy first of all
        if proxy is not None:
            self.files.remove(proxy)
            self.files.insert(0, proxy)
            if proxy.proxy is not None:
                self.mix.tap = proxy.proxy.write
        self.mix_file = Derived("mix", path)
        self.mix_file.durable = self.mix.writer.durable_size
        self.mix_file.file_id = await self.uploader.begin_recording(
            path, filetype=WAV, channel=0, capture_time=self.capture_time, kind="mix"
        )
        self.files.append(self.mix_file)

    async def _open_proxy(
        self, what: str, info: TrackInfo, device: str | None = None, priority: int = 0
    ) -> Derived | None:
        if not self.settings.proxies or what not in self.settings.proxy_files:
            return None
        path = proxy_name(info.path)
        tag = proxy_tag(info, self.timecode, info.path)
        encoder = self.encoder(
            path,
            sample_rate=info.sample_rate,
            channels=info.channels,
            bitrate_kbps=self.settings.proxy_bitrate_kbps,
            tag=tag,
        )
        await asyncio.to_thread(encoder.open)
        item = Derived("proxy", path, proxy=encoder, hero=info.path)
        self.files.append(item)
        if not path.exists():
            item.failed = encoder.failed or "the proxy file could not be created"
            return item
        item.file_id = await self.uploader.begin_recording(
            path,
            filetype=MP3,
            channel=0,
            device=device,
            capture_time=self.capture_time,
            kind="proxy",
            priority=priority,
            append_only=True,  # part 1 goes up while it grows (see proxy.py)
        )
        return item

    async def track_opened(
        self, serial: str, assembler: TrackAssembler, *, device: str | None
    ) -> None:
        """An ISO track opened: it joins the mix, gets its proxy (on the hero's channel: the
        sub-device ``device``'s, or the primary one for None), and feeds both."""
        mixer = self.mixer
        if mixer is not None:
            mixer.add(serial, serial, assembler.info.track_name)
        proxy = await self._open_proxy("iso", assembler.info, device=device)
        encoder = proxy.proxy if proxy is not None else None
        if proxy is not None:
            self._iso_proxies[serial] = proxy

        def tap(block: Samples) -> None:
            if mixer is not None:
                mixer.feed(serial, block)
            if encoder is not None:
                encoder.write(block)

        assembler.tap = tap

    def track_failed(self, serial: str) -> None:
        """A track's file failed: the mix goes on without it."""
        if self.mixer is not None:
            self.mixer.remove(serial)

    def set_mix(self, settings: MixSettings) -> None:
        if self.mixer is not None:
            self.mixer.set_settings(settings)

    # ------------------------------------------------------------------ while rolling
    def advance(self, sync: bool) -> None:
        """Writer thread: mix what every track has reached; with ``sync``, fsync what is
        derived (only fsynced bytes are uploaded)."""
        if self.mix is not None and self.mixer is not None and not self.mix.finished:
            self._write_mix(self.mixer.pull())
            if sync:
                assert self.mix_file is not None
                self.mix_file.durable = self.mix.sync()
            else:
                self.mix.flush()
        if sync:
            isos = {id(i) for i in self._iso_proxies.values()}
            for item in self.files:  # the mix's proxy, after the mix (ISOs': hero_synced)
                if item.proxy is not None and not item.proxy.closed and id(item) not in isos:
                    size = item.proxy.sync()
                    if size is not None:
                        item.durable = size

    def hero_synced(self, serial: str) -> None:
        """Writer thread, just after the ISO ``serial`` was fsynced: fsync its proxy. A proxy
        is made durable only with its hero, so it never holds, durable (and perhaps sent),
        samples that a power cut could take from its hero: the proxy rebuilt from the hero
        after one starts with the very bytes that were durable."""
        item = self._iso_proxies.get(serial)
        if item is not None and item.proxy is not None and not item.proxy.closed:
            size = item.proxy.sync()
            if size is not None:
                item.durable = size

    def _write_mix(self, frames: Samples) -> None:
        if len(frames) and self.mix is not None:
            # the mixer's frames are fresh, never changed: held back as they are, not copied
            self.mix.write_at(self.base.start_position + self._mixed_out, frames, copy=False)
            self._mixed_out += len(frames)

    async def report(self) -> None:
        """Loop: tell the uploader what grew, and fail proxies whose encoder failed."""
        for item in self.files:
            if item.file_id is None:
                continue
            failed = item.proxy.failed if item.proxy is not None else None
            if failed is not None:
                if not item.reported_failed:
                    item.reported_failed = True
                    await self.uploader.fail_recording(item.file_id, f"proxy: {failed}")
                continue
            self.uploader.recording_grew(item.file_id, durable_size=item.durable)

    # ------------------------------------------------------------------ the end
    def finish(self, end: int, failed_tracks: list[str]) -> None:
        """Writer thread, after every ISO is closed: the mix to exactly the take's length, the
        proxies closed."""
        if self.mix is not None and self.mixer is not None:
            for serial in failed_tracks:
                self.mixer.remove(serial)
            try:
                self._write_mix(self.mixer.pull())
                self.mix.finish(end)
                assert self.mix_file is not None
                self.mix_file.durable = self.mix.writer.durable_size
            except OSError as exc:
                assert self.mix_file is not None
                self.mix_file.failed = f"could not close: {exc}"
                log.error("the mix could not be closed: %s", exc)
        for item in self.files:
            if item.proxy is not None:
                size = item.proxy.close()
                if size is not None:
                    item.durable = size

    async def end(self, heroes: list[tuple[str, int]]) -> None:
        """End every recording of the take in upload order: ``heroes`` are the ISOs
        ``(kind, file_id)``; the proxies and the mix are this object's."""
        order = {k: i for i, k in enumerate(self.settings.upload_order)}
        items: list[tuple[int, int, Derived | None, int]] = []
        n = 0
        for mine in self.files:
            if mine.file_id is not None:
                items.append((order.get(mine.kind, 99), n, mine, mine.file_id))
                n += 1
        for kind, file_id in heroes:
            items.append((order.get(kind, 99), n, None, file_id))
            n += 1
        await self.report()
        for _, _, item, file_id in sorted(items, key=lambda x: (x[0], x[1])):
            if item is not None:
                failed = item.failed or (item.proxy.failed if item.proxy else None)
                if failed is not None:
                    if not item.reported_failed:
                        item.reported_failed = True
                        await self.uploader.fail_recording(file_id, failed)
                    continue
                self.uploader.recording_grew(file_id, durable_size=item.durable)
            await self.uploader.end_recording(file_id)

    # ------------------------------------------------------------------ the poly file
    def start_poly(self, isos: list[TrackInfo], end: int) -> None:
        """After the take: every ISO in one polyphonic BWF, queued when written."""
        if not self.settings.poly or not isos:
            return
        self._poly_task = asyncio.get_running_loop().create_task(
            self._poly(isos, end), name="recorder-poly"
        )

    async def _poly(self, isos: list[TrackInfo], end: int) -> None:
        base = self.base
        path = base.path.parent / track_filename(base.scene, base.take, 0, "Poly")
        self.poly_file = item = Derived("poly", path)
        info = replace(
            base,
            path=path,
            channels=len(isos),
            track_name="Poly",
            track_index=1,
            channel_names=tuple(i.track_name or i.path.stem for i in isos),
            note="",
            originator_reference=f"poly-{base.scene}-{base.take}"[:32],
        )
        try:
            await asyncio.to_thread(write_poly, info, [i.path for i in isos])
            item.file_id = await self.uploader.enqueue(
                path, filetype=WAV, channel=0, capture_time=self.capture_time, kind="poly"
            )
        except Exception as exc:
            item.failed = str(exc)
            log.exception("the poly file could not be written")

    async def wait(self) -> None:
        """Until the poly file (if any) is written and queued."""
        if self._poly_task is not None:
            await asyncio.gather(self._poly_task, return_exceptions=True)

    def journal(self) -> list[dict[str, Any]]:
        """What to make whole after a power cut: the mix (a WAV to repair), then each proxy
        (to encode again from its hero, once the hero is repaired)."""
        out: list[dict[str, Any]] = []
        if self.mix_file is not None:
            out.append({"path": str(self.mix_file.path), "serial": "mix", "file_id": None})
        for item in self.files:
            if item.proxy is not None and item.hero is not None and item.file_id is not None:
                out.append(
                    {
                        "path": str(item.path),
                        "kind": "proxy",
                        "hero": str(item.hero),
                        "bitrate_kbps": item.proxy.bitrate_kbps,
                        "file_id": item.file_id,
                    }
                )
        return out

    def to_json(self) -> dict[str, Any]:
        files = [f.to_json() for f in self.files]
        if self.poly_file is not None:
            files.append(self.poly_file.to_json())
        return {
            "mix": self.mixer.snapshot() if self.mixer is not None else None,
            "files": files,
        }


def _open_assembler(info: TrackInfo) -> TrackAssembler:
    return TrackAssembler(info, durable=True).open()


def write_poly(info: TrackInfo, sources: list[Path]) -> None:
    """Interleave mono 24-bit ISO files into one polyphonic BWF (``info.channels`` of them),
    each as long as the longest (a shorter one, closed early, ends in silence)."""
    readers = [sf.SoundFile(str(p)) for p in sources]
    try:
        frames = max(r.frames for r in readers)
        with BwfWriter(info, fsync=False, durable=True) as writer:
            done = 0
            while done < frames:
                n = min(POLY_CHUNK, frames - done)
                block = np.zeros((n, len(readers)), dtype=np.int32)
                for c, reader in enumerate(readers):
                    data = reader.read(n, dtype="int32", always_2d=True)
                    block[: len(data), c] = data[:, 0]
                writer.write(block)
                done += n
    finally:
        for reader in readers:
            reader.close()


__all__ = ["DerivedSettings", "TakeDerived", "derived_settings", "proxy_tag", "write_poly"]
