"""Every ``c2c-hub`` command as a person and a program use it: help, human and ``--json``
output, exit codes (docs/cli.md), pipes, and a start that imports only what it needs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from c2c_hub.emulation.frameio.handle import EmulatorHandle
from c2c_hub.ui.cli import cli, main
from tests.discovery import private_discovery
from tests.uploader.conftest import make_file

CLI = [sys.executable, "-m", "c2c_hub.ui.cli"]
HEAVY = ("rich", "httpx", "pydantic", "c2c_hub.settings", "c2c_hub.runtime")
HUB_COMMANDS = [
    ["queue"],
    ["devices"],
    ["presses"],
    ["record", "status"],
    ["record", "start"],
    ["record", "stop"],
    ["cancel", "1"],
    ["retry", "--failed"],
    ["start", "1"],
    ["mode", "manual"],
    ["parallel", "on"],
    ["pause"],
    ["resume"],
    ["priority", "1", "5"],
]
OTHER_HUB_COMMANDS = [["timecode"], ["mix"], ["net", "list"], ["timecode", "offset", "2"]]


def _leaves(
    group: click.Group, ctx: click.Context, inherited: tuple[click.Option, ...] = ()
) -> Iterator[tuple[str, click.Command, tuple[click.Option, ...]]]:
    """Every runnable command, with the options its groups give it (``c2c-hub mix --json``)."""
    own = tuple(p for p in group.params if isinstance(p, click.Option))
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub, leaf, options in _leaves(command, ctx, inherited + own):
                yield f"{name} {sub}", leaf, options
        else:
            yield name, command, inherited + own


def test_every_command_and_option_has_help_and_json() -> None:
    ctx = click.Context(cli)
    leaves = {name: (command, above) for name, command, above in _leaves(cli, ctx)}
    assert {"pair", "run", "status", "upload", "record start", "emulator", "demo"} <= set(leaves)
    for name, (command, above) in leaves.items():
        assert command.help and command.get_short_help_str(), f"{name}: no help text"
        options = [p for p in command.params if isinstance(p, click.Option)]
        for option in options:
            if option.name != "help":
                assert option.help, f"{name} {option.opts}: no help text"
        every = options + list(above)
        assert any("--json" in o.opts for o in every), f"{name}: no --json"


def _imported_after(args: list[str]) -> tuple[str, list[str]]:
    code = (
        "import sys, contextlib, io\n"
        "from c2c_hub.ui.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main({args!r})\n"
        f"print(code, out.getvalue()[:40].splitlines()[0])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    first, heavy = done.stdout.splitlines()
    return first, [m for m in heavy.split(",") if m]


def test_version_and_help_import_nothing_heavy() -> None:
    """The start is fast because nothing heavy is imported (bench/cli_start.py times it)."""
    first, heavy = _imported_after(["--version"])
    assert first.startswith("0 c2c-hub "), first
    assert heavy == [], f"--version imported {heavy}"
    first, heavy = _imported_after(["--help"])
    assert first.startswith("0 Usage: c2c-hub"), first
    assert heavy == [], f"--help imported {heavy}"


@pytest.fixture
def env(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C2C_HUB_")}
    media = tmp_path / "media"
    media.mkdir()
    env.update(
        {
            "C2C_HUB_CONFIG": str(private_discovery(tmp_path).config),
            "C2C_HUB_FRAMEIO__API_BASE_URL": emulator.base_url,
            "C2C_HUB_FRAMEIO__CA_FILE": str(emulator.ca_file),
            "C2C_HUB_FRAMEIO__CLIENT_SECRET": emulator.client_secret,
            "C2C_HUB_STORAGE__DATA_DIR": str(tmp_path / "state"),
            "C2C_HUB_RECORDER__DIRECTORY": str(tmp_path / "recordings"),
            "C2C_HUB_CONTROL__PORT": "0",
            "C2C_HUB_CONTROL__UPLOAD_ROOTS": json.dumps([str(media)]),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "120",
        }
    )
    yield env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``c2c-hub ARGS`` in this process (its imports paid once): ``main`` as the script calls
    it, with this environment and its own stdout and stderr."""
    runner = CliRunner()
    mine = {k: v for k, v in env.items() if k.startswith("C2C_HUB_") or k == "COLUMNS"}
    with runner.isolation(env=mine) as (
        out,
        err,
        _,
    ):
        try:
            code = main(list(args))
        except Exception:
            code = -1
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    assert "Traceback" not in stderr, stderr
    return subprocess.CompletedProcess(args, code, stdout, stderr)


