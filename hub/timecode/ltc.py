"""A thin binding of libltc: decode (and, for tests and benchmarks, encode) SMPTE 12M LTC.

libltc (LGPL-3.0, Debian ``libltc11``) is loaded at run time in cffi's ABI mode: no compiler
is needed at install time, and the hub (MIT) links nothing statically. The declarations below
are copied from ``ltc.h`` 1.3.2 (little-endian layout); the struct sizes are checked against
those the C compiler gives (``LTCFrame`` 12, ``LTCFrameExt`` 368, ``SMPTETimecode`` 13 bytes),
so a mismatch fails loudly at load instead of corrupting memory.

- :class:`LtcDecoder` takes float32 blocks placed by sample position and yields
  :class:`LtcFrame` s: the label, the drop-frame bit, the 32 user bits, the direction (libltc
  reads LTC played backwards too), where the frame starts and ends in the stream, its level.
  Biphase-mark coding carries its bits in the transitions, so polarity does not matter; libltc
  reads 8-bit samples, so quiet LTC is first brought up by a gain that follows its peak, and
  the level does not matter either (from about -60 dBFS to full scale).
- :class:`LtcEncoder` writes LTC at a rate, from a label, forwards or backwards: what the tests
  and the benchmark feed the decoder (an encoder we did not write).

A machine without the library raises :class:`LtcUnavailable` with what to install.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from c2c_hub.errors import HubError
from c2c_hub.timecode.smpte import FrameRate, Timecode

LIBRARY = "libltc.so.11"

_CDEF = """
typedef unsigned char ltcsnd_sample_t;
typedef long long int ltc_off_t;
struct LTCFrame {
    unsigned int frame_units:4;
    unsigned int user1:4;
    unsigned int frame_tens:2;
    unsigned int dfbit:1;
    unsigned int col_frame:1;
    unsigned int user2:4;
    unsigned int secs_units:4;
    unsigned int user3:4;
    unsigned int secs_tens:3;
    unsigned int biphase_mark_phase_correction:1;
    unsigned int user4:4;
    unsigned int mins_units:4;
    unsigned int user5:4;
    unsigned int mins_tens:3;
    unsigned int binary_group_flag_bit0:1;
    unsigned int user6:4;
    unsigned int hours_units:4;
    unsigned int user7:4;
    unsigned int hours_tens:2;
    unsigned int binary_group_flag_bit1:1;
    unsigned int binary_group_flag_bit2:1;
    unsigned int user8:4;
    unsigned int sync_word:16;
};
typedef struct LTCFrame LTCFrame;
struct LTCFrameExt {
    LTCFrame ltc;
    ltc_off_t off_start;
    ltc_off_t off_end;
    int reverse;
    float biphase_tics[80];
    ltcsnd_sample_t sample_min;
    ltcsnd_sample_t sample_max;
    double volume;
};
typedef struct LTCFrameExt LTCFrameExt;
struct SMPTETimecode {
    char timezone[6];
    unsigned char years;
    unsigned char months;
    unsigned char days;
    unsigned char hours;
    unsigned char mins;
    unsigned char secs;
    unsigned char frame;
};
typedef struct SMPTETimecode SMPTETimecode;
typedef struct LTCDecoder LTCDecoder;
typedef struct LTCEncoder LTCEncoder;
enum LTC_TV_STANDARD { LTC_TV_525_60, LTC_TV_625_50, LTC_TV_1125_60, LTC_TV_FILM_24 };

LTCDecoder *ltc_decoder_create(int apv, int queue_size);
int ltc_decoder_free(LTCDecoder *d);
void ltc_decoder_write_float(LTCDecoder *d, float *buf, size_t size, ltc_off_t posinfo);
int ltc_decoder_read(LTCDecoder *d, LTCFrameExt *frame);
void ltc_decoder_queue_flush(LTCDecoder *d);
unsigned long ltc_frame_get_user_bits(LTCFrame *f);

LTCEncoder *ltc_encoder_create(double sample_rate, double fps, enum LTC_TV_STANDARD standard,
                               int flags);
