"""The BlueZ mock's private bus starts wherever the temporary folder is, even one whose path
is too long for a Unix socket (a test's own folder under pytest-xdist, a user's TMPDIR)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from c2c_hub.emulation.bluez import BlueZMock


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon missing")
def test_a_temporary_folder_too_deep_for_a_socket_still_gets_a_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(str(deep / "c2c-bluez-xxxxxxxx" / "system_bus_socket")) > 107
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    with BlueZMock(with_bluez=False, set_environment=False) as mock:
        assert mock.running
        assert mock.address.startswith("unix:path=")
        socket_path = mock.address.split("=", 1)[1].split(",", 1)[0]
        assert len(socket_path) <= 107 and Path(socket_path).exists()
