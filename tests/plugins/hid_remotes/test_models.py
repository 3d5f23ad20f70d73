"""Device model files for HID remotes: a new remote is a new file, checked when it loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2c_hub.device_models import DeviceModelError, load_device_model

HEAD = """
[model]
id = "0b8b4d4e-8d0c-4a57-9a3c-5d7e2f0c1a99"
name = "Foot pedal"
kind = "button_remote"
asset_type = "data"
real_time_logging_capable = true

[discovery.evdev]
vendor_id = 0x0c45
"""


def _write(tmp_path: Path, inputs: str) -> Path:
    path = tmp_path / "pedal.toml"
    path.write_text(HEAD + inputs, encoding="utf-8")
    return path


def test_usages_are_read_in_any_case_and_looked_up(tmp_path: Path) -> None:
    model = load_device_model(
        _write(
            tmp_path,
            """
[[inputs]]
index = 0
name = "Good take"
hid_usages = ["0x0C:0xE9", "0x7:0x28"]
evdev_keys = ["KEY_B"]
""",
        )
    )
    assert model.inputs[0].hid_usages == ("0x0c:0x00e9", "0x07:0x0028")
    assert model.input_by_hid_usage(0x0C, 0xE9) is model.inputs[0]
    assert model.input_by_hid_usage(0x07, 0x28) is model.inputs[0]
    assert model.input_by_hid_usage(0x07, 0x29) is None
    assert model.input_by_evdev_key("KEY_B") is model.inputs[0]
    assert model.discovery.evdev is not None and model.discovery.evdev.vendor_id == 0x0C45


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ('hid_usages = ["volume up"]', "page:id in hex"),
        ('evdev_keys = ["enter"]', "a Linux key name"),
    ],
)
def test_a_bad_usage_or_key_names_the_file_and_the_field(
    tmp_path: Path, inputs: str, why: str
) -> None:
    path = _write(tmp_path, f'[[inputs]]\nindex = 0\nname = "A"\n{inputs}\n')
    with pytest.raises(DeviceModelError, match=why) as caught:
        load_device_model(path)
    assert "pedal.toml" in str(caught.value)


def test_one_usage_presses_one_input_only(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[[inputs]]
index = 0
name = "A"
hid_usages = ["0x0c:0x00e9"]

[[inputs]]
index = 1
name = "B"
hid_usages = ["0x0C:0xE9"]
""",
    )
    with pytest.raises(DeviceModelError, match="hid_usages must each press one input only"):
        load_device_model(path)
