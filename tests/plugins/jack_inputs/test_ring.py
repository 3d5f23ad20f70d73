"""The ring between JACK's real-time thread and the hub: cycles in order, runs joined where the
frame time follows on, a full ring drops whole cycles (never shifts a sample), and JACK-Client's
internals the process callback uses are still there (a canary for a new JACK-Client)."""

from __future__ import annotations

import mmap
import os

import jack
import numpy as np
import pytest

from c2c_hub_plugins.jack_inputs.ring import InputRing, to_int24


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
    size = InputRing.nbytes(2, 256, 16)
    fd = os.memfd_create("test-ring")
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as one, mmap.mmap(fd, size) as other:
            producer = InputRing(2, 256, cycles=16, buffer=one)
            consumer = InputRing(2, 256, cycles=16, buffer=other)
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
            del producer, consumer, run  # the views into the mappings, before they close
    finally:
        os.close(fd)


def test_a_buffer_too_small_for_the_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 2496 bytes; the buffer has 100"):
        InputRing(2, 256, cycles=16, buffer=bytearray(100))
