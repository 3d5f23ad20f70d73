"""evdev: the decoding of recorded ``input_event`` byte streams (struct timeval, type, code,
value), auto-repeat, identity and matching. No uinput here (no /dev/uinput in this kernel),
so no device is created: the source's grab-and-read loop is not run by these tests."""

from __future__ import annotations

from pathlib import Path

import c2c_hub_plugins.hid_remotes as hid_plugin
from c2c_hub import kit
from c2c_hub.device_models import load_device_models
from c2c_hub_plugins.hid_remotes.evdev_input import (
    EV_KEY,
    EV_SYN,
    INPUT_EVENT,
    KEY_CODES,
    SYN_DROPPED,
    InputEvent,
    KeyPresses,
    decode_events,
    encode_event,
    evdev_identity,
    evdev_models,
    matches,
)

KEY_VOLUMEUP, KEY_ENTER = 115, 28
MSC_SCAN = (0x04, 0x04)


def test_one_event_as_the_kernel_writes_it_on_64_bit_linux() -> None:
    # struct timeval {1700000000 s, 123456 us}, EV_KEY, KEY_VOLUMEUP, 1 (down): 24 bytes.
    raw = bytes.fromhex("00f153650000000040e20100000000000100730001000000")
    assert INPUT_EVENT.size == 24
    (event,), rest = decode_events(raw)
    assert event == InputEvent(1700000000, 123456, EV_KEY, KEY_VOLUMEUP, 1)
    assert rest == b""
    assert event.time == 1700000000.123456
    assert encode_event(event) == raw


def _stream(*events: tuple[int, int, int]) -> bytes:
    out = b""
    for i, (etype, code, value) in enumerate(events):
        out += encode_event(InputEvent(1700000000 + i, 0, etype, code, value))
    return out


def test_a_held_key_with_auto_repeat_is_one_press_and_a_cut_event_waits() -> None:
    # A shutter remote's Volume Up held for a second: scan code, down, sync, the kernel's
    # repeats (value 2), the release; then Enter, split across two reads.
    stream = _stream(
        (MSC_SCAN[0], MSC_SCAN[1], 0xC00E9),
        (EV_KEY, KEY_VOLUMEUP, 1),
        (EV_SYN, 0, 0),
        (EV_KEY, KEY_VOLUMEUP, 2),
        (EV_SYN, 0, 0),
        (EV_KEY, KEY_VOLUMEUP, 2),
        (EV_SYN, 0, 0),
        (EV_KEY, KEY_VOLUMEUP, 0),
        (EV_SYN, 0, 0),
        (EV_KEY, KEY_ENTER, 1),
        (EV_SYN, 0, 0),
        (EV_KEY, KEY_ENTER, 0),
    )
    keys = KeyPresses()
    first, rest = decode_events(stream[:-10])
    assert len(rest) == 14  # the last event cut short: kept for the next read
    presses = list(keys.feed(first))
    second, rest = decode_events(rest + stream[-10:])
    presses += list(keys.feed(second))
    assert rest == b""
    assert [code for code, _ in presses] == [KEY_VOLUMEUP, KEY_ENTER]
    assert [at for _, at in presses] == [1700000001.0, 1700000009.0]
    assert keys.repeats == 2
    assert keys.down == set()


def test_syn_dropped_forgets_what_was_down() -> None:
    keys = KeyPresses()
    events, _ = decode_events(
        _stream((EV_KEY, KEY_ENTER, 1), (EV_SYN, SYN_DROPPED, 0), (EV_KEY, KEY_ENTER, 1))
    )
    assert [c for c, _ in keys.feed(events)] == [KEY_ENTER, KEY_ENTER]


def test_identity_is_uniq_or_phys_never_the_event_number() -> None:
    assert evdev_identity("f1:22:33:44:55:66", "00:1a:7d:da:71:13", "AB Shutter3") == (
        "evdev-f1:22:33:44:55:66"
    )
    assert evdev_identity("", "usb-0000:00:14.0-2/input0", "Foot pedal") == (
        "evdev-usb-0000:00:14.0-2-input0"
    )
    assert evdev_identity(None, None, "anything") is None
    assert kit.SERIAL_RE.match(evdev_identity(None, "usb-0000:00:14.0-2/input0", "x") or "")


def test_shipped_models_match_by_name_and_use_known_keys() -> None:
    models = evdev_models(load_device_models(Path(kit.package_models(hid_plugin.__file__))))
    assert {m.name for m in models} == {"BLE shutter remote (two buttons)", "Presentation clicker"}
    shutter = next(m for m in models if m.name.startswith("BLE shutter"))
    assert matches(shutter, "AB Shutter3 Keyboard", 0x248A, 0x8266)
    assert not matches(shutter, "Logitech USB Receiver", 0x046D, 0xC52B)
    assert shutter.input_by_evdev_key("KEY_VOLUMEUP").index == 0  # type: ignore[union-attr]
    for model in models:
        for button in model.inputs:
            assert all(key in KEY_CODES for key in button.evdev_keys), button
