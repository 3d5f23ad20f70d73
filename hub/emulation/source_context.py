"""A fake :class:`~c2c_hub.kit.SourceContext` with behaviour, for testing a plugin's source alone.

:class:`FakeSourceContext` is the hub's side of the plugin API without the hub (no threads, no
Frame.io): it validates like the hub (attaches and presses go through a real
:class:`~c2c_hub.devices.DeviceRegistry` on the real device models, so a sub-device of an
unknown model, or a press of an input its model does not declare, is refused as in the hub),
checks every audio block against the attached device's format, records every call in order
(with the loop time, the wall time and ``perf_counter``), and lets a test await what it
expects::

    ctx = FakeSourceContext(options={"poll_s": 0.1}, plugin="my_plugin")
    task = asyncio.create_task(MySource().run(ctx))
    await ctx.wait_attached("MIC-1")

It is what ``c2c_hub.emulation.testing`` (the pytest plugin) hands plugin authors, and what the
first-party plugins' tests use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from c2c_hub.device_kinds import DeviceKind
from c2c_hub.device_models import DeviceModelRegistry, load_device_models, shipped_models_dir
from c2c_hub.devices import DeviceRegistry
from c2c_hub.subdevices import AudioBlock, SubDevice


@dataclass(frozen=True)
class Call:
    """One call of the source: ``kind`` is attach, refused, detach, press, press-refused,
    report or bad-audio (good audio is kept in :attr:`FakeSourceContext.blocks`)."""

    kind: str
    args: tuple[Any, ...]
    at: float  # loop time
    wall: float  # time.time()
    perf: float  # time.perf_counter()


def shipped_models() -> DeviceModelRegistry:
    return DeviceModelRegistry.load(shipped_models_dir())


@dataclass
class FakeSourceContext:
    """A SourceContext that validates like the hub's and remembers everything.

    :param options: the plugin's options table (a read-only view is handed to the source).
    :param models: the device models (default: the hub's own).
    :param plugin: the plugin's name (``ctx.plugin``).
    :param source: the source's name: the registry's source key and the logger ``test.<source>``.
    :param kinds: the plugin's own kinds of device, added to the models' kinds.
    :param model_files: the plugin's own device model files or folders, added to the models.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    models: DeviceModelRegistry = field(default_factory=shipped_models)
    plugin: str = "plugin_under_test"
    source: str = "source"
    kinds: Sequence[DeviceKind] = ()
    model_files: Sequence[Path] = ()
    log: logging.Logger = field(init=False)

    def __post_init__(self) -> None:
        self.log = logging.getLogger(f"test.{self.source}")
        for kind in self.kinds:
            self.models.kinds.register(kind, origin=self.plugin)
        for path in self.model_files:
            self.models.add(load_device_models(Path(path)), origin=self.plugin)
        self.registry = DeviceRegistry(self.models, now=time.time)
        self.calls: list[Call] = []
        self.blocks: dict[str, list[AudioBlock]] = {}
        self._tick = asyncio.Event()

    # ------------------------------------------------------------------ the SourceContext API
    def attach(self, device: SubDevice) -> None:
        ok = self.registry.attach(self.source, device)
        self._record("attach" if ok else "refused", device)

    def detach(self, serial: str, reason: str) -> None:
        self.registry.detach(self.source, serial, reason)
        self._record("detach", serial, reason)

    def audio(self, serial: str, block: AudioBlock) -> None:
        attached = self.registry.get(serial)
        problem = None
        if attached is None or attached.device.audio is None:
            problem = "audio from a serial that is not attached"
        elif not attached.kind.audio:
            problem = f"audio from a {attached.kind} (its kind sends no audio)"
        else:
            channels = attached.device.audio.channels
            shape = (block.frames,) if channels == 1 else (block.frames, channels)
            if block.samples.dtype != np.int32 or block.samples.shape != shape:
                problem = f"block {block.samples.dtype} {block.samples.shape}, expected {shape}"
        if problem is not None:
            self._record("bad-audio", serial, problem)
            return
        self.blocks.setdefault(serial, []).append(block)
        self._tick.set()  # audio is not kept in ``calls`` (100 blocks a second per mic)

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        ok = self.registry.press(self.source, serial, input_index, at)
        self._record("press" if ok else "press-refused", serial, input_index, at)

    def report(self, healthy: bool, detail: str) -> None:
        self._record("report", healthy, detail)

    # ------------------------------------------------------------------ reading
    def _record(self, kind: str, *args: Any) -> None:
        self.calls.append(
            Call(kind, args, asyncio.get_running_loop().time(), time.time(), time.perf_counter())
        )
        self._tick.set()

    def of_kind(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind]

    def attaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("attach") if c.args[0].serial == serial]

    def detaches(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("detach") if c.args[0] == serial]

    def presses(self, serial: str) -> list[Call]:
        return [c for c in self.of_kind("press") if c.args[0] == serial]

    def indexes(self, serial: str) -> list[int]:
        return [c.args[1] for c in self.presses(serial)]

    def frames(self, serial: str) -> int:
        return sum(b.frames for b in self.blocks.get(serial, []))

    @property
    def last_report(self) -> tuple[bool, str] | None:
        reports = self.of_kind("report")
        return (reports[-1].args[0], reports[-1].args[1]) if reports else None

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, what: str, check: Callable[[], Any], within: float = 15.0) -> Any:
        """Until ``check()`` is truthy (re-checked on every call and every 50 ms); its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (value := check()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {within} s waiting for {what}; calls: "
                    + ", ".join(f"{c.kind}{c.args}" for c in self.calls[-12:])
                )
            self._tick.clear()
            try:
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._tick.wait()
            except TimeoutError:
                pass
        return value

    async def wait_attached(self, serial: str, count: int = 1, within: float = 15.0) -> Call:
        """The ``count``-th attach of ``serial``."""
        calls: list[Call] = await self.wait_for(
            f"{serial} attached {count}x", lambda: self.attaches(serial)[count - 1 :], within
        )
        return calls[0]

    async def wait_detached(self, serial: str, count: int = 1, within: float = 15.0) -> Call:
        """The ``count``-th detach of ``serial``."""
        calls: list[Call] = await self.wait_for(
            f"{serial} detached {count}x", lambda: self.detaches(serial)[count - 1 :], within
        )
        return calls[0]

    async def wait_presses(self, serial: str, count: int, within: float = 15.0) -> list[Call]:
        presses: list[Call] = await self.wait_for(
            f"{count} presses from {serial}",
            lambda: self.presses(serial) if len(self.presses(serial)) >= count else None,
            within,
        )
        return presses

    async def wait_frames(self, serial: str, frames: int, within: float = 15.0) -> None:
        await self.wait_for(
            f"{frames} frames from {serial}", lambda: self.frames(serial) >= frames, within
        )

    async def wait_report(self, text: str, within: float = 15.0) -> tuple[bool, str]:
        """The last report, once its detail contains ``text``."""
        report: tuple[bool, str] = await self.wait_for(
            f"a report with {text!r}",
            lambda: (
                self.last_report
                if self.last_report is not None and text in self.last_report[1]
                else None
            ),
            within,
        )
        return report


C = TypeVar("C")
S = TypeVar("S")


@dataclass
class RunningSource(Generic[C, S]):
    """A source a plugin test started under a fake context, and the task running it."""

    ctx: C
    source: S
    task: asyncio.Task[None]
    stop_timeout_s: float = 10.0

    async def stop(self) -> None:
        """Cancel the source's run and wait (bounded) until it has ended."""
        if not self.task.done():
            self.task.cancel()
        async with asyncio.timeout(self.stop_timeout_s):
            await asyncio.gather(self.task, return_exceptions=True)
