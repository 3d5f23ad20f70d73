"""Chaos: a separate uploader process is killed with SIGKILL, mostly right after it had parts
acknowledged, and restarted each time, until every file is done (see :mod:`tests.uploader.chaos`).

The short run here kills 6 times; ``make bench`` runs 100 kills and more (``bench.chaos``). A run
whose kills all landed before any part was acknowledged proved nothing, and fails as such
(before: at its defaults, no part had been acknowledged at any kill).
"""

from __future__ import annotations

from pathlib import Path

from tests.uploader.chaos import run_chaos

SIZES_MIB = [26, 17, 31, 8, 21]  # 24 parts of 5 MiB
KILLS = 6
TIME_LIMIT_S = 100


def test_sigkill_after_acknowledged_parts_loses_and_resends_nothing(tmp_path: Path) -> None:
    result = run_chaos(tmp_path, sizes_mib=SIZES_MIB, kills=KILLS, time_limit_s=TIME_LIMIT_S)
    print("chaos:", result.summary())
    note = result.note
    assert result.kills >= 3, f"the kills must land mid-session to prove anything {note}"
    assert result.proved_something, f"proved nothing: no part acknowledged at any kill {note}"
    # Most kills wait for an acknowledged part; every third lands at a random moment.
    assert result.kills_after_ack >= result.kills // 2, f"{result.summary()} {note}"
    assert result.problems == [], f"{result.problems} {note}"
    # A duplicate is an asset whose create answer was lost in a kill: never completed.
    assert sum(result.duplicates.values()) <= result.kills
    # ... and every one was reported to the operator (it cannot be found again by the hub).
    assert result.unreported == {}, f"{result.duplicates} {note}"
    assert result.resent == {}, f"acknowledged parts were sent again: {result.resent} {note}"
    assert result.violations == []
