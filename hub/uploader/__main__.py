"""``python -m c2c_hub.uploader``: the standalone uploader (:mod:`c2c_hub.uploader.standalone`).

Only what this process uses is imported, and only once the arguments are read. httpx's package
imports its own command line (click, rich, pygments: about 40 % of httpx's import time) whenever
they are installed; nothing here runs it, so it is marked absent before httpx is first imported,
and httpx falls back to its stub ``main`` (``pip install httpx[cli]``); pydantic is told not
to look for plugins; the cyclic garbage collector waits until the uploader has started. A test
(``tests/uploader/test_startup.py``) keeps heavy modules the uploader does not use out of this
process.
"""

from __future__ import annotations

import gc
import os
import sys


def main(argv: list[str] | None = None) -> None:
    # Start-up allocates ~400 modules' objects and almost no garbage, yet the cyclic collector
    # would run dozens of times and traverse them all; it is off until the uploader has
    # started (standalone re-enables it, after freezing what start-up built).
    gc.disable()
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    # No pydantic plugin is part of this process; looking for them reads the entry points of
    # every installed distribution (~0.04 s). A value set by the user is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from c2c_hub.uploader.standalone import main as standalone

    standalone(argv)


if __name__ == "__main__":
    main()
