"""Kinds of device: an open registry, the hub's own kinds built in, a plugin's added at start.

A device model (``device_models/*.toml``) names its kind (``kind = "microphone"``). What the hub
does with a sub-device follows from the *capabilities* its kind declares, never from the kind's
name:

- ``audio``: its sub-devices send samples (``ctx.audio``); each one is a track of the take,
  uploaded on its own channel;
- ``presses``: its sub-devices press inputs (``ctx.press``); each press of an input the model
  declares is a real-time logging event on its channel;
- ``primary_channel``: its sub-devices are the recorder's own (its local inputs): they get no
  Frame.io channel of their own, and their files go on the primary channel.

The hub's own kinds are :data:`HOST` (the recorder itself: never a sub-device),
:data:`MICROPHONE` (``audio``), :data:`BUTTON_REMOTE` (``presses``) and :data:`LOCAL_INPUT`
(``audio`` and ``primary_channel``: an input of the recorder itself, such as a JACK port).
A plugin declares a kind of its own through the ``register_device_kinds`` hook
(``docs/plugins/hooks.md``); a kind whose name is taken by a different definition is refused
with an error that names both owners.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from c2c_hub.errors import HubError

KIND_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
BUILT_IN = "the hub"


class DeviceKindError(HubError, ValueError):
    """A kind the hub cannot use, or a second, different kind under a taken name."""


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device and what its sub-devices do (its capabilities)."""

    HOST: ClassVar[DeviceKind]
    MICROPHONE: ClassVar[DeviceKind]
    BUTTON_REMOTE: ClassVar[DeviceKind]
    LOCAL_INPUT: ClassVar[DeviceKind]

    #: The name device model files give as ``kind`` (lower case, digits and ``_``).
    name: str
    #: One line for the operator ("a wireless receiver: one track per channel").
    description: str = ""
    #: Its sub-devices send audio: each one is a track, uploaded on its channel.
    audio: bool = False
    #: Its sub-devices press inputs: each press is a real-time logging event on its channel.
    presses: bool = False
    #: Its sub-devices are the recorder's own: no channel of their own, files on the primary.
    primary_channel: bool = False
    #: False only for the host: a model of this kind can never be attached as a sub-device.
    sub_device: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not KIND_NAME_RE.match(self.name):
            raise DeviceKindError(
                "a kind's name is 1-63 characters of lower-case letters, digits and _ "
                f"(a letter first), got {self.name!r}"
            )

    def __str__(self) -> str:
        return self.name

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(c for c in ("audio", "presses", "primary_channel") if getattr(self, c))


DeviceKind.HOST = HOST = DeviceKind(
    "host", "the recorder running the hub (its primary channel)", sub_device=False
)
DeviceKind.MICROPHONE = MICROPHONE = DeviceKind(
    "microphone", "a microphone: its audio is a track of the take", audio=True
)
DeviceKind.BUTTON_REMOTE = BUTTON_REMOTE = DeviceKind(
    "button_remote", "a remote: each press is a real-time logging event", presses=True
)
DeviceKind.LOCAL_INPUT = LOCAL_INPUT = DeviceKind(
    "local_input",
    "an input of the recorder itself: a track on the primary channel",
    audio=True,
    primary_channel=True,
)
BUILTIN_KINDS = (HOST, MICROPHONE, BUTTON_REMOTE, LOCAL_INPUT)


class DeviceKindRegistry:
    """Every kind the hub knows, by name, with who declared it (``"the hub"`` or a plugin)."""

    def __init__(self, kinds: Iterable[DeviceKind] = BUILTIN_KINDS) -> None:
        self._kinds: dict[str, DeviceKind] = {}
        self._origins: dict[str, str] = {}
        for kind in kinds:
            self.register(kind, origin=BUILT_IN)

    def register(self, kind: DeviceKind, *, origin: str) -> None:
        """Add ``kind``; declaring the very same kind again is harmless, a different one is not."""
        if not isinstance(kind, DeviceKind):
            raise DeviceKindError(f"expected a DeviceKind, got {type(kind).__name__}")
        if not kind.sub_device and origin != BUILT_IN:
            raise DeviceKindError(
                f"kind {kind.name!r}: only the hub's own host kind may be no sub-device"
            )
        known = self._kinds.get(kind.name)
        if known is not None:
            if known == kind:
                return
            raise DeviceKindError(
                f"kind {kind.name!r} is already declared by {self._origins[kind.name]}, "
                "with other capabilities"
            )
        self._kinds[kind.name] = kind
        self._origins[kind.name] = origin

    def get(self, name: str) -> DeviceKind | None:
        return self._kinds.get(name)

    def origin(self, name: str) -> str | None:
        return self._origins.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[DeviceKind]:
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        return sorted(self._kinds)
