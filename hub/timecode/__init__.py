"""SMPTE timecode, and where the hub's timecode comes from.

- :mod:`.smpte`: frame rates, drop-frame labels, time of day as timecode and samples;
- :mod:`.ltc`: a thin binding of libltc (decode and encode SMPTE 12M linear timecode);
- :mod:`.ltc_input`: LTC read from one channel of a sub-device's audio, judged frame by frame;
- :mod:`.ptp`: the state of linuxptp (``ptp4l``/``phc2sys``) as ``pmc`` reports it;
- :mod:`.timeline`: the hub's timecode: its source (system clock, LTC, PTP), jam and free-run,
  the operator's offset, and each source's drift against it;
- :mod:`.record_run`: takes that follow the LTC (record-run).

``from c2c_hub.timecode import FrameRate, Timecode, TimecodeClock`` keeps working: this package
re-exports :mod:`.smpte`.
"""

from c2c_hub.timecode.smpte import (
    FPS_23_976,
    FPS_24,
    FPS_25,
    FPS_29_97,
    FPS_29_97_DF,
    FPS_30,
    FPS_48,
    FPS_50,
    FPS_59_94,
    FPS_59_94_DF,
    FPS_60,
    SECONDS_PER_DAY,
    FrameioRate,
    FrameioTimecode,
    FrameRate,
    NowClock,
    Timecode,
    TimecodeClock,
    to_frameio,
)

__all__ = [
    "FPS_23_976",
    "FPS_24",
    "FPS_25",
    "FPS_29_97",
    "FPS_29_97_DF",
    "FPS_30",
    "FPS_48",
    "FPS_50",
    "FPS_59_94",
    "FPS_59_94_DF",
    "FPS_60",
    "SECONDS_PER_DAY",
    "FrameRate",
    "FrameioRate",
    "FrameioTimecode",
    "NowClock",
    "Timecode",
    "TimecodeClock",
    "to_frameio",
]
