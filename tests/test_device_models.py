"""Device model files: validated at start, errors name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2c_hub.device_models import (
    DeviceKind,
    DeviceModelError,
    DeviceModelRegistry,
    shipped_models_dir,
)

GOOD_MIC = """
[model]
id = "11111111-2222-4333-8444-555555555555"
name = "Test Mic"
kind = "microphone"
asset_type = "audio"
[discovery.mdns]
service_type = "_testmic._tcp.local."
"""


def test_the_shipped_models_load_with_one_of_each_kind() -> None:
    registry = DeviceModelRegistry.load(shipped_models_dir())
    kinds = {model.kind for model in registry}
    assert kinds == {"host", "microphone", "button_remote"}
    remote = registry.of_kind(DeviceKind.BUTTON_REMOTE)[0]
    assert remote.model.real_time_logging_capable
    assert remote.input(0) is not None and remote.input(99) is None
    assert registry.host().model.kind == DeviceKind.HOST.name


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_field_names_file_and_field(tmp_path: Path) -> None:
    _write(tmp_path, "mic.toml", GOOD_MIC.replace('"audio"', '"sound"'))
    with pytest.raises(DeviceModelError) as info:
        DeviceModelRegistry.load(tmp_path)
    assert "mic.toml" in str(info.value)
    assert "model.asset_type" in str(info.value)


def test_every_broken_file_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", "[model\n")
    _write(tmp_path, "b.toml", GOOD_MIC.replace("11111111-2222", "not-a-uuid"))
    with pytest.raises(DeviceModelError) as info:
        DeviceModelRegistry.load(tmp_path)
    assert "a.toml: not valid TOML" in str(info.value)
    assert "b.toml: model.id" in str(info.value)


def test_duplicate_model_ids_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", GOOD_MIC)
    _write(tmp_path, "b.toml", GOOD_MIC)
    with pytest.raises(DeviceModelError, match="already declared"):
        DeviceModelRegistry.load(tmp_path)


def test_inputs_require_real_time_logging_capability(tmp_path: Path) -> None:
    _write(tmp_path, "m.toml", GOOD_MIC + '\n[[inputs]]\nindex = 0\nname = "Go"\n')
    with pytest.raises(DeviceModelError, match="inputs: only a real_time_logging_capable"):
        DeviceModelRegistry.load(tmp_path)


def test_mdns_service_type_must_be_well_formed(tmp_path: Path) -> None:
    _write(tmp_path, "m.toml", GOOD_MIC.replace("_testmic._tcp.local.", "testmic"))
    with pytest.raises(DeviceModelError, match=r"discovery\.mdns\.service_type"):
        DeviceModelRegistry.load(tmp_path)


def test_unknown_keys_are_errors_not_silently_ignored(tmp_path: Path) -> None:
    _write(tmp_path, "m.toml", GOOD_MIC + 'colour = "red"\n')
    with pytest.raises(DeviceModelError, match=r"discovery\.mdns\.colour"):
        DeviceModelRegistry.load(tmp_path)
