"""The private JACK server of the tests and the demo: it never leaves JACK2's machine-wide
table of 8 servers fuller than it found it, however it ends (a table of dead entries stops
every JACK server on the machine from starting)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from c2c_hub_plugins.jack_inputs.emulated import (
    DummyServer,
    leftover_semaphores,
    reclaim_stale,
    stale_registrations,
)


def _killed(server: DummyServer) -> None:
    """SIGKILL the server's jackd (no clean exit: its table entry stays) and wait for it."""
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(30)


def test_a_server_that_died_of_a_signal_gives_its_table_entry_back_at_stop() -> None:
    server = DummyServer(f"c2c-test-died-{os.getpid()}").start()
    assert stale_registrations(server.name) == []  # alive: held, and not stale
    _killed(server)
    assert stale_registrations(server.name) == [server.name]  # what JACK2 keeps for good
    server.stop()
    assert stale_registrations(server.name) == []


def test_entries_left_by_dead_servers_of_ours_are_swept() -> None:
    prefix = f"c2c-test-sweep-{os.getpid()}"
    servers = [DummyServer(f"{prefix}-{k}").start() for k in range(2)]
    for server in servers:
        _killed(server)
        server.process = None  # as if its owner was killed too: nobody stops it
    assert sorted(stale_registrations(prefix)) == [s.name for s in servers]
    reclaim_stale(prefix)
    assert stale_registrations(prefix) == []
    # and the names are free again: a server of each starts
    for server in servers:
        DummyServer(server.name).start().stop()
    assert stale_registrations(prefix) == []


@contextlib.contextmanager
def _playing(server: DummyServer, name: str) -> Iterator[None]:
    """A player in a process of its own on ``server``, playing once this enters; killed (no
    goodbye to the server) at the end."""
    client = subprocess.Popen(
        [
            *(sys.executable, "-m", "c2c_hub_plugins.jack_inputs.emulated"),
            *("--server", server.name, "--name", name, "--outputs", "1"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None and client.stdout.readline().split()
        yield
    finally:
        client.kill()
        client.wait(30)


def test_a_killed_server_leaves_no_semaphore_of_its_clients_behind_at_stop() -> None:
    """A server killed with a client on it leaves the client's semaphore (and its own) in
    /dev/shm; ``stop()`` removes them with the table entry, while a server of ours holds the
    name again, never before."""
    server = DummyServer(f"c2c-test-sems-{os.getpid()}").start()
    with _playing(server, "leftover"):
        _killed(server)
    names = {path.name for path in leftover_semaphores(server.name)}
    assert f"jack_sem.{os.getuid()}_{server.name}_leftover" in names
    server.stop()
    assert leftover_semaphores(server.name) == []
    assert stale_registrations(server.name) == []


def test_a_server_stopped_with_a_client_on_it_leaves_no_semaphore_behind() -> None:
    """A client still on the server when it stops (a player the test never stopped) leaves
    its semaphore unless the server's owner removes it while the server still holds the
    name."""
    server = DummyServer(f"c2c-test-sems-{os.getpid()}-clean").start()
    with _playing(server, "stays"):
        assert leftover_semaphores(server.name)  # the server's and the client's, in use
        server.stop()
    assert leftover_semaphores(server.name) == []
    assert stale_registrations(server.name) == []