void ltc_encoder_free(LTCEncoder *e);
void ltc_encoder_set_timecode(LTCEncoder *e, SMPTETimecode *t);
void ltc_encoder_set_user_bits(LTCEncoder *e, unsigned long data);
int ltc_encoder_inc_timecode(LTCEncoder *e);
int ltc_encoder_dec_timecode(LTCEncoder *e);
int ltc_encoder_set_volume(LTCEncoder *e, double dBFS);
void ltc_encoder_encode_frame(LTCEncoder *e);
void ltc_encoder_encode_reversed_frame(LTCEncoder *e);
int ltc_encoder_get_bufferptr(LTCEncoder *e, ltcsnd_sample_t **buf, int flush);
void ltc_encoder_get_frame(LTCEncoder *e, LTCFrame *f);
void ltc_encoder_set_frame(LTCEncoder *e, LTCFrame *f);
"""

# What the C compiler gives for ltc.h 1.3.2 on every ABI we run on (checked with gcc).
STRUCT_SIZES = {"LTCFrame": 12, "LTCFrameExt": 368, "SMPTETimecode": 13}

QUEUE = 64  # frames the decoder holds between reads (we read after every write)
CHUNK = 4096  # samples per write (the decoder's queue never overflows at any rate)
TARGET_PEAK = 0.5  # quiet LTC is brought up to this peak before libltc reads it
MAX_GAIN = 1000.0  # at most +60 dB
MIN_PEAK = 1e-5  # below this (-100 dBFS) it is silence, not LTC


class LtcUnavailable(HubError, RuntimeError):
    """libltc (or cffi) is not installed, or is not the version these declarations describe."""


_lock = threading.Lock()
_loaded: tuple[Any, Any] | None = None


def load() -> tuple[Any, Any]:
    """``(ffi, lib)``, loaded once; :class:`LtcUnavailable` says what is missing."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        try:
            import cffi  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - cffi is a dependency
            raise LtcUnavailable(f"LTC needs the Python package cffi: {exc}") from None
        ffi = cffi.FFI()
        ffi.cdef(_CDEF)
        try:
            lib = ffi.dlopen(LIBRARY)
        except OSError as exc:
            raise LtcUnavailable(
                f"LTC needs libltc ({LIBRARY}); install it (Debian/Ubuntu: apt install libltc11): "
                f"{exc}"
            ) from None
        for name, size in STRUCT_SIZES.items():
            if ffi.sizeof(name) != size:
                raise LtcUnavailable(
                    f"libltc's {name} is {size} bytes in C but {ffi.sizeof(name)} in our "
                    "declarations: this platform's layout differs; not loading"
                )
        _loaded = (ffi, lib)
        return _loaded


def available() -> bool:
    try:
        load()
    except LtcUnavailable:
        return False
    return True


def standard_of(rate: FrameRate) -> int:
    """libltc's TV standard for a rate (it sets the parity bit and the DF bit from it)."""
    if rate.nominal == 25:
        return 1  # LTC_TV_625_50
    if rate.nominal == 24:
        return 3  # LTC_TV_FILM_24
    return 0  # LTC_TV_525_60 (30, 29.97, 29.97 DF)


@dataclass(frozen=True)
class LtcFrame:
    """One decoded LTC frame.

    ``start``/``end`` are the stream positions (as passed to :meth:`LtcDecoder.write`) of the
    frame's first and last sample; for a frame played backwards (``reverse``) the frame's
    *first* bit is at ``end``. ``volume_dbfs`` is its peak level.
    """

    hours: int
    minutes: int
    seconds: int
    frame: int
    drop_frame: bool
    user_bits: int
    reverse: bool
    start: int
    end: int
    volume_dbfs: float
    color_frame: bool = False

    @property
    def label(self) -> str:
        sep = ";" if self.drop_frame else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frame:02d}"

    @property
    def valid(self) -> bool:
        """Fields that a real timecode can hold (noise can pass the sync word)."""
        return self.hours < 24 and self.minutes < 60 and self.seconds < 60 and self.frame < 30

    def timecode(self, rate: FrameRate) -> Timecode:
        """This label at ``rate``; ValueError if the label does not exist at that rate."""
        text = f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}"
        sep = ";" if rate.drop_frame else ":"
        return Timecode.from_string(f"{text}{sep}{self.frame:02d}", rate)

    def user_bits_hex(self) -> str:
        """The eight user-bit groups as hex digits, group 1 first (as recorders show them)."""
        return "".join(f"{(self.user_bits >> (4 * i)) & 0xF:X}" for i in range(8))


