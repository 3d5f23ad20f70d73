"""Keyboards the kernel already owns (``/dev/input/event*``): USB foot pedals, presentation
clicker dongles, remotes BlueZ's input plugin took. Read through python-evdev.

- **Decoding** (pure, no evdev needed): ``struct input_event`` is ``struct timeval`` (two
  native longs: 16 bytes on 64-bit Linux) then ``__u16 type, __u16 code, __s32 value``.
  A key event (``EV_KEY``) with value 1 is a key-down, 0 a release, 2 the kernel's
  auto-repeat: only a key-down that was not already down is a press, so a key held down is one
  press. ``SYN_DROPPED`` (the kernel's buffer overran) forgets what was down.
- **Devices**: matched against the models' ``[discovery.evdev]`` (name prefix, vendor and
  product ids), *grabbed* (``EVIOCGRAB``: its keys no longer type into a console or a
  desktop), and known by ``uniq`` (a Bluetooth device's address, a USB serial) or else
  ``phys`` (the USB port path): never by its event number, which changes at every plug.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from c2c_hub import kit
from c2c_hub_plugins.hid_remotes.options import Options

#: ``struct input_event`` on this machine's ABI (64-bit: ``llHHi``, 24 bytes).
INPUT_EVENT = struct.Struct("@llHHi")
EV_SYN, EV_KEY = 0x00, 0x01
SYN_DROPPED = 3
KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

#: Linux key codes (``linux/input-event-codes.h``) of the keys remotes send, by name.
KEY_CODES: dict[str, int] = {
    "KEY_ESC": 1,
    "KEY_ENTER": 28,
    "KEY_B": 48,
    "KEY_DOT": 52,
    "KEY_SPACE": 57,
    "KEY_F5": 63,
    "KEY_UP": 103,
    "KEY_PAGEUP": 104,
    "KEY_LEFT": 105,
    "KEY_RIGHT": 106,
    "KEY_DOWN": 108,
    "KEY_PAGEDOWN": 109,
    "KEY_MUTE": 113,
    "KEY_VOLUMEDOWN": 114,
    "KEY_VOLUMEUP": 115,
    "KEY_NEXTSONG": 163,
    "KEY_PLAYPAUSE": 164,
    "KEY_PREVIOUSSONG": 165,
    "KEY_CAMERA": 212,
    "BTN_0": 0x100,
    "BTN_1": 0x101,
    "BTN_2": 0x102,
    "BTN_3": 0x103,
}
KEY_NAMES = {code: name for name, code in KEY_CODES.items()}


@dataclass(frozen=True)
class InputEvent:
    sec: int
    usec: int
    type: int
    code: int
    value: int

    @property
    def time(self) -> float:
        return self.sec + self.usec / 1e6


def decode_events(data: bytes) -> tuple[list[InputEvent], bytes]:
    """The whole events in ``data``, and the bytes left over (an event cut short)."""
    size = INPUT_EVENT.size
    whole = len(data) - len(data) % size
    events = [InputEvent(*fields) for fields in INPUT_EVENT.iter_unpack(data[:whole])]
    return events, data[whole:]


def encode_event(event: InputEvent) -> bytes:
    """The bytes the kernel writes for ``event`` (for tests and recordings)."""
    return INPUT_EVENT.pack(event.sec, event.usec, event.type, event.code, event.value)


class KeyPresses:
    """Key events in, presses out: ``(key code, event time)`` for each new key-down."""

    def __init__(self) -> None:
        self.down: set[int] = set()
        self.repeats = 0

    def feed(self, events: Iterable[InputEvent]) -> Iterator[tuple[int, float]]:
        for event in events:
            if event.type == EV_SYN and event.code == SYN_DROPPED:
                self.down.clear()
            elif event.type != EV_KEY:
                continue
            elif event.value == KEY_DOWN:
                if event.code not in self.down:
                    self.down.add(event.code)
                    yield event.code, event.time
            elif event.value == KEY_REPEAT:
                self.repeats += 1
            elif event.value == KEY_UP:
                self.down.discard(event.code)


_SERIAL_CHARS = re.compile(r"[^A-Za-z0-9._:-]+")


def evdev_identity(uniq: str | None, phys: str | None, name: str) -> str | None:
    """The device's stable id: ``uniq`` (a Bluetooth address, a USB serial), else ``phys``
    (the port it is plugged into: stable while it stays there); never the event number."""
    for value in (uniq, phys):
        if value and value.strip():
            text = _SERIAL_CHARS.sub("-", value.strip()).strip("-")
            if text:
                return f"evdev-{text}"[:128]
    return None


def matches(model: kit.DeviceModel, name: str, vendor: int, product: int) -> bool:
    rule = model.discovery.evdev
    if rule is None:
        return False
    if rule.name_prefix is not None and not name.startswith(rule.name_prefix):
        return False
    if rule.vendor_id is not None and rule.vendor_id != vendor:
        return False
    return rule.product_id is None or rule.product_id == product


def evdev_models(models: list[kit.DeviceModel]) -> list[kit.DeviceModel]:
    return [
        m for m in models if m.discovery.evdev is not None and any(i.evdev_keys for i in m.inputs)
    ]


class EvdevSource:
    """Keyboards the kernel owns, matched by a model's ``[discovery.evdev]``, as remotes.

    Needs python-evdev (``pip install evdev``) and read access to ``/dev/input/event*``
    (the ``input`` group); without either it reports so and waits.
    """

    name = "hid-evdev"

    def __init__(self, *, clock: kit.Clock | None = None) -> None:
        self._clock: kit.Clock = clock or kit.SystemClock()
        self._devices: dict[str, dict[str, Any]] = {}

    async def run(self, ctx: kit.SourceContext) -> None:
        options = Options.load(ctx)
        models = evdev_models(ctx.models.of_kind(kit.BUTTON_REMOTE))
        if not options.evdev or not models:
            ctx.report(True, "evdev off" if not options.evdev else "no model declares evdev")
            await asyncio.Event().wait()
        try:
            import evdev  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            # Optional: a recorder without USB pedals or dongles does not need it.
            ctx.report(True, "evdev off: python-evdev is not installed (c2c-hub[evdev])")
            await asyncio.Event().wait()
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            while True:
                for path in evdev.list_devices():
                    if path in tasks and not tasks[path].done():
                        continue
                    try:
                        device = evdev.InputDevice(path)
                    except OSError:
                        continue
                    info = device.info
                    model = next(
                        (m for m in models if matches(m, device.name, info.vendor, info.product)),
                        None,
                    )
                    serial = evdev_identity(device.uniq, device.phys, device.name)
                    if model is None or serial is None:
                        device.close()
                        continue
                    tasks[path] = asyncio.get_running_loop().create_task(
                        self._follow(ctx, device, model, serial), name=f"hid-evdev {serial}"
                    )
                ctx.report(True, f"{sum(not t.done() for t in tasks.values())} evdev device(s)")
                await self._clock.sleep(options.evdev_rescan_s)
        finally:
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _follow(
        self, ctx: kit.SourceContext, device: Any, model: kit.DeviceModel, serial: str
    ) -> None:
        try:
            device.grab()  # its keys type nowhere else while the hub holds it
        except OSError as exc:
            ctx.log.warning("%s: cannot grab %s (%s); not used", serial, device.path, exc)
            device.close()
            return
        ctx.attach(
            kit.SubDevice(
                serial=serial,
                model_id=model.id,
                name=device.name,
                address=device.phys or None,
                details={"protocol": "evdev"},
            )
        )
        presses = KeyPresses()
        try:
            async for event in device.async_read_loop():
                decoded = InputEvent(event.sec, event.usec, event.type, event.code, event.value)
                for code, _at in presses.feed([decoded]):
                    name = KEY_NAMES.get(code)
                    button = model.input_by_evdev_key(name) if name else None
                    if button is not None:
                        ctx.press(serial, button.index, at=self._clock.now())
        except OSError:
            pass  # unplugged
        finally:
            ctx.detach(serial, "unplugged")
            with contextlib.suppress(OSError):
                device.ungrab()
            device.close()
