"""How a basic upload's bytes are split across its ``upload_urls``.

How many URLs there are: docs/rulings.md#basic-upload-urls.

Frame.io's rule, as in its own Python uploader: ``chunk = ceil(filesize / len(upload_urls))``;
part *i* is bytes ``[i * chunk, (i + 1) * chunk)`` and the last part is whatever remains.
"""

from __future__ import annotations

from typing import NamedTuple


class PartPlan(NamedTuple):
    """One part of a basic upload: where it starts in the file, and how many bytes it has."""

    offset: int
    size: int


def plan_parts(filesize: int, n_urls: int) -> list[PartPlan]:
    """The ``(offset, size)`` of each of ``n_urls`` parts of a ``filesize``-byte file.

    Raises ValueError when the plan would leave a URL without a byte (``n_urls > filesize``,
    except for an empty file on one URL) or when an argument is negative or zero.
    """
    if filesize < 0:
        raise ValueError(f"filesize must be >= 0, got {filesize}")
    if n_urls < 1:
        raise ValueError(f"need at least one upload URL, got {n_urls}")
    if filesize == 0:
        if n_urls != 1:
            raise ValueError(f"an empty file has one part, not {n_urls}")
        return [PartPlan(0, 0)]
    chunk = -(-filesize // n_urls)  # ceil without floats
    plan = [PartPlan(offset, min(chunk, filesize - offset)) for offset in range(0, filesize, chunk)]
    if len(plan) != n_urls:
        raise ValueError(
            f"{filesize} bytes over {n_urls} URLs in chunks of {chunk} fill only "
            f"{len(plan)} parts; Frame.io would not issue that many URLs"
        )
    return plan
