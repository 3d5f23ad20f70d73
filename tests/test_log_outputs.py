"""Log lines go to journald (with their priority) when stderr is the journal's stream."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from c2c_hub.log_outputs import JournalFormatter, journald_stream
from c2c_hub.logs import register_secret


def test_journald_is_recognised_by_the_stream_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "journal", "w") as stream, open(tmp_path / "other", "w") as other:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        assert journald_stream(stream)
        assert not journald_stream(other), "another stream (a terminal, a pipe) is not the journal"
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not journald_stream(stream)


def test_journal_lines_carry_their_priority_and_no_secret() -> None:
    register_secret("s3cr3t-token-value")
    record = logging.LogRecord(
        "c2c_hub.x",
        logging.WARNING,
        __file__,
        1,
        "refresh failed with %s",
        ("s3cr3t-token-value",),
        None,
    )
    from c2c_hub.logs import RedactingFilter

    RedactingFilter().filter(record)
    line = JournalFormatter().format(record)
    assert line == "<4>c2c_hub.x: refresh failed with [redacted]"
    record = logging.LogRecord("c2c_hub.x", logging.INFO, __file__, 1, "a\nb", None, None)
    assert JournalFormatter().format(record) == "<6>c2c_hub.x: a\n<6>b"
