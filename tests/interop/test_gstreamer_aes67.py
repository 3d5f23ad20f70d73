"""AES67 against code nobody here wrote: GStreamer's RTP L16/L24 payloaders and depayloaders.

- GStreamer sends a WAV of known samples (``rtpL24pay``/``rtpL16pay``) to a multicast group on
  loopback; the hub's aes67 source, given the stream's SDP in its folder, must hold exactly
  those samples, sample by sample, at the place the RTP timestamps say.
- The emulated sender sends; ``rtpL24depay``/``rtpL16depay`` must reproduce its samples.

Multicast stays on loopback, on groups and ports picked at random for each test. Every
process is bounded in time. Skipped (with the reason) only where gst-launch-1.0 is missing
(``make test`` installs it: gstreamer1.0-tools, -plugins-base, -plugins-good).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from c2c_hub_plugins.aes67.emulated import EmulatedAes67Sender, pattern
from c2c_hub_plugins.aes67.sdp import Origin, parse_sdp, write_sdp
from c2c_hub_plugins.aes67.source import channel_serial
from c2c_hub_plugins.aes67.timeline import MediaTimeline
from tests.plugins.aes67.conftest import FakeSourceContext, new_groups, sources

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("gst-launch-1.0") is None,
        reason="gst-launch-1.0 is not installed (Debian: gstreamer1.0-tools, "
        "gstreamer1.0-plugins-base, gstreamer1.0-plugins-good)",
    ),
]

RATE = 48000
GST_TIMEOUT_S = 30


def known_samples(frames: int, channels: int, bits: int) -> np.ndarray:
    """Different at every sample and channel, so any shift or swap shows."""
    indexes = np.arange(frames, dtype=np.int64)
    return np.stack([pattern(indexes, c, bits) for c in range(channels)], axis=1)


@pytest.mark.parametrize(("encoding", "channels"), [("L24", 2), ("L16", 1), ("L24", 6)])
async def test_gstreamer_sends_the_hub_holds_exactly_those_samples_in_place(
    tmp_path: Path, encoding: str, channels: int
) -> None:
    groups = new_groups()
    async with sources(groups) as start:
        await _gstreamer_sends(start, groups.rtp[0], groups.port, tmp_path, encoding, channels)


async def _gstreamer_sends(
    run_source: Any, address: str, port: int, tmp_path: Path, encoding: str, channels: int
) -> None:
    bits = 24 if encoding == "L24" else 16
    frames = RATE  # one second
    samples = known_samples(frames, channels, bits)
    wav = tmp_path / "known.wav"
    sf.write(wav, samples, RATE, subtype=f"PCM_{bits}")
    mediaclk_offset = 1_234_567
    timeline = MediaTimeline(RATE)
    # PTP-locked senders stamp "now"; GStreamer's first timestamp is its timestamp-offset
    start_index = timeline.index_now() + RATE // 2
    ts_offset = (start_index + mediaclk_offset) & 0xFFFFFFFF
    sdp = write_sdp(
        origin=Origin("gst", "4242", "1", "127.0.0.1"),
        name="GStreamer",
        address=address,
        port=port,
        encoding=encoding,
        sample_rate=RATE,
        channels=channels,
        payload_type=96,
        ttl=1,
        mediaclk_offset=mediaclk_offset,
    )
    (tmp_path / "sdp").mkdir()
    (tmp_path / "sdp" / "gst.sdp").write_text(sdp)
    run = await run_source(sap=False, sdp_folder=str(tmp_path / "sdp"))
    ctx: FakeSourceContext = run.ctx
    await ctx.wait_for("the folder read", lambda: run.source.streams())
    fmt = "S24BE" if bits == 24 else "S16BE"
    pipeline = (
        f"filesrc location={wav} ! wavparse ! audioconvert ! "
        f"audio/x-raw,format={fmt},rate={RATE},channels={channels} ! "
        f"rtp{encoding}pay pt=96 min-ptime=1000000 max-ptime=1000000 "
        f"timestamp-offset={ts_offset} seqnum-offset=65500 ! "
        f"udpsink host={address} port={port} auto-multicast=true ttl-mc=1 "
        "multicast-iface=lo sync=true"
    )
    proc = await asyncio.create_subprocess_exec(
        "gst-launch-1.0", "-q", *pipeline.split(), stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(GST_TIMEOUT_S):
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    session = parse_sdp(sdp)
    serials = [channel_serial(session, session.streams[0], c) for c in range(channels)]
    await ctx.wait_for("every frame", lambda: all(ctx.frames(s) >= frames for s in serials))
    counters = run.source.streams()[0]
    assert counters["lost"] == 0 and counters["malformed"] == 0, counters
    position = timeline.position(start_index)
    for channel, serial in enumerate(serials):
        first, got = ctx.span(serial)
        assert first == position, f"the first sample is {first - position} samples off"
        assert got.size == frames
        assert np.array_equal(got, samples[:, channel].astype(np.int64)), f"channel {channel}"


@pytest.mark.parametrize(("encoding", "channels"), [("L24", 2), ("L16", 1)])
def test_gstreamer_depayloads_exactly_what_the_emulated_sender_sends(
    tmp_path: Path, encoding: str, channels: int
) -> None:
    groups = new_groups()
    sender = EmulatedAes67Sender(
        channels=channels,
        encoding=encoding,
        address=groups.rtp[1],
        port=groups.port,
        sap=False,
    )
    out = tmp_path / "out.raw"
    caps = (
        f"application/x-rtp,media=audio,clock-rate={RATE},encoding-name={encoding},"
        f"channels={channels},payload=96"
    )
    pipeline = [
        "udpsrc",
        f"address={groups.rtp[1]}",
        f"port={groups.port}",
        "auto-multicast=true",
        "multicast-iface=lo",
        f"caps={caps}",
        "!",
        f"rtp{encoding}depay",
        "!",
        "filesink",
        f"location={out}",
    ]
    proc = subprocess.Popen(
        ["gst-launch-1.0", "-e", "-q", *pipeline], stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(1.0)  # let it join the group (what it misses is found below)
        sender.start()
        deadline = time.monotonic() + 10
        while sender.packets_sent < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        sender.stop()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # -e: end of stream, the file is flushed
        _, err = proc.communicate(timeout=GST_TIMEOUT_S)
        assert proc.returncode == 0, err
    finally:
        sender.stop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    width = 3 if encoding == "L24" else 2
    raw = np.frombuffer(out.read_bytes(), dtype=np.uint8)
    assert raw.size >= 500 * 48 * channels * width, "GStreamer received too little"
    wide = np.zeros((raw.size // width, 4), dtype=np.uint8)
    wide[:, :width] = raw.reshape(-1, width)
    got = wide.view(">i4").reshape(-1, channels).astype(np.int32)
    assert sender.first_index is not None and sender.next_index is not None
    sent = sender.expected(sender.first_index, sender.next_index - sender.first_index)
    # where GStreamer's first frame is in what was sent (the pattern is unique per sample)
    # (16-bit values repeat now and then: a match of the first 8 frames is unique)
    candidates = np.flatnonzero((sent == got[0]).all(axis=1))
    starts = [int(i) for i in candidates if np.array_equal(sent[i : i + 8], got[:8])]
    assert len(starts) == 1, "GStreamer's first frames are not ones the sender sent"
    start = starts[0]
    assert start % sender.frames_per_packet == 0
    assert np.array_equal(got, sent[start : start + got.shape[0]])
