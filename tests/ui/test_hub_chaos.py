"""The whole hub SIGKILLed and restarted: a take, a press burst and acknowledged parts at the
kills, nothing lost and nothing twice (see :mod:`tests.ui.hub_chaos`).

The short run here kills 3 times, once per plan (mid-take with a burst, mid-burst, just after a
part of an unfinished track is acknowledged); ``make bench`` kills 100 times and more
(:mod:`bench.hub_chaos`). A run whose kills hit none of those moments proved nothing, and
fails as such.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.ui.hub_chaos import run_hub_chaos

KILLS = 3
EXTRA = 3  # more kills only while a moment was missed (a loaded machine can make a plan miss)


@pytest.mark.timeout(600)  # about a minute idle; a loaded machine and extra kills take longer
def test_sigkill_mid_take_and_mid_burst_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path,
) -> None:
    result = run_hub_chaos(tmp_path, kills=KILLS, extra_kills=EXTRA)
    print("hub chaos:", result.summary())
    why = result.explain()
    assert KILLS <= result.kills <= KILLS + EXTRA, why
    assert result.mid_take and result.mid_burst and result.after_acked, f"proved nothing {why}"
    assert result.presses_durable_at_kills > 0, why
    assert result.presses_lost == [], f"acknowledged presses lost {why}"
    assert result.presses_left == {}, f"presses not sent in the end {why}"
    assert result.presses_twice == [], f"a press reached Frame.io twice {why}"
    assert result.presses_missing == [], f"a press marked sent never arrived {why}"
    assert result.tracks >= 2, why  # a track per microphone of every take
    assert result.tracks_wrong == [], f"tracks not uploaded byte-identical {why}"
    assert result.acked_parts_at_kills > 0, why
    assert result.resent == [], f"acknowledged parts were sent again {why}"
    assert result.violations == [], why
    assert result.unsettled == [], f"the last run did not finish {why}"


if sys.platform != "linux":  # loopback multicast as the rest of the suite uses it
    pytestmark = pytest.mark.skip("needs Linux loopback multicast")
