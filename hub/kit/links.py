"""One device's link, kept: opened, lost, closed, and a grace before its device is detached.

A tracker that connects to a device (a BLE remote, say) keeps a :class:`LinkKeeper`:

::

    opening() ─► open(link) ─► (the link drops: on_disconnect) ─► lost is set
        ▲                                                        │
        │                                        start_grace(s, expired)
        └──────────── it is back: cancel_grace() ◄──── or s seconds on the clock: expired()

- :meth:`~LinkKeeper.on_disconnect` is the radio's disconnect callback: a drop sets
  :attr:`~LinkKeeper.lost` (and calls ``on_drop``), but the disconnect that the keeper's own
  :meth:`~LinkKeeper.close` causes does not.
- :meth:`~LinkKeeper.close` disconnects within :data:`CLOSE_TIMEOUT_S` (3 s) and never raises (a
  remote that does not answer must not hold its tracker).
- the grace is one named task on the injected clock: :meth:`~LinkKeeper.start_grace` starts it
  unless it runs, :meth:`~LinkKeeper.cancel_grace` ends it (a reconnect, a release), and
  ``expired()`` runs only if nobody cancelled it within the grace.
- :meth:`~LinkKeeper.finish` (in the tracker's ``finally``) cancels the grace, closes the link
  and waits for the grace's task: nothing is left behind.

It lives on the tracker's event loop; nothing is thread-safe, nothing needs to be.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from c2c_hub.clock import Clock

#: How long a closing link may take to disconnect before it is let go.
CLOSE_TIMEOUT_S = 3.0


class Link(Protocol):
    async def disconnect(self) -> None:
        """Close the link (never raises)."""
        ...


L = TypeVar("L", bound=Link)


class LinkKeeper(Generic[L]):
    """At most one live link to one device, told apart from its own close, and its grace.

    :param clock: the grace's clock (tests inject one).
    :param name: the grace task's name (``"<source> <address> grace"``).
    :param on_drop: called (on the loop) when the link drops, before :attr:`lost` is set.
    :param close_timeout_s: how long :meth:`close` waits for the link to disconnect.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        name: str,
        on_drop: Callable[[], None] | None = None,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
    ) -> None:
        self.link: L | None = None
        self.lost = asyncio.Event()
        self._clock = clock
        self._name = name
        self._on_drop = on_drop
        self._close_timeout_s = close_timeout_s
        self._closing = False
        self._grace: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ the link
    def opening(self) -> None:
        """A connection attempt starts: a drop from now on is this link's."""
        self.lost.clear()
        self._closing = False

    def open(self, link: L) -> None:
        """The attempt connected: ``link`` is the one to close."""
        self.link = link

    def on_disconnect(self) -> None:
        """The radio's disconnect callback: a drop, unless the keeper is closing the link."""
        if self._closing:
            return
        if self._on_drop is not None:
            self._on_drop()
        self.lost.set()

    async def close(self) -> None:
        """Disconnect the link, if there is one (never raises, never waits long)."""
        link, self.link = self.link, None
        if link is None:
            return
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._close_timeout_s):
                await link.disconnect()

    # ------------------------------------------------------------------ the grace
    @property
    def in_grace(self) -> bool:
        return self._grace is not None

    def start_grace(self, seconds: float, expired: Callable[[], None]) -> None:
        """``expired()`` after ``seconds`` on the clock, unless cancelled; a no-op if a grace
        already runs (the first drop's grace goes on)."""
        if self._grace is None:
            self._grace = asyncio.get_running_loop().create_task(
                self._after(seconds, expired), name=self._name
            )

    async def _after(self, seconds: float, expired: Callable[[], None]) -> None:
        await self._clock.sleep(seconds)
        self._grace = None
        expired()

    def cancel_grace(self) -> None:
        """End the grace, if one runs: the device stays (it is back, or someone else's now)."""
        grace, self._grace = self._grace, None
        if grace is not None and grace is not asyncio.current_task():
            grace.cancel()

    # ------------------------------------------------------------------ the end
    async def finish(self) -> None:
        """Cancel the grace, close the link, and wait for the grace's task to end."""
        grace = self._grace
        self.cancel_grace()
        await self.close()
        if grace is not None:
            await asyncio.gather(grace, return_exceptions=True)
