"""``make bench``: every benchmark, each printing a human summary and a JSON line.

- the emulator's part sink over HTTPS (:mod:`bench.part_sink`);
- presence: a dropped socket to a rejoined channel (:mod:`bench.presence`);
- the session: token expiry to a refreshed session (:mod:`bench.session`);
- sub-devices: announcement to channel, press to 204 (:mod:`bench.subdevices`);
- presses made durable per second, flat out and paced (:mod:`bench.presses`);
- chaos: the uploader SIGKILLed 100 times, mostly after acknowledged parts (:mod:`bench.chaos`);
- hub chaos: ``c2c-hub run`` SIGKILLed 100 times mid-take, mid-burst, after acknowledged parts
  (:mod:`bench.hub_chaos`);
- soak: one hub for minutes of real time and days of Frame.io's, its footprint sampled
  (:mod:`bench.soak`; ``--soak-seconds S``, 300 by default, 120 with ``--quick``);
- the packet-level link emulator checked against a raw TCP flow, and one CUBIC against one BBR
  flow on the lossy link (:mod:`bench.netlink`);
- part streams on the packet link: the controller (TCP_INFO against the throughput hill-climb)
  driving CUBIC flows, streams over time, lossy and clean; raw TCP's ceiling for a 256 MiB
  upload on the clean links (:mod:`bench.streams`; 30 s a run with ``--quick``, else 60 s);
- the uploader against Frame.io's own, through the link simulator and the packet-level link
  (lossy: 50 Mbit/s, 80 ms RTT, 0.5 % loss; clean: 50 and 200 Mbit/s at 40 ms)
  (:mod:`bench.uploader`);
- clean shaped links (50 and 200 Mbit/s, 40 ms RTT): the hub's part plans against raw TCP and a
  raw streaming PUT, and where the time goes (start, slow start, the drain; :mod:`bench.drain`;
  a 128 MiB file with ``--quick``, else 256 MiB);
- the upload queue at 10,000 files: enqueue rate, status time (:mod:`bench.queue_scale`);
- a part's state in the upload queue: trips to SQLite's thread and CPU per part, beside one
  plain durable statement (:mod:`bench.part_state`);
- AES67: receive CPU of 8 streams of 1 and of 8 channels at 1 ms packets, a packet at a time
  and in batches, alternately (:func:`bench.aes67.compare`); a stream's first
  announcement to its 8 channels connected at the emulator; samples misplaced under 1 % packet
  loss (:mod:`bench.aes67`);
- the recorder's own inputs: 16 JACK inputs for a take on a realtime server and on one not, xruns,
  the hub's and its capture process's CPU (:mod:`bench.jack_inputs`;
  a 60 s take, 10 minutes with ``--long``); what the ring's eventfds add to the capture's
  process callback a period (:mod:`bench.jack_ring`).
- the mix: take stop to the mix proxy acknowledged at 10 Mbit/s, 80 ms RTT (a 60 s take, and
  a 10-minute one with ``--long``); proxy encode speed (:mod:`bench.mix`);
- the track writer: CPU per second of audio for a take's 26 WAV files (24 ISOs, the mix, the
  poly file), the hub's writer against the libsndfile writer it replaced, at 1 ms, JACK-period
  and 100 ms blocks (:mod:`bench.wavwrite`);
- the whole recorder: 16 JACK inputs + 8 AES67 microphones + mix + poly + proxies, paired and
  uploading, xruns and the hub's CPU (:mod:`bench.recorder`; a 10-minute take, 60 s with
  ``--quick``);
- LTC: decode speed (times real time) and CPU, libltc alone and the hub's path (:mod:`bench.ltc`);
- network switches through NetworkManager (a mock): off Frame.io per switch (:mod:`bench.network`);
- the command line's start: ``c2c-hub --version`` and ``--help`` (:mod:`bench.cli_start`);
- ``make demo``'s wall and CPU time with its two local inputs (a private JACK server) and
  without, alternately (:mod:`bench.demo`).

``python -m bench --quick`` is the fast path (smaller files, a 60 s real-time take, fewer
rounds); ``--soak-seconds S`` sets the soak's real time; every other option goes to the part
sink benchmark (``--total-mib``, ``--repeat`` ...).
"""

import json
import sys

from bench import (
    aes67,
    chaos,
    cli_start,
    demo,
    drain,
    hub_chaos,
    jack_inputs,
    jack_ring,
    ltc,
    mix,
    netlink,
    network,
    part_sink,
    part_state,
    presence,
    presses,
    queue_scale,
    recorder,
    session,
    soak,
    streams,
    subdevices,
    uploader,
    wavwrite,
)

argv = sys.argv[1:]
quick = "--quick" in argv
long_take = "--long" in argv
argv = [arg for arg in argv if arg not in ("--quick", "--long")]
soak_seconds = 120.0 if quick else 300.0
if "--soak-seconds" in argv:
    at = argv.index("--soak-seconds")
    soak_seconds = float(argv[at + 1])
    del argv[at : at + 2]
if quick:
    argv = ["--total-mib", "256", "--repeat", "1", *argv]  # later options win
rounds = 5 if quick else 20

