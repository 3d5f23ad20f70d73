"""What was sent, held against what is on disk: the real-time part layout and changed bytes.

A real-time file of ``total`` bytes is cut into parts of ``P`` bytes: part *k* is bytes
``[(k-1)·P, k·P)`` and the last part, the only one marked ``is_final``, is what remains
(:func:`realtime_layout`). An append-only file's parts need not sit on that grid: its last part
sent may have been sent again, grown past ``P`` to bound what is left at the stop
(``realtime_tail_limit``, :mod:`~c2c_hub.uploader.realtime`). So the parts already sent (their
offset and size as stored in the queue) are the truth, and the rest is planned from where
they end (:func:`realtime_plan`). A part already sent still belongs to the file only if it
still fits that plan (:func:`realtime_plan`'s misfits) and its bytes on disk still hash to what
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
    """The parts of a complete real-time file of ``total`` bytes (at least one), none sent."""
    return realtime_plan(total, part_size, [])[0]


def realtime_plan(
    total: int, part_size: int, sent: Iterable[PartRecord]
) -> tuple[list[NewPart], list[int]]:
    """The parts of a complete real-time file of ``total`` bytes, keeping the parts ``sent``.

    Each part sent keeps its number, offset and size (the queue's record is the truth: an
    append-only file's last part may have grown past ``part_size``). Parts missing before the
    last one sent fill the gaps between them (``part_size`` each, the last of a gap what is
    left, never less than ``part_size``: WAV part 1, held back for its header); after it, the
    rest is cut into parts of ``part_size``, the last one final. Returns the plan and the
    numbers of the parts sent that no longer fit it (a gap that cannot be filled, bytes past
    the end of the file, a final part that is not last, or a last one that is not final);
    with a misfit, the plan is the one from scratch.
    """
    kept = sorted(sent, key=lambda p: p.number)
    plan: list[NewPart] = []
    bad: list[int] = []
    position, number = 0, 1
    for part in kept:
        gap = part.number - number
        room = part.offset - position
        fills = room >= gap * part_size if gap else room == 0  # the gap before it, if any
        fits = part.end <= total and fills
        if part.is_final and (part.end != total or part is not kept[-1]):
            fits = False
        if not fits:
            bad.append(part.number)
            continue
        for k in range(gap):  # parts not sent yet between the ones that were
            size = part_size if k < gap - 1 else room - (gap - 1) * part_size
            plan.append(NewPart(number + k, position + k * part_size, size))
        plan.append(NewPart(part.number, part.offset, part.size, is_final=part.is_final))
        position, number = part.end, part.number + 1
    if bad:  # what was sent does not describe the file: the plan from scratch
        return realtime_plan(total, part_size, [])[0], bad
    rest = total - position
    if rest == 0 and plan:
        last = plan[-1]
        if not last.is_final:  # the file ends where a non-final part ends: it must be final
            again = [p for p in kept if p.number != last.number]
            return realtime_plan(total, part_size, again)[0], [last.number]
        return plan, []
    count = max(1, -(-rest // part_size))
    for k in range(count):
        size = part_size if k < count - 1 else rest - (count - 1) * part_size
        plan.append(NewPart(number + k, position + k * part_size, size, is_final=k == count - 1))
    return plan, []


def misfits(parts: Iterable[PartRecord], total: int, part_size: int) -> list[int]:
    """Numbers of ``parts`` (sent) that no longer fit a file of ``total`` bytes."""
    return realtime_plan(total, part_size, parts)[1]


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
