"""The ring between JACK's real-time thread and the hub: cycles in order, runs joined where the
frame time follows on, a full ring drops whole cycles (never shifts a sample), each side learns
what it may read or overwrite only through the ring's eventfds (never a counter of the shared
block, whose stores a weakly ordered CPU may show out of order), and JACK-Client's internals
the process callback uses are still there (a canary for a new JACK-Client)."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import jack
import numpy as np
import pytest

from c2c_hub_plugins.jack_inputs.ring import InputRing, signals, to_int24


def cycle(first: int, frames: int, inputs: int = 2) -> list[np.ndarray]:
    base = np.arange(first, first + frames, dtype=np.float64) / 2**20
    return [(base + i / 8).astype(np.float32) for i in range(inputs)]


def test_cycles_that_follow_on_are_one_run_and_a_gap_starts_another() -> None:
    ring = InputRing(2, 1024)
    ring.write_arrays(1000, cycle(1000, 64))
    ring.write_arrays(1064, cycle(1064, 64))
    ring.write_arrays(1256, cycle(1256, 64))  # two cycles lost (an xrun): a gap
    runs = ring.read()
    assert [(r.frame, r.frames) for r in runs] == [(1000, 128), (1256, 64)]
    assert np.array_equal(runs[0].samples[1], to_int24(np.concatenate(cycle(1000, 128)[1:])))
    assert ring.read() == []


def test_the_ring_wraps_and_a_full_ring_drops_whole_cycles() -> None:
    ring = InputRing(1, 256, cycles=16)
    for n in range(4):
        ring.write_arrays(n * 64, cycle(n * 64, 64, 1))
    ring.write_arrays(256, cycle(256, 64, 1))  # no room: dropped whole, counted
    assert (ring.overruns, ring.dropped_frames) == (1, 64)
    (run,) = ring.read()
    assert (run.frame, run.frames) == (0, 256)
    for n in range(5, 8):  # wraps round the end of the ring
        ring.write_arrays(n * 64, cycle(n * 64, 64, 1))
    (run,) = ring.read()
    assert (run.frame, run.frames) == (320, 192)
    assert np.array_equal(run.samples[0], to_int24(cycle(320, 192, 1)[0][None, :])[0])


def test_frame_time_wraps_at_32_bits_without_a_gap() -> None:
    ring = InputRing(1, 1024)
    ring.write_arrays(2**32 - 64, cycle(0, 64, 1))
    ring.write_arrays(0, cycle(64, 64, 1))
    (run,) = ring.read()
    assert (run.frame, run.frames) == (2**32 - 64, 128)


def test_float_to_24_bit_rounds_and_clips() -> None:
    values = np.array([[0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 1 / 2**23, 0.4 / 2**23]], np.float32)
    got = to_int24(values)[0] >> 8
    assert got.tolist() == [0, 2**22, -(2**22), 2**23 - 1, -(2**23), 2**23 - 1, 1, 0]


def test_jack_client_still_offers_what_the_process_callback_uses() -> None:
    assert callable(jack._lib.jack_port_get_buffer)
    assert callable(jack._lib.jack_last_frame_time)
    assert callable(jack._ffi.memmove) and callable(jack._ffi.from_buffer)
    assert "_ptr" in jack.Port.__init__.__code__.co_names


def test_two_views_of_one_shared_block_are_producer_and_consumer() -> None:
    """The capture process writes and the hub reads one memory file, each through a ring of
    its own over it: what one writes the other reads, and the writer sees what was read."""
    with shared(2, 256, 16) as (producer, consumer):
        for n in range(4):
            producer.write_arrays(n * 64, cycle(n * 64, 64))
        producer.write_arrays(256, cycle(256, 64))  # full: the consumer has read nothing
        assert (consumer.overruns, consumer.latest()) == (1, (192, 64))
        (run,) = consumer.read()
        assert (run.frame, run.frames) == (0, 256)
        assert np.array_equal(run.samples[1], to_int24(cycle(0, 256)[1][None, :])[0])
        producer.write_arrays(320, cycle(320, 64))  # room again: the producer saw the read
        (run,) = consumer.read()
        assert (run.frame, run.frames, producer.overruns) == (320, 64, 1)


def test_a_buffer_too_small_for_the_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2496 bytes; the buffer has 100"):
        InputRing(2, 256, cycles=16, buffer=bytearray(100))


@contextmanager
def shared(inputs: int, capacity: int, cycles: int) -> Iterator[tuple[InputRing, InputRing]]:
    """A producer and a consumer, each its own ring over one memory file (as the capture
    process and the hub map it), sharing one pair of eventfds."""
    size = InputRing.nbytes(inputs, capacity, cycles)
    fd = os.memfd_create("test-ring")
    fds = signals()
    try:
        os.ftruncate(fd, size)
        # two mappings, unmapped when the rings over them go (the test may still hold them)
        one, other = mmap.mmap(fd, size), mmap.mmap(fd, size)
        rings = [
            InputRing(inputs, capacity, cycles=cycles, buffer=memory, fds=fds)
            for memory in (one, other)
        ]
        yield rings[0], rings[1]
    finally:
        for each in (fd, *fds):
            os.close(each)


def test_a_cycle_put_but_not_published_is_not_read_though_the_counter_says_written() -> None:
    """On ARM the consumer may see the shared ``cycles_written`` before the data it counts:
    the consumer reads nothing but what the ``published`` eventfd said is there."""
    with shared(1, 1024, 16) as (producer, consumer):
        producer.put(0, cycle(0, 64, 1))  # data and metadata in place, not signalled
        assert consumer.cycles_written == 1  # the shared counter says so (statistics)
        assert (consumer.read(), consumer.latest()) == ([], None)
        producer.publish()
        (run,) = consumer.read()
        assert (run.frame, run.frames) == (0, 64)
        assert np.array_equal(run.samples[0], to_int24(cycle(0, 64, 1)[0][None, :])[0])


def test_the_consumer_reads_exactly_the_cycles_published_through_the_eventfd() -> None:
    with shared(1, 1024, 16) as (producer, consumer):
        for n in range(3):
            producer.put(n * 64, cycle(n * 64, 64, 1))
        producer.publish()  # one of the three said to be there: one read
        assert [(r.frame, r.frames) for r in consumer.read()] == [(0, 64)]
        assert consumer.latest() == (0, 64)
        producer.publish()
        producer.publish()
        assert [(r.frame, r.frames) for r in consumer.read()] == [(64, 128)]
        assert consumer.read() == []
        assert (consumer.cycles_read, consumer.frames_read) == (3, 192)


def test_a_full_ring_is_known_to_the_producer_only_from_the_freed_count() -> None:
    """A consumer's ``cycles_read`` in the shared block frees nothing (on ARM its loads of
    the slots may not be done yet): the producer overwrites a slot only once the ``freed``
    eventfd said so; a cycle that finds no room is dropped whole, a gap of its length."""
    with shared(1, 256, 16) as (producer, consumer):
        for n in range(4):
            producer.write_arrays(n * 64, cycle(n * 64, 64, 1))
        consumer._counters[4:6] = (4, 256)  # the counters of a read, without its signal
        producer.write_arrays(256, cycle(256, 64, 1))  # still full: dropped, counted
        assert (consumer.overruns, consumer.dropped_frames) == (1, 64)
        (run,) = consumer.read()  # reads, then signals: four cycles freed
        assert (run.frame, run.frames) == (0, 256)
        for n in range(5, 9):
            producer.write_arrays(n * 64, cycle(n * 64, 64, 1))
        assert producer.overruns == 1  # room for all four, learnt from the freed count
        (run,) = consumer.read()
        assert (run.frame, run.frames) == (320, 256)  # after a gap of the one cycle dropped
        assert np.array_equal(run.samples[0], to_int24(cycle(320, 256, 1)[0][None, :])[0])


def test_a_ring_out_of_cycle_slots_drops_whole_cycles_too() -> None:
    with shared(1, 8192, 4) as (producer, consumer):
        for n in range(6):
            producer.write_arrays(n * 64, cycle(n * 64, 64, 1))
        assert (producer.overruns, producer.dropped_frames) == (2, 128)
        assert [(r.frame, r.frames) for r in consumer.read()] == [(0, 256)]


PRODUCER = """
import mmap, os, sys
import numpy as np
from c2c_hub_plugins.jack_inputs.ring import InputRing
fd, published, freed, cycles = map(int, sys.argv[1:])
memory = mmap.mmap(fd, InputRing.nbytes(2, 1024, 8))
ring = InputRing(2, 1024, cycles=8, buffer=memory, fds=(published, freed))
for n in range(cycles):
    frames = np.arange(n * 64, n * 64 + 64, dtype=np.float32) / 2**20
    ring.write_arrays(n * 64, [frames, -frames])