status = part_sink.main(argv)
print()
print(f"presence: drop -> rejoin ({rounds} drops, default backoff)")
print(json.dumps({"bench": "presence", **presence.run(rounds)}))
print()
print(f"session: token expiry -> refreshed call ({rounds} rounds)")
print(json.dumps({"bench": "session", **session.run(rounds)}))
print()
print(f"sub-devices: mic announcement -> channel ({rounds // 2} mics), press -> 204 (100 presses)")
print(json.dumps({"bench": "subdevices", **subdevices.run(rounds // 2, 100)}))
print()
print("presses: durable presses/s (group commit), flat out and paced at 5,000/s")
print(json.dumps({"bench": "presses", **presses.run(5_000 if quick else 20_000)}))
print()
print(f"network: switch -> socket rejoined, wrong PSK -> restored ({rounds} rounds)")
print(json.dumps({"bench": "network", **network.run(rounds)}))
print()
kills = 20 if quick else 100
print(f"chaos: the uploader SIGKILLed {kills} times, restarted each time")
outcome = chaos.run(kills, files=8 if quick else 30)
print(json.dumps({"bench": "chaos", **outcome}))
print()
print("netlink: the packet-level link against a raw TCP flow (aim >= 95 % at 0 loss)")
for item in netlink.run(5.0 if quick else 10.0):
    print(json.dumps(item))
print()
print("streams: the part-stream controller on CUBIC flows (lossy: climbs; clean: holds), ceiling")
streams.main(["--seconds", "30" if quick else "60"])
print()
status = uploader.main(["--quick"] if quick else []) or status
print()
print("drain: clean shaped links, the hub against raw TCP, where the time goes (aim >= 99 %)")
drain.main(["--size-mib", "128" if quick else "256"])
print()
print("queue scale: 10,000 files enqueued (aim >= 5,000/s), status of the queue (aim <= 20 ms)")
print(json.dumps({"bench": "queue_scale", **queue_scale.run()}))
print()
print("part state: a part's sending + acked in the queue, per part (beside one durable statement)")
print(json.dumps({"bench": "part_state", **part_state.run(rounds=3 if quick else 9)}))
status = status or (0 if outcome["ok"] else 1)
print()
hub_kills = 20 if quick else 100
print(f"hub chaos: c2c-hub run SIGKILLed {hub_kills} times mid-take, mid-burst, after acked parts")
hub_outcome = hub_chaos.run(hub_kills)
print(json.dumps({"bench": "hub_chaos", **hub_outcome}))
status = status or (0 if hub_outcome["ok"] else 1)
print()
print(f"soak: one hub for {soak_seconds:.0f} s, 12 h of Frame.io's time a cycle")
soaked = soak.run(soak_seconds)
print(json.dumps({"bench": "soak", **soaked}))
status = status or (0 if soaked["ok"] else 1)
print()
print("aes67: receive CPU, 8 streams of 1 and of 8 channels, 1 ms packets: per packet, in batches")
for item in aes67.compare(seconds=5.0 if quick else 10.0, rounds=1 if quick else 3):
    print(json.dumps({"bench": "aes67.cpu", **item}))
print("aes67: first announcement -> 8 channels connected at the emulator")
print(json.dumps({"bench": "aes67.announce", **aes67.announce(rounds=3 if quick else 10)}))
print("aes67: 1 % packet loss, 8 channels")
print(json.dumps({"bench": "aes67.loss", **aes67.loss(seconds=5.0 if quick else 20.0)}))
print()
take_s = 600.0 if long_take else 60.0
print(f"jack inputs: 16 JACK inputs, a {take_s:g} s take, realtime and not (xruns, CPU)")
jacked = jack_inputs.run(seconds=take_s)
print(json.dumps({"bench": "jack_inputs", **jacked}))
status = status or (0 if jacked["ok"] else 1)
print("jack ring: the eventfds' cost a period in the capture's callback (16 inputs x 256 frames)")
print(json.dumps({"bench": "jack_ring", **jack_ring.run(repeats=3 if quick else 7)}))
print("mix: take stop -> mix proxy acknowledged (10 Mbit/s, 80 ms RTT); proxy encode speed")
mix_long = 600.0 if long_take else None
print(json.dumps({"bench": "mix", **mix.run(20.0 if quick else 60.0, long_seconds=mix_long)}))
print()
written = wavwrite.run(seconds=5.0 if quick else 10.0, rounds=3 if quick else 5)
print("\n".join(wavwrite.summary(written)))
print(json.dumps({"bench": "wavwrite", **written}))
print()
whole_s = 60.0 if quick and not long_take else 600.0
print(
    f"recorder: 16 JACK inputs + 8 AES67 microphones + mix + poly + proxies, a {whole_s:g} s "
    "take uploaded over loopback (xruns aim 0, hub CPU aim <= 50 % of one core)"
)
whole = recorder.run(seconds=whole_s)
print("\n".join(recorder.summary(whole)))
print(json.dumps({"bench": "recorder", **whole}))
status = status or (0 if whole["ok"] else 1)
print("ltc: decode LTC from libltc's encoder, 10 ms and 1 ms blocks")
decoded = ltc.run(seconds=20.0 if quick else 60.0)
print(json.dumps({"bench": "ltc", **decoded}))
status = status or (0 if decoded["ok"] else 1)
print()
print("cli start: c2c-hub --version and --help as fresh processes (aim < 0.3 s)")
for line in cli_start.run(5 if quick else 20):
    print(json.dumps(line))
print()
demo_rounds = 1 if quick else 3
print(f"demo: make demo with its local inputs and without, alternately ({demo_rounds} each)")
demoed = demo.run(rounds=demo_rounds)
print(json.dumps({"bench": "demo", **{k: v for k, v in demoed.items() if k != "runs"}}))
status = status or (0 if demoed["ok"] else 1)
raise SystemExit(status)
