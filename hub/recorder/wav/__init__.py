"""Broadcast WAV tracks written so that the real-time uploader can follow them as they grow.

The uploader sends a recording in 5 MiB parts while it is written and holds part 1 back until the
file is closed. So the layout is fixed when the file is opened: the header (``RIFF``, ``JUNK``,
``fmt``, ``bext``, ``iXML``, ``data``; a few KiB) is written once, samples are only ever appended
after it, and the only bytes that change later are the size fields in the header (the RIFF and
data sizes, updated at every :meth:`BwfWriter.flush` and at :meth:`BwfWriter.close`). A take over
4 GiB becomes RF64 at the same places (``RIFF`` → ``RF64``, the reserved ``JUNK`` → ``ds64``).
See docs/recording-files.md.

- :class:`BwfWriter` writes one file; it packs the samples to PCM itself (numpy, the bytes
  libsndfile wrote) and writes them with ``os.write``.
- :class:`TrackAssembler` places blocks by sample position: gaps become silence, late or repeated
  samples are dropped, and :meth:`TrackAssembler.finish` makes the take exactly its length.
- :func:`read_track_metadata` reads fmt, bext and iXML back (stdlib only).
- :func:`track_filename` names a track file.

Blocking I/O throughout: the hub runs these in a worker thread.

One module per part: :mod:`~c2c_hub.recorder.wav.info` (:class:`TrackInfo`, the format's
constants, :class:`WavFormatError`), :mod:`~c2c_hub.recorder.wav.header` (the header and where
its sizes go), :mod:`~c2c_hub.recorder.wav.writer`, :mod:`~c2c_hub.recorder.wav.assembler`,
:mod:`~c2c_hub.recorder.wav.reader` and :mod:`~c2c_hub.recorder.wav.names`; everything is
imported from here.
"""

from c2c_hub.recorder.wav.assembler import TrackAssembler
from c2c_hub.recorder.wav.header import coding_history, ixml_document
from c2c_hub.recorder.wav.info import (
    ORIGINATOR,
    TRACK_MODE,
    WAVE_FORMAT_EXTENSIBLE,
    WAVE_FORMAT_PCM,
    Samples,
    TrackInfo,
    WavFormatError,
)
from c2c_hub.recorder.wav.names import track_filename
from c2c_hub.recorder.wav.reader import BextInfo, IxmlInfo, TrackMetadata, read_track_metadata
from c2c_hub.recorder.wav.writer import BwfWriter

__all__ = [
    "ORIGINATOR",
    "TRACK_MODE",
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_PCM",
    "BextInfo",
    "BwfWriter",
    "IxmlInfo",
    "Samples",
    "TrackAssembler",
    "TrackInfo",
    "TrackMetadata",
    "WavFormatError",
    "coding_history",
    "ixml_document",
    "read_track_metadata",
    "track_filename",
]
