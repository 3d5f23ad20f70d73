"""``python -m bench``: the emulator's part-sink throughput (see :mod:`bench.part_sink`)."""

from bench.part_sink import main

raise SystemExit(main())
