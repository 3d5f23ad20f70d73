"""What was sent, held against what is on disk: the real-time part layout and changed bytes.

A real-time file of ``total`` bytes is cut into parts of ``P`` bytes: part *k* is bytes
``[(k-1)·P, k·P)`` and the last part, the only one marked ``is_final``, is what remains
(:func:`realtime_layout`). A part already acknowledged still belongs to the file only if it
sits where the layout puts it now (:func:`misfits`) and its bytes on disk still hash to what
was sent (:func:`changed_parts`).

At the end of a real-time take every part sent while it recorded is read again
(:func:`background_check`): hundreds of MiB for a long take, at the very moment the tail of
the take is being sent. That reading runs in a thread of its own at the lowest CPU priority
(``nice`` 19 for that thread alone, on Linux), so on a busy or small machine the sending goes
first; the check still runs to its end before the file is called done.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable

from c2c_hub.uploader.queue import NewPart, PartRecord


def realtime_layout(total: int, part_size: int) -> list[NewPart]:
    """The parts of a complete real-time file of ``total`` bytes (at least one)."""
    count = max(1, -(-total // part_size))
    return [
        NewPart(
            number,
            (number - 1) * part_size,
            part_size if number < count else total - (count - 1) * part_size,
            is_final=number == count,
        )
        for number in range(1, count + 1)
    ]


def misfits(parts: Iterable[PartRecord], layout: list[NewPart]) -> list[int]:
    """Numbers of ``parts`` that no longer sit where ``layout`` puts them."""
    planned = {p.number: p for p in layout}
    out = []
    for part in parts:
        want = planned.get(part.number)
        if (
            want is None
            or want.offset != part.offset
            or want.size != part.size
            or want.is_final != part.is_final
        ):
            out.append(part.number)
    return out


def changed_parts(path: str, parts: list[PartRecord]) -> list[int]:
    """Numbers of ``parts`` whose bytes on disk no longer hash to what was sent."""
    changed = []
    try:
        with open(path, "rb") as fh:
            for part in parts:
                fh.seek(part.offset)
                digest = hashlib.sha256()
                left = part.size
                while left:
                    chunk = fh.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    digest.update(chunk)
                    left -= len(chunk)
                if left or digest.hexdigest() != part.sha256:
                    changed.append(part.number)
    except OSError:
        return [p.number for p in parts]
    return changed


#: the CPU priority of the thread that reads a take again at its end (``nice``: 19 is lowest)
CHECK_NICENESS = 19


async def background_check(path: str, parts: list[PartRecord]) -> list[int]:
    """:func:`changed_parts` in a thread of its own at the lowest CPU priority."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[int]] = loop.create_future()

    def deliver(result: list[int] | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(result or [])

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: per thread; else as is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)
        try:
            result, error = changed_parts(path, parts), None
        except BaseException as exc:  # delivered to the awaiting task, not lost in the thread
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=run, name="realtime-verify", daemon=True).start()
    return await answer