def _human(env: dict[str, str], *args: str, code: int = 0) -> str:
    done = _cli(env, *args)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    text = done.stdout + done.stderr
    assert "{'" not in text and "[{" not in text, f"{args} printed a Python value: {text}"
    return text


def _json(env: dict[str, str], *args: str, code: int = 0) -> Any:
    done = _cli(env, *args, "--json")
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    data = json.loads(done.stdout)
    if code:
        assert data["exit_code"] == code and data["error"], data
    return data


def test_without_a_running_hub_every_hub_command_exits_3(env: dict[str, str]) -> None:
    for args in HUB_COMMANDS:
        assert "no hub is running" in _human(env, *args, code=3)
        _json(env, *args, code=3)
    for args in OTHER_HUB_COMMANDS:  # their groups: the same JSON error object, exit 3
        assert "no hub is running" in _human(env, *args, code=3)
        done = _cli(env, *args, "--json")
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert json.loads(done.stdout) == {
            "error": done.stderr.split(": ", 1)[1].strip(),
            "exit_code": 3,
        }
    bad = {**env, "C2C_HUB_FRAMEIO__API_BASE_URL": "http://api.frame.io"}
    assert "frameio.api_base_url" in _human(bad, "queue", code=2)
    assert _cli(env, "mode", "sideways").returncode == 2
    assert _cli(env, "cancel").returncode == 2, "no ids and no --all: a usage error"


