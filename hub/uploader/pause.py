"""Where the uploader learns that the device is paused.

The hub's :class:`~c2c_hub.presence.Presence` is the usual source (``paused`` confirmed by
``GET /v2/devices/me``; ``on_change`` fires on every change). Tests and the standalone uploader
may pass a plain callable (``lambda: flag``) or nothing. Whatever the source, a 409 "Channel
Paused" seen by the uploader itself is checked with ``/v2/devices/me`` (see
:mod:`~c2c_hub.uploader.gate`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PauseSource(Protocol):
    """Anything with a ``paused`` flag and change notifications (``Presence`` is one)."""

    @property
    def paused(self) -> bool | None: ...

    def on_change(self, listener: Callable[[Any], None]) -> Callable[[], None]: ...


class FlagPause:
    """A pause source a test (or a recorder) flips by hand; listeners hear every flip."""

    def __init__(self, paused: bool = False) -> None:
        self._paused = paused
        self._listeners: list[Callable[[Any], None]] = []

    @property
    def paused(self) -> bool | None:
        return self._paused

    def set(self, paused: bool) -> None:
        self._paused = paused
        for listener in list(self._listeners):
            listener(self)

    def on_change(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None


class CallablePause:
    """Wraps ``() -> bool``; it cannot notify, so the start gate re-reads it every few tenths."""

    def __init__(self, read: Callable[[], bool | None]) -> None:
        self._read = read

    @property
    def paused(self) -> bool | None:
        return self._read()

    def on_change(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None


PauseLike = PauseSource | Callable[[], bool | None] | None


def as_pause_source(source: PauseLike) -> tuple[PauseSource | None, bool]:
    """The source, and whether it must be polled (it cannot notify)."""
    if source is None:
        return None, False
    if isinstance(source, PauseSource):
        return source, isinstance(source, CallablePause)
    return CallablePause(source), True
