"""What a sub-device is, and the surface a plugin's source talks to: the plugin API's types.

A *source* (registered by a plugin, see :mod:`c2c_hub.plugin.spec`) finds sub-devices and reports
them through its :class:`SourceContext`:

- :meth:`SourceContext.attach` a sub-device is here (it becomes a Frame.io channel);
- :meth:`SourceContext.detach` it left (its channel is disconnected);
- :meth:`SourceContext.audio` a microphone's samples, placed by sample position;
- :meth:`SourceContext.press` a button of a logging-capable remote was pressed;
- :meth:`SourceContext.report` the source's own health, shown by ``c2c-hub plugins``.

Every method may be called from the source's own thread and event loop (each source runs in
its own, so a source that blocks never stalls the hub); the hub takes the call over to its
loop. None of them raises for bad input from a device: a bad call is logged and dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from c2c_hub.device_models import DeviceModelRegistry
from c2c_hub.errors import HubError

SERIAL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class SubDeviceError(HubError, ValueError):
    """A sub-device description the hub cannot use (the message says which field and why)."""


@dataclass(frozen=True)
class AudioFormat:
    """A microphone's stream: PCM, interleaved when ``channels`` > 1."""

    sample_rate: int = 48000
    bits: int = 24
    channels: int = 1

    def __post_init__(self) -> None:
        if self.sample_rate not in (44100, 48000, 88200, 96000, 192000):
            raise SubDeviceError(f"sample_rate: unsupported {self.sample_rate}")
        if self.bits not in (16, 24, 32):
            raise SubDeviceError(f"bits: unsupported {self.bits}")
        if not 1 <= self.channels <= 8:
            raise SubDeviceError(f"channels: must be 1 to 8, got {self.channels}")


@dataclass(frozen=True)
class SubDevice:
    """One sub-device: a network microphone, a button remote, anything with a device model.

    ``serial`` is the sub-device's stable, unique id; it becomes the channel's ``client_id`` in
    Frame.io, so it must survive power cycles (a serial number, never a MAC address or PII).
    """

    serial: str
    model_id: str
    name: str
    address: str | None = None
    audio: AudioFormat | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not SERIAL_RE.match(self.serial):
            raise SubDeviceError(
                f"serial: must be 1-128 characters of letters, digits and ._:- , "
                f"got {self.serial!r}"
            )
        if not self.name.strip():
            raise SubDeviceError("name: must not be empty")


@dataclass(frozen=True)
class AudioBlock:
    """Samples of one microphone, placed on the timeline by ``position``.

    ``position`` is the first sample's time as samples since midnight at the stream's rate (the
    BWF time reference, in the timecode the microphone is synced to). ``samples`` are int32,
    left-justified (a 24-bit value shifted left by 8: soundfile's int32 convention), shape
    ``(frames,)`` for mono or ``(frames, channels)``.
    """

    position: int
    samples: npt.NDArray[np.int32]

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])


class SourceContext(Protocol):
    """What the hub gives a running source (implemented by :mod:`c2c_hub.plugin.runner`)."""

    @property
    def plugin(self) -> str:
        """The plugin's one name: its entry point's, its options table's, its loggers'."""
        ...

    @property
    def models(self) -> DeviceModelRegistry:
        """Every device model of the integration: the hub's and every plugin's."""
        ...

    @property
    def options(self) -> Mapping[str, Any]:
        """This plugin's options: the ``[plugins.options.<plugin name>]`` table of the settings."""
        ...

    @property
    def log(self) -> logging.Logger:
        """A logger named for the plugin and the source (``c2c_hub.plugins.<plugin>.<source>``)."""
        ...

    def attach(self, device: SubDevice) -> None:
        """The sub-device is present (again). Attaching an attached serial updates it."""
        ...

    def detach(self, serial: str, reason: str) -> None:
        """The sub-device left; ``reason`` is shown to the operator ("vanished", "unplugged")."""
        ...

    def audio(self, serial: str, block: AudioBlock) -> None:
        """Samples from an attached microphone (ignored unless a take is recording)."""
        ...

    def press(self, serial: str, input_index: int, at: float | None = None) -> None:
        """Input ``input_index`` of a remote was pressed at ``at`` (epoch seconds; default now)."""
        ...

    def report(self, healthy: bool, detail: str) -> None:
        """The source's own view of its health ("SAP on 10.0.0.2; 2 streams", "adapter missing")."""
        ...


@runtime_checkable
class DeviceSource(Protocol):
    """A long-lived discoverer of sub-devices, registered by a plugin.

    ``run`` works until it is cancelled. If it raises, the hub reports the error, detaches the
    source's sub-devices and runs it again after a backoff. It runs in a thread and event loop of
    its own.
    """

    name: str

    async def run(self, ctx: SourceContext) -> None: ...


@dataclass(frozen=True)
class QueuedFile:
    """What a routing rule is asked about: a file about to be queued."""

    path: str
    name: str
    filetype: str


@runtime_checkable
class RouteRule(Protocol):
    """Decides which sub-device's channel a queued file goes on (``None``: no opinion)."""

    name: str

    def route(self, file: QueuedFile, attached: Mapping[str, SubDevice]) -> str | None:
        """The serial of an attached sub-device, or ``None`` to leave it to the next rule."""
        ...
