"""The name of a track file."""

from __future__ import annotations

import re
import unicodedata


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def track_filename(
    scene: str, take: int | str, index: int, track_name: str, ext: str = ".wav"
) -> str:
    """``S<scene>_T<take>_<index>_<name><ext>``, e.g. ``S12A_T003_02_Boom.wav``.

    - scene: letters and digits kept (accents dropped), every other run becomes ``-``; empty
      gives ``S``;
    - take: a number, zero-padded to 3 digits (``T003``; ``T1234`` past 999); a take that is not
      a number (``"3A"``) is sanitized like the scene;
    - index: the recorder's track number, zero-padded to 2 digits;
    - name: ``[A-Za-z0-9_-]`` kept, every other run becomes ``_``, at most 64 characters; an
      empty name leaves ``S12A_T003_02.wav``.
    """
    if index < 0:
        raise ValueError(f"track index: must not be negative, got {index}")
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,8}", ext):
        raise ValueError(f"extension: expected e.g. '.wav', got {ext!r}")
    scene_part = re.sub(r"[^A-Za-z0-9]+", "-", _plain(scene)).strip("-")[:32]
    take_text = str(take).strip()
    if take_text.isdigit():
        take_part = f"{int(take_text):03d}"
    elif isinstance(take, int):
        raise ValueError(f"take: must not be negative, got {take}")
    else:
        take_part = re.sub(r"[^A-Za-z0-9]+", "-", _plain(take_text)).strip("-")[:16] or "000"
    name_part = re.sub(r"[^A-Za-z0-9_-]+", "_", _plain(track_name)).strip("_-")[:64]
    name = f"S{scene_part}_T{take_part}_{index:02d}"
    if name_part:
        name += f"_{name_part}"
    return name + ext