def _pair_without_a_terminal(emulator: EmulatorHandle, env: dict[str, str]) -> str:
    proc = subprocess.Popen(
        [*CLI, "pair"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed at once, for a service's journal or a pipe
    code = re.search(r"Pairing code: (\d{3}) (\d{3})  enter it at https://", first)
    assert code, first
    link = proc.stdout.readline()
    assert link.startswith("Or open: https://"), link
    assert emulator.pending_pairings()[0]["user_code"] == code.group(1) + code.group(2)
    emulator.approve(code.group(1) + code.group(2))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out


def _wait_for(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_every_command_against_a_running_hub(
    emulator: EmulatorHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert "Emulated Project" in _pair_without_a_terminal(emulator, env)
    assert "already paired" in _human(env, "pair", code=4)
    hub = subprocess.Popen(
        [*CLI, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_for(lambda: (tmp_path / "state" / "control.sock").exists())
        _walk(env, tmp_path)
    finally:
        hub.send_signal(signal.SIGTERM)
        out, _ = hub.communicate(timeout=30)
    assert hub.returncode == 0, out
    assert _json(env, "status")["hub"]["running"] is False
    assert _json(env, "unpair") == {"unpaired": True, "was_paired": True}
    assert "Was not paired." in _human(env, "unpair")


def _walk(env: dict[str, str], tmp_path: Path) -> None:
    status = _json(env, "status")
    assert status["hub"]["running"] is True
    assert "Pairing" in _human(env, "status")
    assert "already paired" in _json(env, "pair", code=4)["error"]
    # The hub holds the data directory: unpair is refused, and nothing changes.
    assert "another c2c-hub" in _human(env, "unpair", code=4)

    # uploads
    take = make_file(tmp_path / "media", "A001_T01.wav", 1024 * 1024)
    assert "The upload queue is empty." in _human(env, "queue")
    done = _json(env, "upload", str(take), "--wait")
    (file_id,) = done["ids"]
    assert done["files"][0]["state"] == "done"
    queue = _human(env, "queue")
    assert "A001_T01.wav" in queue
    assert re.search(r"\bid\b.*\bfile\b.*\bkind\b.*\bstate\b", queue), queue  # the kind column
    snap = _json(env, "queue")["snapshot"]
    assert _json(env, "queue")["files"][0]["state"] == "done"
    # How the parts go up, in the queue and in the status: part streams, congestion control.
    streams = snap["part_streams"]
    assert f"Part streams: 0 in flight of {streams['limit']} ({streams['mode']}" in queue, queue
    assert f"Congestion control: {snap['congestion_control']['algorithm']}" in queue, queue
    report = _human(env, "status")
    assert re.search(r"part streams\s+0 in flight of \d+", report), report
    assert re.search(r"congestion\s+\S+", report), report
    # One upload speed row, with its age (the upload just measured it).
    assert "Measured upload" not in report and report.count("Upload speed") == 1, report
    assert re.search(r"Upload speed\s+[\d.]+ Mbit/s, \d+ s ago", report), report
    assert "no such file" in _human(env, "upload", str(tmp_path / "nope.wav"), code=2)

    assert "no file 999 in the upload queue" in _human(env, "cancel", "999", code=4)
    assert _json(env, "cancel", "999", code=4)["files"][0]["cancelled"] is False
    assert "had already ended" in _human(env, "cancel", str(file_id), code=4)
    assert "no file 999 in the upload queue" in _human(env, "retry", "999", code=4)
    assert "done or still in the queue" in _human(env, "retry", str(file_id), code=4)
    assert "No failed file to retry." in _human(env, "retry", "--failed")
    assert _json(env, "retry", "--failed") == {"retried": 0}
    assert _json(env, "cancel", "--all") == {"cancelled": 0}

    assert "Upload mode: manual." in _human(env, "mode", "manual")
    assert _json(env, "mode", "auto") == {"mode": "auto"}
    assert "Parallel uploads: off." in _human(env, "parallel", "off")
    assert _json(env, "parallel", "on") == {"parallel": True}
    assert "Uploading paused." in _human(env, "pause")
    assert _json(env, "resume") == {"paused": False}
    assert f"File {file_id}: priority 3." in _human(env, "priority", str(file_id), "3")
    assert _json(env, "priority", "--type", ".wav", "2") == {"key": ".wav", "priority": 2}
    assert "no file 999" in _human(env, "priority", "999", "1", code=4)
    assert _json(env, "start", str(file_id)) == {"started": [file_id]}

    # takes, sub-devices, presses, plugins
    assert "Recorder: idle" in _human(env, "record", "status")
    # No source attached: refused, said clearly, unless forced.
    empty = _human(env, "record", "start", "--scene", "7", code=4)
    assert "no source to record" in empty and "--force" in empty
    assert "no source to record" in _json(env, "record", "start", code=4)["error"]
    assert _json(env, "record", "status")["recording"] is False
    started = _json(env, "record", "start", "--scene", "7", "--force")["take"]
    assert started["scene"] == "7"
    assert "already recording" in _human(env, "record", "start", code=4)
    assert "Scene 7 take 1" in _human(env, "record", "stop")
    assert _json(env, "record", "stop", code=4)["error"]
    assert _json(env, "record", "status")["recording"] is False
    assert _json(env, "devices")["devices"] == []
    assert "Sub-devices" in _human(env, "devices")
    assert _json(env, "presses")["presses"] == []
    assert "no presses yet" in _human(env, "presses")
    assert "not unconfirmed or failed" in _human(env, "presses", "--resend", "7", code=4)
    assert {p["name"] for p in _json(env, "plugins")} >= {"aes67"}
    assert "(the running hub)" in _human(env, "plugins")


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_a_reader_that_goes_away_gets_no_traceback(args: list[str]) -> None:
    """``c2c-hub devices --json | head``: the reader closes the pipe before the output ends."""
    proc = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has written anything
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, err
    assert err == "", err


def test_a_finished_command_ends_its_process_even_with_a_thread_left_running() -> None:
    """A thread a stop cut short (an unclosed database connection's worker) must not keep the
    process alive after its command: it is named on stderr and the exit code is kept."""
    child = (
        "import sys, threading\n"
        "from c2c_hub.ui import cli\n"
        "cli.STRAGGLERS_S = 0.5\n"
        "threading.Thread(target=threading.Event().wait, name='stuck-worker').start()\n"
        "sys.argv = ['c2c-hub', '--version']\n"
        "sys.exit(cli.main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "still running: stuck-worker" in done.stderr
    assert done.stdout.strip()  # the command's own output was flushed before the exit
