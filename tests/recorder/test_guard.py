"""A source's positions against the hub's clock, one block at a time (no I/O)."""

from __future__ import annotations

from c2c_hub.recorder.guard import SourceGuard

RATE = 48000
BLOCK = 480
TOL = 2 * RATE


def guard(**kwargs: int) -> SourceGuard:
    return SourceGuard("NM-1", sample_rate=RATE, tolerance=TOL, **kwargs)


def test_positions_that_agree_with_the_clock_pass_untouched_dropouts_included() -> None:
    g = guard()
    hub = 1_000_000
    for i in range(100):  # a steady stream, 10 ms behind the hub
        position, finding = g.check(hub + i * BLOCK, BLOCK, expected=hub + (i + 2) * BLOCK, now=i)
        assert (position, finding) == (hub + i * BLOCK, None)
    # A 10 s dropout that real time explains: placed where it says (silence of its length).
    later = hub + 100 * BLOCK + 10 * RATE
    assert g.check(later, BLOCK, expected=later + BLOCK, now=11) == (later, None)
    # A backlog sent faster than real time, but from the past: placed where it says.
    assert g.check(later + BLOCK, BLOCK, expected=later + 5 * RATE, now=11) == (later + BLOCK, None)
    assert g.discontinuities == 0 and g.cut_off is None


def test_a_jump_two_hours_ahead_carries_on_from_the_track_not_two_hours_of_silence() -> None:
    g = guard()
    hub = 1_000_000
    for i in range(10):
        g.check(hub + i * BLOCK, BLOCK, expected=hub + (i + 1) * BLOCK, now=0)
    track_end = hub + 10 * BLOCK
    jumped = track_end + 2 * 3600 * RATE
    position, finding = g.check(jumped, BLOCK, expected=track_end + BLOCK, now=0)
    assert position == track_end  # not a sample of silence inserted
    assert finding is not None and finding.kind == "discontinuity"
    assert finding.jump == 2 * 3600 * RATE and "7200.000 s ahead" in finding.detail
    # It carries on from its new position, re-anchored.
    assert g.check(jumped + BLOCK, BLOCK, expected=track_end + 2 * BLOCK, now=0) == (
        track_end + BLOCK,
        None,
    )
    # And a jump back two hours is a discontinuity too (its samples would all be "late").
    position, finding = g.check(jumped - 7200 * RATE, BLOCK, expected=track_end + 3 * BLOCK, now=0)
    assert position == track_end + 2 * BLOCK and finding is not None
    assert g.discontinuities == 2 and g.cut_off is None


def test_a_source_twenty_times_faster_than_real_time_is_cut_off() -> None:
    g = guard()
    hub = 1_000_000
    sent = 0
    found = []
    for step in range(100):  # each 10 ms of hub time, 200 ms of samples
        now = step * 0.01
        for _ in range(20):
            expected = hub + round(now * RATE)
            position, finding = g.check(hub + sent, BLOCK, expected=expected, now=now)
            assert position is None or position + BLOCK <= expected + TOL
            if finding is not None:
                found.append(finding)
            sent += BLOCK
    assert [f.kind for f in found] == ["cut_off"]
    assert g.cut_off is not None and "faster than real time" in g.cut_off
    speed = float(g.cut_off.split("(")[1].split("x")[0])
    assert 18 < speed < 23  # about 20x (the first block's 10 ms count for nothing)
    # What it was let place never ran more than the tolerance ahead of the hub (above).
    assert g.dropped_samples >= sent - 3 * TOL


def test_a_source_at_another_sample_rate_is_cut_off_from_the_start() -> None:
    g = guard(source_rate=96000)
    assert g.cut_off is not None and "96000 Hz" in g.cut_off
    assert g.check(0, BLOCK, expected=BLOCK, now=0) == (None, None)
    assert g.dropped_samples == BLOCK


def test_the_hub_clock_set_back_re_anchors_a_good_source_and_cuts_off_none() -> None:
    g = guard()
    hub = 1_000_000
    for i in range(1000):  # ten seconds of a good microphone
        g.check(hub + i * BLOCK, BLOCK, expected=hub + (i + 1) * BLOCK, now=i * 0.01)
    # The hub's clock is set back 30 s (a time server's correction): the microphone now looks
    # 30 s ahead, its samples following on. Not a fast source: a discontinuity.
    end = hub + 1000 * BLOCK
    position, finding = g.check(end, BLOCK, expected=end + BLOCK - 30 * RATE, now=10.01 - 30)
    assert finding is not None and finding.kind == "discontinuity"
    assert position == end - 30 * RATE
    assert g.cut_off is None