class LtcDecoder:
    """libltc's decoder over a stream of float32 samples placed by sample position.

    ``samples_per_frame`` is a first guess (sample rate / fps); libltc adapts to the real speed.
    Not thread-safe: one decoder per stream, fed from one thread.
    """

    def __init__(self, sample_rate: int, fps: float = 25.0) -> None:
        self.ffi, self.lib = load()
        self.sample_rate = sample_rate
        handle = self.lib.ltc_decoder_create(round(sample_rate / fps), QUEUE)
        if handle == self.ffi.NULL:
            raise LtcUnavailable("libltc could not create a decoder")
        self._decoder = self.ffi.gc(handle, self.lib.ltc_decoder_free)
        self._ext = self.ffi.new("LTCFrameExt *")
        self._peak = 0.0

    def write(self, samples: npt.NDArray[np.float32], position: int) -> list[LtcFrame]:
        """Feed ``samples`` (mono float32, -1..1) whose first is at ``position``; return the
        frames completed by them."""
        data = np.ascontiguousarray(samples, dtype=np.float32)
        if len(data):
            data = self._level(data)
        frames: list[LtcFrame] = []
        for at in range(0, len(data), CHUNK):
            chunk = data[at : at + CHUNK]
            pointer = self.ffi.cast("float *", self.ffi.from_buffer(chunk))
            self.lib.ltc_decoder_write_float(self._decoder, pointer, len(chunk), position + at)
            frames.extend(self._read())
        return frames

    def _level(self, data: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Bring quiet LTC up to a level libltc reads well.

        libltc reads 8-bit samples (it converts floats to 0..255), so LTC at -50 dBFS would be
        under one step. The gain follows the signal's peak (decaying over about half a second),
        so a quiet line level and a hot one decode alike; silence stays silence.
        """
        peak = float(np.max(np.abs(data)))
        decay = 0.5 ** (len(data) / (0.5 * self.sample_rate))
        self._peak = max(peak, self._peak * decay)
        if self._peak < MIN_PEAK:
            return data
        gain = min(TARGET_PEAK / self._peak, MAX_GAIN)
        if gain <= 1.0:
            return data
        return (data * np.float32(gain)).astype(np.float32)

    def _read(self) -> Iterator[LtcFrame]:
        ext, lib = self._ext, self.lib
        while lib.ltc_decoder_read(self._decoder, ext):
            f = ext.ltc
            yield LtcFrame(
                hours=f.hours_tens * 10 + f.hours_units,
                minutes=f.mins_tens * 10 + f.mins_units,
                seconds=f.secs_tens * 10 + f.secs_units,
                frame=f.frame_tens * 10 + f.frame_units,
                drop_frame=bool(f.dfbit),
                user_bits=int(lib.ltc_frame_get_user_bits(self.ffi.addressof(ext, "ltc"))),
                reverse=bool(ext.reverse),
                start=int(ext.off_start),
                end=int(ext.off_end),
                volume_dbfs=float(ext.volume),
                color_frame=bool(f.col_frame),
            )

    def reset(self) -> None:
        """Forget queued frames (after a discontinuity in the stream)."""
        self.lib.ltc_decoder_queue_flush(self._decoder)


class LtcEncoder:
    """libltc's encoder: LTC at ``rate`` from ``start``, as float32 samples in -1..1."""

    def __init__(
        self,
        sample_rate: int,
        rate: FrameRate,
        start: Timecode,
        *,
        level_dbfs: float = -18.0,
        user_bits: int = 0,
    ) -> None:
        self.ffi, self.lib = load()
        self.rate = rate
        handle = self.lib.ltc_encoder_create(float(sample_rate), rate.fps, standard_of(rate), 0)
        if handle == self.ffi.NULL:
            raise LtcUnavailable("libltc could not create an encoder")
        self._encoder = self.ffi.gc(handle, self.lib.ltc_encoder_free)
        self.lib.ltc_encoder_set_volume(self._encoder, level_dbfs)
        self.set_timecode(start)
        if user_bits:
            self.lib.ltc_encoder_set_user_bits(self._encoder, user_bits)
        self._buf = self.ffi.new("ltcsnd_sample_t **")

    def set_timecode(self, tc: Timecode) -> None:
        hh, mm, ss, ff = tc.fields()
        st = self.ffi.new("SMPTETimecode *")
        st.timezone = b"+0000"
        st.years, st.months, st.days = 0, 1, 1
        st.hours, st.mins, st.secs, st.frame = hh, mm, ss, ff
        self.lib.ltc_encoder_set_timecode(self._encoder, st)

    def frames(self, count: int, *, reverse: bool = False) -> npt.NDArray[np.float32]:
        """The next ``count`` frames (counting down when ``reverse``, each played backwards)."""
        parts: list[npt.NDArray[np.float32]] = []
        lib, enc = self.lib, self._encoder
        for _ in range(count):
            if reverse:
                lib.ltc_encoder_encode_reversed_frame(enc)
            else:
                lib.ltc_encoder_encode_frame(enc)
            n = lib.ltc_encoder_get_bufferptr(enc, self._buf, 1)
            raw = np.frombuffer(self.ffi.buffer(self._buf[0], n), dtype=np.uint8)
            parts.append(((raw.astype(np.float32) - 128.0) / 128.0).astype(np.float32))
            if reverse:
                lib.ltc_encoder_dec_timecode(enc)
            else:
                lib.ltc_encoder_inc_timecode(enc)
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(parts)


def samples_to_float(samples: npt.NDArray[Any], channel: int = 0) -> npt.NDArray[np.float32]:
    """One channel of a block (int32 left-justified, or float) as float32 in -1..1."""
    if samples.ndim == 2:
        samples = samples[:, channel]
    elif channel != 0:
        raise IndexError(f"channel {channel + 1}: the block is mono")
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    return (samples.astype(np.float32) * np.float32(1.0 / 2147483648.0)).astype(np.float32)


__all__ = [
    "LIBRARY",
    "LtcDecoder",
    "LtcEncoder",
    "LtcFrame",
    "LtcUnavailable",
    "available",
    "load",
    "samples_to_float",
    "standard_of",
]
