"""``python -m c2c_hub.uploader``: the standalone uploader (:mod:`c2c_hub.uploader.standalone`).

Only what this process uses is imported, and only once the arguments are read. httpx's package
imports its own command line (click, rich, pygments: about 40 % of httpx's import time) whenever
they are installed; nothing here runs it, so it is marked absent before httpx is first imported,
and httpx falls back to its stub ``main`` (``pip install httpx[cli]``). A test
(``tests/uploader/test_startup.py``) keeps heavy modules the uploader does not use out of this
process.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from c2c_hub.uploader.standalone import main as standalone

    standalone(argv)


if __name__ == "__main__":
    main()
