"""``make bench``: every benchmark, each printing a human summary and a JSON line.

- the emulator's part sink over HTTPS (:mod:`bench.part_sink`);
- presence: a dropped socket to a rejoined channel (:mod:`bench.presence`);
- the session: token expiry to a refreshed session (:mod:`bench.session`).
"""

import json
import sys

from bench import part_sink, presence, session

status = part_sink.main(sys.argv[1:])
print()
print("presence: drop -> rejoin (20 drops, default backoff)")
print(json.dumps({"bench": "presence", **presence.run(20)}))
print()
print("session: token expiry -> refreshed call (20 rounds)")
print(json.dumps({"bench": "session", **session.run(20)}))
raise SystemExit(status)
