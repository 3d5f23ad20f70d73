"""The recorder: takes (one BWF track per microphone, uploaded as it grows) and the track files.

Timecode lives beside it in :mod:`c2c_hub.timecode`, since settings, presses and the recorder all
read it.
"""

from c2c_hub.recorder.wav import (
    BwfWriter,
    TrackAssembler,
    TrackInfo,
    TrackMetadata,
    WavFormatError,
    read_track_metadata,
    track_filename,
)

__all__ = [
    "BwfWriter",
    "TrackAssembler",
    "TrackInfo",
    "TrackMetadata",
    "WavFormatError",
    "read_track_metadata",
    "track_filename",
]
