"""linuxptp's state as pmc reports it: recorded answers, and a live ptp4l where we may run one."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from c2c_hub.timecode.ptp import parse_pmc, process_running, query, state_from_pmc

DATA = Path(__file__).parent / "data"


def test_a_grandmaster_is_locked_by_definition() -> None:
    """Recorded from ptp4l 3.1 (software timestamps) alone on a link: it became the master."""
    state = state_from_pmc((DATA / "pmc-master.txt").read_text(), phc2sys=False)
    assert state.ptp4l and state.port_state == "MASTER"
    assert state.gm_present is False and state.gm_identity == "425986.fffe.f3f0b3"
    assert state.locked
    assert "grandmaster" in state.describe() and "phc2sys not running" in state.describe()


def test_a_port_still_calibrating_is_not_locked() -> None:
    """Recorded from a second ptp4l following the first (free_running: it never steers)."""
    state = state_from_pmc((DATA / "pmc-slave.txt").read_text(), phc2sys=True)
    assert state.port_state == "UNCALIBRATED"
    assert state.gm_present is True and state.gm_identity == "425986.fffe.f3f0b3"
    assert state.master_offset_ns == -739
    assert not state.locked
    assert "offset -739 ns" in state.describe()


def test_a_slave_close_to_its_grandmaster_is_locked() -> None:
    # The recorded answer, as it reads once the servo has locked (s2): SLAVE, a small offset.
    text = (DATA / "pmc-slave.txt").read_text()
    text = text.replace("UNCALIBRATED", "SLAVE").replace("-739", "12")
    state = state_from_pmc(text, phc2sys=True)
    assert state.locked and state.to_json()["locked"] is True


def test_no_answer_means_ptp4l_is_not_running() -> None:
    state = state_from_pmc((DATA / "pmc-none.txt").read_text(), phc2sys=False)
    assert not state.ptp4l and not state.locked
    assert "not answering" in state.describe()


def test_the_parser_keeps_each_dataset_apart() -> None:
    sets = parse_pmc((DATA / "pmc-slave.txt").read_text())
    assert set(sets) == {"TIME_STATUS_NP", "PORT_DATA_SET"}
    assert sets["PORT_DATA_SET"]["portIdentity"] == "b67a65.fffe.904b0f-1"
    assert sets["TIME_STATUS_NP"]["cumulativeScaledRateOffset"] == "+0.000000000"


def test_a_process_is_found_by_its_name(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "comm").write_text("phc2sys\n")
    (tmp_path / "self").mkdir()
    assert process_running("phc2sys", tmp_path)
    assert not process_running("ptp4l", tmp_path)


def _can_make_namespaces() -> bool:
    return (
        os.geteuid() == 0 and shutil.which("ptp4l") is not None and shutil.which("ip") is not None
    )


@pytest.mark.skipif(not _can_make_namespaces(), reason="needs root, ip and linuxptp")
def test_a_live_ptp4l_answers_through_its_socket(tmp_path: Path) -> None:
    """ptp4l on a veth in a private namespace, software timestamps, its own management socket;
    ``query`` (the hub's pmc call) finds it there and reads its state."""
    ns = f"c2ctc{uuid.uuid4().hex[:6]}"
    uds = str(tmp_path / "ptp4l")
    config = tmp_path / "ptp4l.cfg"
    config.write_text(
        f"[global]\nuds_address {uds}\ntime_stamping software\nfree_running 1\n"
        "logAnnounceInterval -3\nannounceReceiptTimeout 2\n"
    )
    run = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    ptp4l = None
    try:
        subprocess.run(
            [*run, "ip", "link", "add", "pa", "type", "veth", "peer", "name", "pb"], check=True
        )
        for link in ("pa", "pb", "lo"):
            subprocess.run([*run, "ip", "link", "set", link, "up"], check=True)
        ptp4l = subprocess.Popen(
            [*run, "ptp4l", "-f", str(config), "-i", "pa"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        state = None
        while time.monotonic() < deadline:
            # pmc must run in the namespace too (the socket is a file, but be faithful).
            done = subprocess.run(
                [
                    *run,
                    "pmc",
                    "-u",
                    "-b",
                    "0",
                    "-s",
                    uds,
                    "-i",
                    f"{uds}.pmc",
                    "GET TIME_STATUS_NP",
                    "GET PORT_DATA_SET",
                ],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            state = state_from_pmc(done.stdout, phc2sys=False)
            if state.port_state == "MASTER":
                break
            time.sleep(1)
        assert state is not None and state.ptp4l
        assert state.port_state == "MASTER", state
        assert query(uds).ptp4l  # the hub's own call, from outside the namespace
    finally:
        if ptp4l is not None:
            ptp4l.terminate()
            ptp4l.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", ns], check=False)
