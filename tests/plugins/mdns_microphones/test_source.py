"""The mDNS microphone plugin against emulated microphones on real zeroconf (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from typing import Any

import numpy as np
import pluggy
import pytest

import c2c_hub_plugins.mdns_microphones as plugin
from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.plugin import spec
from c2c_hub.subdevices import AudioBlock, DeviceSource
from c2c_hub_plugins.mdns_microphones import MdnsMicrophoneSource, OptionsError
from c2c_hub_plugins.mdns_microphones.emulated import (
    GARBAGE_TXT,
    EmulatedMicrophone,
    samples_since_midnight,
)
from c2c_hub_plugins.mdns_microphones.protocol import HEADER_SIZE, SERVICE_TYPE
from tests.plugins.mdns_microphones.conftest import (
    DEVICE_MODELS,
    FakeSourceContext,
    MicFactory,
    SourceFactory,
)

MIC_MODEL_ID = "a3c5e7f9-1b2d-4f6a-8c0e-2d4f6a8c0e13"
FAST = {"stream_timeout_s": 0.4, "vanish_timeout_s": 0.8, "reconnect_max_s": 0.2}


def assert_blocks_match(mic: EmulatedMicrophone, blocks: list[AudioBlock]) -> None:
    assert blocks
    for block in blocks:
        expected = mic.expected_samples(block.position, block.frames)
        assert (block.samples == expected).all(), f"{mic.serial} differs at {block.position}"


def gaps(blocks: list[AudioBlock]) -> list[int]:
    """The samples missing between consecutive blocks (0 when they follow each other)."""
    return [b.position - (a.position + a.frames) for a, b in itertools.pairwise(blocks)]


def socket_inodes() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


def test_the_plugin_registers_one_source_through_the_hook() -> None:
    pm = pluggy.PluginManager(spec.PROJECT)
    pm.add_hookspecs(spec)
    pm.register(plugin)
    registered: list[DeviceSource] = []
    pm.hook.register_sources(register=registered.append)
    assert len(registered) == 1
    assert isinstance(registered[0], MdnsMicrophoneSource)
    assert isinstance(registered[0], DeviceSource) and registered[0].name == "mdns-microphones"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"interfaces": "127.0.0.1"}, "interfaces: expected a non-empty list"),
        ({"interfaces": ["eth0"]}, "not an IPv4 address"),
        ({"stream_timeout_s": 0}, "stream_timeout_s: expected seconds"),
        ({"vanish_timeout": 1}, "unknown option"),
    ],
)
async def test_bad_options_are_reported_and_raised(
    options: dict[str, object], problem: str
) -> None:
    ctx = FakeSourceContext(options=options)
    with pytest.raises(OptionsError, match=problem):
        await MdnsMicrophoneSource().run(ctx)
    assert ctx.last_report is not None and ctx.last_report[0] is False
    assert problem in ctx.last_report[1]


async def test_discovers_microphones_and_attaches_them_with_model_serial_name_format(
    start_mics: MicFactory, run_source: SourceFactory, service_type: str
) -> None:
    run = await run_source()
    mics = await start_mics(
        ("MIC-1", "Boom 1"),
        ("MIC-2", "Lav 2", {"sample_rate": 96000, "bits": 32, "channels": 2}),
        ("MIC-3", "Plant 3", {"bits": 16, "signal": "speech"}),
    )
    latencies = []
    for mic in mics:
        call = await run.ctx.wait_attached(mic.serial)
        device = call.args[0]
        assert device.model_id == MIC_MODEL_ID
        assert device.name == mic.name
        assert device.audio == mic.audio
        assert device.address == f"127.0.0.1:{mic.port}"
        assert device.details["service"] == mic.service_name
        assert mic.announced_at is not None
        latencies.append(call.at - mic.announced_at)
    print(f"announcement -> ctx.attach: {', '.join(f'{s * 1000:.1f} ms' for s in latencies)}")
    # Found by its announcement, not by a later query (a figure for `make bench`; a busy
    # machine delays it).
    assert max(latencies) < 5.0
    await run.ctx.wait_report(f"browsing {service_type} on 127.0.0.1; 3 microphones")
    assert run.ctx.of_kind("refused") == [] and run.ctx.of_kind("bad-audio") == []


async def test_the_real_service_type_and_device_models_find_a_real_netmic(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    # Others on this machine may browse or announce _c2cmic._tcp too: only ours are checked.
    token = secrets.token_hex(3)
    run, (mic,) = await asyncio.gather(
        run_source(models=DeviceModelRegistry.load(DEVICE_MODELS)),
        start_mics((f"MIC-{token}", f"Real type {token}", {"service_type": SERVICE_TYPE})),
    )
    call = await run.ctx.wait_attached(mic.serial)
    assert call.args[0].model_id == MIC_MODEL_ID
    assert call.args[0].details["service"] == f"Real type {token}._c2cmic._tcp.local."
    await run.ctx.wait_frames(mic.serial, 4800)
    assert_blocks_match(mic, run.ctx.blocks[mic.serial])
    assert run.ctx.last_report is not None
    assert run.ctx.last_report[1].startswith("browsing _c2cmic._tcp.local. on 127.0.0.1; ")


async def test_audio_arrives_at_clock_positions_sample_for_sample(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    mics = await start_mics(
        ("MIC-T", "Tone"), ("MIC-S", "Speech", {"signal": "speech", "channels": 2, "seed": 7})
    )
    run = await run_source()
    for mic in mics:
        await run.ctx.wait_frames(mic.serial, 48000 // 2)
    now = samples_since_midnight(time.time(), 48000)
    for mic in mics:
        blocks = run.ctx.blocks[mic.serial]
        assert_blocks_match(mic, blocks)
        assert set(gaps(blocks)) == {0}, "a continuous stream has no position jumps"
        assert abs(blocks[-1].position - now) < 48000, "positions are samples since midnight"
    # Speech has pauses (a block may be silence on both channels) and where the stream starts
    # depends on the clock, so the two channels are compared over the whole half second.
    speech = run.ctx.blocks["MIC-S"]
    assert {block.samples.shape for block in speech} == {(480, 2)}
    both = np.concatenate([block.samples for block in speech])
    assert (both[:, 0] != both[:, 1]).any(), "two channels of speech, not one copied"


async def test_a_dropout_is_a_position_jump_of_exactly_the_dropped_samples(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    run, (mic,) = await asyncio.gather(run_source(), start_mics(("MIC-D", "Drops")))
    await run.ctx.wait_frames(mic.serial, 4800)
    await mic.drop(0.2)
    before = run.ctx.frames(mic.serial)
    await run.ctx.wait_frames(mic.serial, before + 4800)
    blocks = run.ctx.blocks[mic.serial]
    assert [g for g in gaps(blocks) if g] == [9600]
    assert_blocks_match(mic, blocks)
    assert run.ctx.detaches(mic.serial) == []
    counters = run.source.microphones()[0]
    assert counters["position_gaps"] == 1 and counters["gap_samples"] == 9600


async def test_garbage_and_a_bad_crc_mid_stream_are_counted_and_survived(
    start_mics: MicFactory, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    run, (mic,) = await asyncio.gather(run_source(), start_mics(("MIC-G", "Garbage")))
    await run.ctx.wait_frames(mic.serial, 4800)
    with caplog.at_level(logging.INFO):
        await mic.garbage(1000)
        await run.ctx.wait_frames(mic.serial, run.ctx.frames(mic.serial) + 2400)
        await mic.corrupt(1)
        await run.ctx.wait_frames(mic.serial, run.ctx.frames(mic.serial) + 2400)
    counters = run.source.microphones()[0]
    assert counters["state"] == "streaming"
    assert counters["resyncs"] == 2 and counters["crc_errors"] == 1
    assert counters["skipped_bytes"] == 1000 + HEADER_SIZE + 480 * 3
    blocks = run.ctx.blocks[mic.serial]
    assert [g for g in gaps(blocks) if g] == [480], "the corrupt frame is a 480-sample gap"
    assert_blocks_match(mic, blocks)
    lost = [r for r in caplog.records if "lost sync" in r.getMessage()]
    assert len(lost) == 2, "one warning per burst"
    assert run.ctx.detaches(mic.serial) == [] and len(run.ctx.attaches(mic.serial)) == 1


async def test_bad_records_and_hellos_are_logged_once_and_ignored_beside_a_good_mic(
    start_mics: MicFactory,
    run_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
    service_type: str,
) -> None:
    bad: list[tuple[str, str, dict[str, Any]]] = [
        (f"BAD-{i}", f"Bad {kind}", {"txt": txt})
        for i, (kind, txt) in enumerate(GARBAGE_TXT.items())
    ]
    bad += [
        ("BAD-H1", "Bad hello rate", {"txt": {"rate": "44100"}}),  # TXT and hello disagree
        ("BAD-H2", "Bad hello json", {"hello": b"{not json\n"}),
    ]
    with caplog.at_level(logging.WARNING, logger="test.mdns-microphones"):
        run, _ = await asyncio.gather(run_source(**FAST), start_mics(("MIC-OK", "Good"), *bad))
        await run.ctx.wait_attached("MIC-OK")
        await run.ctx.wait_report(f"1 microphone; {len(bad)} ignored")
        await asyncio.sleep(0.5)  # several reconnect periods: nothing is logged twice
    ignored = {r.getMessage().split(":")[0] for r in caplog.records if "ignoring" in r.getMessage()}
    assert ignored == {f"ignoring {name}.{service_type}" for _, name, _ in bad}
    messages = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(messages) == len(bad), messages
    reasons = {m["service"].split(".")[0]: m["reason"] for m in run.source.microphones()}
    assert "lacks 'serial'" in reasons["Bad missing-serial"]
    assert "not a decimal number" in reasons["Bad non-numeric-rate"]
    assert "not UTF-8" in reasons["Bad non-utf8"]
    assert "no microphone device model matches vendor='acme'" in reasons["Bad wrong-vendor"]
    assert "unsupported protocol version 9" in reasons["Bad unsupported-proto"]
    assert "hello sample_rate=48000 but TXT rate=44100" in reasons["Bad hello rate"]
    assert "not JSON" in reasons["Bad hello json"]
    assert [c.args[0].serial for c in run.ctx.of_kind("attach")] == ["MIC-OK"]


async def test_one_serial_on_two_services_attaches_once(
    start_mics: MicFactory, run_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="test.mdns-microphones"):
        run, _ = await asyncio.gather(
            run_source(**FAST), start_mics(("MIC-TWIN", "Twin A"), ("MIC-TWIN", "Twin B"))
        )
        await run.ctx.wait_attached("MIC-TWIN")
        await run.ctx.wait_report("1 microphone; 1 ignored")
    assert len(run.ctx.attaches("MIC-TWIN")) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "serial MIC-TWIN is already attached through" in m]) == 1


async def test_a_goodbye_detaches_at_once(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    run, (mic, other) = await asyncio.gather(
        run_source(), start_mics(("MIC-L", "Leaves"), ("MIC-S", "Stays"))
    )
    await run.ctx.wait_attached(mic.serial)
    await run.ctx.wait_attached(other.serial)
    loop = asyncio.get_running_loop()
    left = loop.time()
    await mic.leave()
    call = await run.ctx.wait_detached(mic.serial)
    print(f"leave() -> ctx.detach: {(call.at - left) * 1000:.1f} ms")
    assert call.args[1] == "left (mDNS goodbye)"
    assert call.at - left < 5.0  # the goodbye, not a timeout (vanish_timeout_s is 5 s)
    await run.ctx.wait_report("1 microphone")
    assert run.ctx.detaches(other.serial) == []


@pytest.mark.parametrize(
    ("hold_streams", "silent_for"),
    [(True, 1.2), (False, 0.8)],  # stalled: stream timeout + vanish timeout; reset: vanish only
    ids=["streams-stall", "streams-reset"],
)
async def test_a_vanish_detaches_after_the_timeouts_and_come_back_attaches_again(
    start_mics: MicFactory, run_source: SourceFactory, hold_streams: bool, silent_for: float
) -> None:
    run, (mic,) = await asyncio.gather(run_source(**FAST), start_mics(("MIC-V", "Vanishes")))
    await run.ctx.wait_frames(mic.serial, 4800)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await mic.vanish(hold_streams=hold_streams)
    call = await run.ctx.wait_detached(mic.serial)
    took = call.at - gone
    print(f"vanish(hold_streams={hold_streams}) -> ctx.detach: {took:.2f} s")
    assert call.args[1].startswith("vanished (no stream for ")
    silent = float(call.args[1].removeprefix("vanished (no stream for ").removesuffix(" s)"))
    # Not before the timeouts; after them as soon as a busy machine runs the timer.
    assert silent_for - 0.05 <= silent < silent_for + 3.0
    assert silent_for - 0.05 <= took < silent_for + 3.0
    back = loop.time()
    await mic.come_back()
    again = await run.ctx.wait_attached(mic.serial, count=2)
    print(f"come_back() -> ctx.attach: {(again.at - back) * 1000:.0f} ms")
    before = run.ctx.frames(mic.serial)
    await run.ctx.wait_frames(mic.serial, before + 2400)
    blocks = run.ctx.blocks[mic.serial]
    jumps = [g for g in gaps(blocks) if g]
    assert len(jumps) == 1
    # the gap is the time the hub got nothing: from vanish() until it was streaming again
    assert back - gone - 0.05 <= jumps[0] / 48000 <= again.at - gone + 0.1
    assert_blocks_match(mic, blocks)


async def test_a_short_vanish_keeps_the_mic_attached_and_shows_as_a_gap(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    # The vanish timer long enough that a busy machine's slow steps do not reach it.
    options = {**FAST, "vanish_timeout_s": 3.0}
    run, (mic,) = await asyncio.gather(run_source(**options), start_mics(("MIC-B", "Blinks")))
    await run.ctx.wait_frames(mic.serial, 4800)
    loop = asyncio.get_running_loop()
    gone = loop.time()
    await mic.vanish()
    await asyncio.sleep(0.6)  # the stream is lost at 0.4 s, the vanish timer would fire at 3.4 s
    await mic.come_back()
    assert loop.time() - gone < 3.0, "came back too late to prove anything"
    await run.ctx.wait_frames(mic.serial, run.ctx.frames(mic.serial) + 2400)
    await asyncio.sleep(max(0.0, gone + 4.0 - loop.time()))  # past the moment it would go
    assert run.ctx.detaches(mic.serial) == [] and len(run.ctx.attaches(mic.serial)) == 1
    blocks = run.ctx.blocks[mic.serial]
    jumps = [g for g in gaps(blocks) if g]
    assert len(jumps) == 1 and jumps[0] % 480 == 0 and jumps[0] >= int(0.6 * 48000)
    counters = run.source.microphones()[0]
    assert counters["connects"] == 2 and counters["streams_lost"] == 1


async def test_a_renamed_mic_is_updated_and_a_record_turned_bad_detaches(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    run, (mic,) = await asyncio.gather(run_source(**FAST), start_mics(("MIC-R", "Old name")))
    await run.ctx.wait_attached(mic.serial)
    await mic.set_txt(name="New name")
    renamed = await run.ctx.wait_attached(mic.serial, count=2)
    assert renamed.args[0].name == "New name"
    assert run.ctx.detaches(mic.serial) == []
    # Records a second apart, as a real responder would (RFC 6762 10.2 keeps an older record
    # alive for 1 s after a change, and zeroconf drops a packet identical to one <0.8 s old).
    await asyncio.sleep(1.0)
    await mic.set_garbage_txt("non-numeric-rate")
    call = await run.ctx.wait_detached(mic.serial)
    assert call.args[1].startswith("mDNS record unusable: TXT key 'rate'")
    await asyncio.sleep(1.0)
    await mic.set_txt(rate="48000")
    back = await run.ctx.wait_attached(mic.serial, count=3)
    assert back.args[0].name == "New name"


async def test_cancelling_run_leaves_no_tasks_or_sockets_behind(
    start_mics: MicFactory, run_source: SourceFactory
) -> None:
    mics = await start_mics(("MIC-C1", "C1"), ("MIC-C2", "C2"))
    await asyncio.sleep(0.1)
    tasks_before = asyncio.all_tasks()
    sockets_before = socket_inodes()
    run = await run_source(**FAST)
    for mic in mics:
        await run.ctx.wait_frames(mic.serial, 480)
    assert len(socket_inodes() - sockets_before) >= 3  # mDNS and two streams
    await run.stop()
    assert run.task.cancelled()
    ctx = run.ctx

    def settled() -> bool:
        leftover = {t for t in asyncio.all_tasks() - tasks_before if not t.done()}
        leftover.discard(asyncio.current_task())
        return not leftover and socket_inodes() <= sockets_before

    await ctx.wait_for("no tasks and no sockets left", settled)
    assert all(mic.clients == 0 for mic in mics)
    frames = {mic.serial: ctx.frames(mic.serial) for mic in mics}
    await asyncio.sleep(0.1)
    assert {mic.serial: ctx.frames(mic.serial) for mic in mics} == frames
