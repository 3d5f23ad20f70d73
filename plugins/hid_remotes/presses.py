"""From "these usages are down" to presses: a key held is one press, whatever comes after.

HID reports say which keys are down now, not which were pressed. A press is a usage that
is down in a report and was not down in the one before (on the same report id: a keyboard
report says nothing of the consumer keys). A key held down is therefore one press, however
many reports repeat it (evdev's auto-repeat, value 2, is dropped by its decoder the same way);
its release makes nothing. A link that drops forgets what was down: the key-down that was
counted stays counted, and the next report after a reconnect starts afresh (a shutter
remote wakes, connects and sends the press that woke it, which must not be lost).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
U = TypeVar("U", bound=Hashable)


class HeldKeys(Generic[K, U]):
    """What is down, per report (``K``); :meth:`update` returns the new presses, in order."""

    def __init__(self) -> None:
        self._down: dict[K, set[U]] = {}

    def update(self, report: K, down: Iterable[U]) -> list[U]:
        now = list(dict.fromkeys(down))
        before = self._down.get(report, set())
        self._down[report] = set(now)
        return [u for u in now if u not in before]

    def held(self) -> set[U]:
        return set().union(*self._down.values()) if self._down else set()

    def clear(self) -> None:
        """The link dropped: nothing is known to be down any more."""
        self._down.clear()
