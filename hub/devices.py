"""The sub-devices attached now: one registry, fed by the plugins' sources, read by the rest.

Sources (running in their own threads, see :mod:`c2c_hub.plugin.runner`) report through their
context; the runner hands each call to this registry on the hub's event loop. The channel
manager (:mod:`c2c_hub.channels`) follows attaches and detaches, the recorder follows audio, the
logger (button remotes) follows presses. Listeners are registered with ``on_*`` methods that
return an unsubscribe callable, and a listener that raises is logged, never propagated.

Validation happens here, once, for every plugin alike: a sub-device whose model is not a
declared device model, or whose kind does not fit what it sends, is refused with a log line
that names the source and the problem. What a sub-device may send follows from its kind's
capabilities (:mod:`c2c_hub.device_kinds`): audio only from a kind with ``audio``, presses only
from a kind with ``presses`` (and only of inputs its model declares).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from c2c_hub.device_kinds import DeviceKind
from c2c_hub.device_models import DeviceModel, DeviceModelRegistry
from c2c_hub.subdevices import AudioBlock, SubDevice

log = logging.getLogger(__name__)

ChangeKind = Literal["attached", "updated", "detached"]


@dataclass(frozen=True)
class Attached:
    """A sub-device that is here, with the source that reported it and its model."""

    device: SubDevice
    model: DeviceModel
    source: str
    since: float
    #: The model's kind: what the hub does with the sub-device follows from its capabilities.
    kind: DeviceKind


@dataclass(frozen=True)
class DeviceChange:
    kind: ChangeKind
    serial: str
    attached: Attached | None  # None for "detached"
    reason: str = ""


@dataclass(frozen=True)
class Press:
    serial: str
    input_index: int
    at: float


Listener = Callable[[Any], None]


class DeviceRegistry:
    """Attached sub-devices by serial; not thread-safe (used on the hub's loop only)."""

    def __init__(
        self,
        models: DeviceModelRegistry,
        now: Callable[[], float],
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.models = models
        self._now = now
        #: names the operator gave (``recorder.tracks``), by serial: they win over the source's
        self.names: Mapping[str, str] = names or {}
        self._attached: dict[str, Attached] = {}
        self._listeners: dict[str, list[Listener]] = {"change": [], "press": []}
        # called with (serial, block) directly: audio comes thousands of blocks a second
        self._audio_listeners: list[Callable[[str, AudioBlock], None]] = []
        self.refused = 0

    # ------------------------------------------------------------------ listeners
    def _subscribe(self, kind: str, listener: Listener) -> Callable[[], None]:
        self._listeners[kind].append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners[kind]:
                self._listeners[kind].remove(listener)

        return unsubscribe

    def on_change(self, listener: Callable[[DeviceChange], None]) -> Callable[[], None]:
        return self._subscribe("change", listener)

    def on_audio(self, listener: Callable[[str, AudioBlock], None]) -> Callable[[], None]:
        listeners = self._audio_listeners
        listeners.append(listener)

        def unsubscribe() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return unsubscribe

    def on_press(self, listener: Callable[[Press], None]) -> Callable[[], None]:
        return self._subscribe("press", listener)

    def _emit(self, kind: str, value: Any) -> None:
        for listener in list(self._listeners[kind]):
            try:
                listener(value)
            except Exception:
                log.exception("a %s listener failed", kind)

    # ------------------------------------------------------------------ reports from sources
    def attach(self, source: str, device: SubDevice) -> bool:
        """Attach (or update) ``device``; False, with a log line, when it cannot be used."""
        model = self.models.get(device.model_id)
        if model is None:
            return self._refuse(source, device.serial, f"unknown device model {device.model_id}")
        device_kind = self.models.kind_of(model)
        if not device_kind.sub_device:
            return self._refuse(source, device.serial, "a host model cannot be a sub-device")
        given = self.names.get(device.serial)
        if given and given != device.name:
            device = dataclasses.replace(device, name=given)
        current = self._attached.get(device.serial)
        if current is not None and current.source != source:
            return self._refuse(
                source, device.serial, f"serial already attached by source {current.source}"
            )
        if current is not None and current.device == device:
            return True
        if current is not None and current.model.id != model.id:
            # A different model under the same serial is a different channel: leave, then come.
            self.detach(source, device.serial, "its device model changed")
            current = None
        since = current.since if current is not None else self._now()
        entry = Attached(device, model, source, since, device_kind)
        self._attached[device.serial] = entry
        kind: ChangeKind = "updated" if current is not None else "attached"
        log.info("sub-device %s %s (%s, %s)", device.serial, kind, model.name, device.name)
        self._emit("change", DeviceChange(kind, device.serial, entry))
        return True

    def _refuse(self, source: str, serial: str, why: str) -> bool:
        self.refused += 1
        log.warning("source %s: sub-device %r refused: %s", source, serial, why)
        return False

    def detach(self, source: str, serial: str, reason: str) -> bool:
        current = self._attached.get(serial)
        if current is None or current.source != source:
            return False
        del self._attached[serial]
        log.info("sub-device %s detached: %s", serial, reason)
        self._emit("change", DeviceChange("detached", serial, None, reason))
        return True

    def detach_source(self, source: str, reason: str) -> int:
        """Detach every sub-device of ``source`` (it failed or stopped)."""
        serials = [s for s, a in self._attached.items() if a.source == source]
        for serial in serials:
            self.detach(source, serial, reason)
        return len(serials)

    def audio(self, source: str, serial: str, block: AudioBlock) -> None:
        current = self._attached.get(serial)
        if current is None or current.source != source:
            return  # not attached (yet, or any more): nothing to record it into
        if not current.kind.audio:
            log.debug("audio from %s, whose kind %s sends none: dropped", serial, current.kind)
            return
        if current.device.audio is None:
            log.debug("audio from %s, which declared no audio format: dropped", serial)
            return
        for listener in tuple(self._audio_listeners):
            try:
                listener(serial, block)
            except Exception:
                log.exception("an audio listener failed")

    def press(self, source: str, serial: str, input_index: int, at: float | None) -> bool:
        current = self._attached.get(serial)
        if current is None or current.source != source:
            log.warning("press from %s, which is not attached: dropped", serial)
            return False
        if not current.kind.presses:
            log.warning("press from %s, whose kind %s has no inputs: dropped", serial, current.kind)
            return False
        if current.model.input(input_index) is None:
            log.warning(
                "press of input %d from %s: %s declares no such input (inputs %s); dropped",
                input_index,
                serial,
                current.model.name,
                [i.index for i in current.model.inputs],
            )
            return False
        self._emit("press", Press(serial, input_index, self._now() if at is None else at))
        return True

    # ------------------------------------------------------------------ reading
    def get(self, serial: str) -> Attached | None:
        return self._attached.get(serial)

    def __iter__(self) -> Any:
        return iter(list(self._attached.values()))

    def __len__(self) -> int:
        return len(self._attached)

    def devices(self) -> dict[str, SubDevice]:
        return {serial: a.device for serial, a in self._attached.items()}

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "serial": a.device.serial,
                "name": a.device.name,
                "model": a.model.name,
                "model_id": a.model.id,
                "kind": a.kind.name,
                "source": a.source,
                "address": a.device.address,
                "since": a.since,
                # what the source says of it (an AES67 channel: format, PTP clock, warnings)
                "details": dict(a.device.details),
            }
            for a in sorted(self._attached.values(), key=lambda a: a.device.serial)
        ]
