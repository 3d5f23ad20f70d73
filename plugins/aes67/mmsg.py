"""Many datagrams from one socket in one system call: Linux's ``recvmmsg(2)`` through ctypes.

A stream at 1 ms packets is 1,000 datagrams a second; one ``recvfrom`` each (and the event
loop's wake-up before it) was most of what the plugin cost. :class:`BatchReceiver` reads every
datagram queued on a socket into buffers allocated once (one row of ``rows`` each, its length
in ``lengths``, its sender's address in ``names``), without the GIL ever being released (the
call never blocks: ``MSG_DONTWAIT``), so the caller can work on a whole batch with numpy.

Where ``recvmmsg`` is not there (not Linux, or a libc without it), :func:`available` is false
and the caller keeps its one-``recvfrom``-a-packet loop.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0x40)
MSG_TRUNC = getattr(socket, "MSG_TRUNC", 0x20)
NAME_BYTES = 128  # sizeof(struct sockaddr_storage)
SO_TIMESTAMPNS = 35  # Linux's value (SCM_TIMESTAMPNS is the same); not in the socket module
CONTROL_BYTES = 64  # room for one cmsg of a struct timespec (CMSG_SPACE(16) is 32)


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _Msghdr), ("msg_len", ctypes.c_uint)]


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # PyDLL: the GIL is kept across the call. The call never blocks, and releasing the GIL
        # for a few microseconds a batch would hand it to a busy thread for up to its switch
        # interval (5 ms) before this one got it back.
        function = ctypes.PyDLL(None, use_errno=True).recvmmsg
    except (AttributeError, OSError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    return function


_recvmmsg = _load()


def available() -> bool:
    """Whether this system has ``recvmmsg`` (Linux)."""
    return _recvmmsg is not None


def _field(
    array: ctypes.Array[_Mmsghdr], offset: int, dtype: type[np.generic], count: int
) -> npt.NDArray[Any]:
    """One field of every ``struct mmsghdr`` in ``array``, as a strided numpy view."""
    return np.ndarray(
        shape=(count,),
        dtype=dtype,
        buffer=memoryview(array),
        offset=offset,
        strides=(ctypes.sizeof(_Mmsghdr),),
    )


class BatchReceiver:
    """Reads up to ``slots`` datagrams of up to ``slot_bytes`` each per :meth:`receive`.

    After ``k = receive()``: ``rows[i, :lengths[i]]`` is datagram ``i`` (``i < k``) in the
    order the socket queued them, ``truncated[i]`` says it was longer than ``slot_bytes`` (and
    cut short), ``names[i]`` holds its sender's ``struct sockaddr``, ``arrivals[i]`` when the
    kernel received it (``SO_TIMESTAMPNS``, seconds of ``time.time()``; NaN if it did not say):
    a batch read 20 ms after its first packet still knows how fast its packets came. The
    buffers are reused by the next call: copy what must outlive it.
    """

    def __init__(self, sock: socket.socket, slots: int = 64, slot_bytes: int = 9000) -> None:
        if _recvmmsg is None:
            raise OSError("recvmmsg is not available on this system")
        self.sock = sock
        self.slots, self.slot_bytes = slots, slot_bytes
        self.rows = np.zeros((slots, slot_bytes), dtype=np.uint8)
        self.names = np.zeros((slots, NAME_BYTES), dtype=np.uint8)
        self.control = np.zeros((slots, CONTROL_BYTES), dtype=np.uint8)
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            pass  # no arrival times: NaN
        self._iov = (_Iovec * slots)()
        self._msgs = (_Mmsghdr * slots)()
        rows_at, names_at = self.rows.ctypes.data, self.names.ctypes.data
        control_at = self.control.ctypes.data
        for i in range(slots):
            self._iov[i].iov_base = rows_at + i * slot_bytes
            self._iov[i].iov_len = slot_bytes
            header = self._msgs[i].msg_hdr
            header.msg_name = names_at + i * NAME_BYTES
            header.msg_namelen = NAME_BYTES
            header.msg_iov = ctypes.addressof(self._iov[i])
            header.msg_iovlen = 1
            header.msg_control = control_at + i * CONTROL_BYTES
            header.msg_controllen = CONTROL_BYTES
        hdr = _Mmsghdr.msg_hdr.offset
        self._flags = _field(self._msgs, hdr + _Msghdr.msg_flags.offset, np.int32, slots)
        self._lengths = _field(self._msgs, _Mmsghdr.msg_len.offset, np.uint32, slots)
        self._controllen = _field(self._msgs, hdr + _Msghdr.msg_controllen.offset, np.uintp, slots)
        # struct cmsghdr: size_t cmsg_len; int cmsg_level; int cmsg_type; then the timespec
        self._seconds = self.control[:, 16:24].view(np.int64).reshape(slots)
        self._nanoseconds = self.control[:, 24:32].view(np.int64).reshape(slots)
        self.arrivals: npt.NDArray[np.float64] = np.zeros(0)
        self._address = ctypes.addressof(self._msgs)
        self.lengths: npt.NDArray[np.uint32] = np.zeros(0, dtype=np.uint32)
        self.truncated: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def receive(self) -> int:
        """The datagrams queued now (at most ``slots``); 0 when there are none. Raises
        :class:`OSError` for what a ``recvfrom`` would raise (a closed socket ...)."""
        assert _recvmmsg is not None
        # (the kernel sets each msg_namelen to its address's size: one family per socket, so
        # the size given at the start stays large enough; not so msg_controllen)
        self._controllen[:] = CONTROL_BYTES
        while True:
            count = int(
                _recvmmsg(self.sock.fileno(), self._address, self.slots, MSG_DONTWAIT, None)
            )
            if count >= 0:
                break
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EWOULDBLOCK):
                count = 0
                break
            if code != errno.EINTR:
                raise OSError(code, f"recvmmsg: {errno.errorcode.get(code, code)}")
        self.lengths = self._lengths[:count]
        self.truncated = (self._flags[:count] & MSG_TRUNC) != 0
        # (one control message is asked for: where there is one, it is the timestamp)
        stamped = self._controllen[:count] >= 32
        arrivals = self._seconds[:count] + self._nanoseconds[:count] * 1e-9
        self.arrivals = np.where(stamped, arrivals, np.nan)
        return count

    def senders(self, count: int) -> tuple[list[str], npt.NDArray[np.intp]]:
        """Who sent the first ``count`` datagrams: each distinct sender address as text, and
        for each datagram the index of its sender in that list."""
        if self.sock.family == socket.AF_INET6:
            raw = np.ascontiguousarray(self.names[:count, 8:24])
            family = socket.AF_INET6
        else:
            raw = np.ascontiguousarray(self.names[:count, 4:8])
            family = socket.AF_INET
        keys = raw.view(np.dtype((np.void, raw.shape[1]))).reshape(count)
        unique, inverse = np.unique(keys, return_inverse=True)
        return [socket.inet_ntop(family, bytes(item)) for item in unique], inverse.reshape(-1)


__all__ = ["BatchReceiver", "available"]
