"""Where the hub finds its settings and keeps its state with nothing given: systemd's folders
for a system service, else the user's, else the system's (platformdirs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from c2c_hub.locations import config_candidates, default_config_file, default_data_dir
from c2c_hub.settings import load_settings

NAMES = ("CONFIGURATION_DIRECTORY", "STATE_DIRECTORY", "XDG_CONFIG_HOME", "XDG_STATE_HOME")


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in (*NAMES, "C2C_HUB_CONFIG", "C2C_HUB_STORAGE__DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home-state"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    yield tmp_path


def _config(folder: Path, scene: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(f'[recorder]\ndefault_scene = "{scene}"\n')
    return path


def test_the_users_folders_then_the_systems(clean: Path) -> None:
    assert default_data_dir() == clean / "home-state" / "c2c-hub"
    assert default_config_file() is None
    assert load_settings().recorder.default_scene == "1"  # the defaults
    _config(clean / "etc-xdg" / "c2c-hub", "system")
    assert load_settings().recorder.default_scene == "system"
    _config(clean / "home-config" / "c2c-hub", "user")
    assert load_settings().recorder.default_scene == "user", "the user's file comes first"
    assert load_settings().storage.data_dir == clean / "home-state" / "c2c-hub"


def test_a_system_service_uses_the_folders_systemd_gives_it(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(clean / "home-config" / "c2c-hub", "user")
    etc = _config(clean / "etc" / "c2c-hub", "service")
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", str(etc.parent))
    monkeypatch.setenv("STATE_DIRECTORY", str(clean / "var-lib" / "c2c-hub"))
    assert config_candidates()[0] == etc
    settings = load_settings()
    assert settings.recorder.default_scene == "service"
    assert settings.storage.data_dir == clean / "var-lib" / "c2c-hub"


def test_a_named_file_and_the_environment_win(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(clean / "home-config" / "c2c-hub", "user")
    named = _config(clean / "elsewhere", "named")
    assert load_settings(named).recorder.default_scene == "named"
    monkeypatch.setenv("C2C_HUB_CONFIG", str(named))
    assert load_settings().recorder.default_scene == "named"
    monkeypatch.setenv("C2C_HUB_STORAGE__DATA_DIR", str(clean / "mine"))
    assert load_settings().storage.data_dir == clean / "mine"
    assert os.environ["C2C_HUB_CONFIG"] == str(named)
