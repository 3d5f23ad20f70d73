"""The mocks' private bus: the owner's errors, and nothing left behind when it stops."""

from __future__ import annotations

import os
import shutil

import dbus  # type: ignore[import-untyped]
import pytest

from c2c_hub.emulation.errors import EmulationError
from c2c_hub.emulation.private_bus import PrivateBus

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon missing")


class OwnerError(EmulationError, RuntimeError):
    """The error of the mock that owns the bus."""


def test_calls_fail_as_the_owners_error_named_for_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    bus = PrivateBus(name="test-bus", error=OwnerError, what="the test mock")
    with pytest.raises(OwnerError, match="the test mock is not running"):
        bus.call(lambda: None)
    bus.start()
    try:
        assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == bus.address
        with pytest.raises(OwnerError, match="already started"):
            bus.start()

        def _ping_nobody() -> None:
            bus.connection.get_object("org.example.Nobody", "/").Ping(
                dbus_interface="org.freedesktop.DBus.Peer"
            )

        with pytest.raises(OwnerError, match=r"^ping_nobody: ") as failed:
            bus.call(_ping_nobody)
        assert isinstance(failed.value.__cause__, dbus.exceptions.DBusException)
        # The connection is made on the helper thread and answers there.
        assert bus.call(lambda: bool(bus.connection.name_has_owner("org.freedesktop.DBus")))
    finally:
        bus.stop()
    bus.stop()  # idempotent


def test_stop_kills_the_mocks_and_the_daemon_and_restores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/before")
    bus = PrivateBus(name="test-bus", error=OwnerError, what="the test mock")
    bus.start()
    directory = bus.directory
    assert directory is not None and bus.running
    mock = bus.call(bus.spawn_mock, "bluez5", "org.bluez", timeout=60)
    assert mock.poll() is None and (directory / "bluez5.log").exists()
    bus.stop()
    assert mock.poll() is not None and not bus.running
    assert not directory.exists()
    assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == "unix:path=/nonexistent/before"