print(ring.overruns, ring.dropped_frames)
"""


def test_a_producer_process_and_a_consumer_agree_on_every_sample() -> None:
    """Another process writes as fast as it can into a small ring the test drains at the
    same time: every frame read is the one written there, the rest dropped whole and counted
    (and on ARM, with the eventfds, never a slot half written or overwritten while read)."""
    cycles = 4000
    size = InputRing.nbytes(2, 1024, 8)
    fd = os.memfd_create("test-ring")
    fds = signals()
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as memory:
            consumer = InputRing(2, 1024, cycles=8, buffer=memory, fds=fds)
            producer = subprocess.Popen(
                [sys.executable, "-c", PRODUCER, str(fd), *map(str, fds), str(cycles)],
                pass_fds=(fd, *fds),
                stdout=subprocess.PIPE,
                text=True,
            )
            runs = []
            while producer.poll() is None:
                runs += consumer.read()
            runs += consumer.read()
            out, _ = producer.communicate()
            overruns, dropped = map(int, out.split())
            frames = 0
            for run in runs:
                expect = np.arange(run.frame, run.frame + run.frames, dtype=np.float32) / 2**20
                assert np.array_equal(run.samples[0], to_int24(expect[None, :])[0])
                assert np.array_equal(run.samples[1], to_int24(-expect[None, :])[0])
                frames += run.frames
            assert frames + dropped == cycles * 64
            assert consumer.cycles_read + overruns == cycles
            del consumer  # its views into the mapping, before it closes
    finally:
        for each in (fd, *fds):
            os.close(each)
