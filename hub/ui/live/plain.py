"""The plain-lines fallback: one line per meaningful change, for logs and dumb terminals."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from c2c_hub.ui.live.format import (
    FINAL_PAIRING_STEPS,
    PAIRED_STATES,
    Status,
    clean,
    duration_text,
    local_time,
    size_text,
    spaced_code,
)


class PlainLog:
    """One line per meaningful change, for logs and dumb terminals (never an escape).

    Feed it snapshots (:meth:`observe`) and the uploader's events (:meth:`event`); each
    returns the lines it wrote (to ``write``, one call per line).
    """

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or (lambda line: print(line, flush=True))
        self._first = True
        self._code: tuple[Any, ...] | None = None
        self._flow_end: tuple[Any, ...] | None = None
        self._paired: tuple[Any, ...] | None = None
        self._socket: str | None = None
        self._paused: bool | None = None
        self._upload_pause: str | None = None
        self._network: tuple[Any, ...] | None = None
        self._channels: dict[str, tuple[Any, ...]] = {}
        self._presses: dict[Any, str] = {}
        self._take: tuple[Any, ...] | None = None

    def _emit(self, now: float, lines: Iterable[str]) -> list[str]:
        out = [f"{local_time(now)} {clean(line)}" for line in lines]
        for line in out:
            self.write(line)
        return out

    def observe(self, status: Status, now: float) -> list[str]:
        lines: list[str] = []
        lines += self._pairing(status, now)
        lines += self._socket_lines(status)
        lines += self._pause_lines(status)
        lines += self._network_lines(status)
        lines += self._channel_lines(status)
        lines += self._take_lines(status)
        lines += self._press_lines(status)
        self._first = False
        return self._emit(now, lines)

    def event(self, event: Mapping[str, Any], now: float | None = None) -> list[str]:
        """An uploader event: a file done, failed, corrupt, skipped or cancelled."""
        if event.get("type") != "file":
            return []
        name, state, reason = event.get("name"), event.get("state"), event.get("reason")
        size = event.get("size")
        line = {
            "done": f"uploaded {name}" + (f" ({size_text(size)})" if size else ""),
            "failed": f"upload failed: {name}: {reason}",
            "corrupt": f"upload failed (corrupt file): {name}: {reason}",
            "skipped_paused": f"upload skipped (device paused in Frame.io): {name}",
            "cancelled": f"upload cancelled: {name}",
        }.get(str(state))
        if line is None:
            return []
        at = now if now is not None else float(event.get("at") or time.time())
        return self._emit(at, [line])

    # -- the parts
    def _pairing(self, status: Status, now: float) -> list[str]:
        out: list[str] = []
        pairing = status.get("pairing") or {}
        flow = status.get("pairing_flow") or {}
        state = pairing.get("state")
        code = flow.get("user_code")
        step = flow.get("step")
        if code and state not in PAIRED_STATES and step not in FINAL_PAIRING_STEPS:
            key = (code, flow.get("verification_uri"))
            if key != self._code:
                self._code = key
                where = flow.get("verification_uri")
                line = f"pairing code {spaced_code(str(code))}: enter it at {where}"
                if flow.get("verification_uri_complete"):
                    line += f" (or open {flow['verification_uri_complete']})"
                if flow.get("expires_at") is not None:
                    line += f"; expires in {duration_text(float(flow['expires_at']) - now)}"
                out.append(line)
        if step in ("denied", "failed", "cancelled") and not flow.get("running"):
            key = (step, flow.get("message"))
            if key != self._flow_end:
                self._flow_end = key
                out.append(
                    f"pairing {step}" + (f": {flow['message']}" if flow.get("message") else "")
                )
        paired = (state, pairing.get("project_id"), pairing.get("project_name"))
        if paired != self._paired:
            before = self._paired
            self._paired = paired
            if state in PAIRED_STATES:
                if before is not None and before[0] in PAIRED_STATES and before[1] == paired[1]:
                    if before[2] != paired[2]:
                        out.append(f"project renamed: {paired[2]} ({paired[1]})")
                else:
                    line = f"paired with project {paired[2]} ({paired[1]})"
                    if pairing.get("authorized_by"):
                        line += f", authorized by {pairing['authorized_by']}"
                    out.append(line)
                    self._code = None
            elif state == "needs_pairing":
                reason = pairing.get("reason") or pairing.get("last_error")
                out.append("needs pairing" + (f": {reason}" if reason else ""))
            elif state == "unpaired":
                out.append(
                    ("not paired" if before is None else "unpaired")
                    + ": pair with 'c2c-hub pair' or the control API's web page"
                )
        return out

    def _socket_lines(self, status: Status) -> list[str]:
        socket = status.get("socket") or {}
        state = socket.get("state")
        before, self._socket = self._socket, state
        if state == before:
            return []
        if state == "joined":
            return ["socket joined"]
        if before == "joined":
            error = socket.get("last_error")
            return [f"socket lost ({state})" + (f": {error}" if error else "")]
        return []

    def _pause_lines(self, status: Status) -> list[str]:
        out = []
        paused = status.get("paused")
        if paused is not None and bool(paused) != bool(self._paused):
            out.append("Frame.io paused this device" if paused else "Frame.io resumed this device")
        if paused is not None:
            self._paused = bool(paused)
        reason = (status.get("uploads") or {}).get("paused_reason")
        if reason != self._upload_pause:
            out.append(f"uploads paused: {reason}" if reason else "uploads resumed")
            self._upload_pause = reason
        return out

    def _network_lines(self, status: Status) -> list[str]:
        net = status.get("network") or {}
        link = net.get("link") or {}
        nets = status.get("networks") or {}
        using = nets.get("in_use") or {}
        health = nets.get("health") or {}
        key = (
            link.get("interface"),
            link.get("kind"),
            link.get("up"),
            net.get("frameio_reachable"),
            using.get("uuid") or using.get("name"),
            health.get("verdict"),
        )
        if key == self._network:
            return []
        self._network = key
        if nets:
            where = using.get("ssid") or using.get("name") or "no connection"
            line = f"network: {where} ({using.get('kind') or '-'})"
            if health:
                line += f"; {health.get('verdict')}: {health.get('reason')}"
            return [line]
        line = (
            f"network: {link.get('interface') or 'no route'} ({link.get('kind')}, "
            f"{'up' if link.get('up') else 'down'})"
        )
        reach = net.get("frameio_reachable")
        if reach:
            rtt = net.get("health_rtt_ms")
            line += "; Frame.io reachable" + (f" ({float(rtt):.0f} ms)" if rtt is not None else "")
        elif reach is False:
            line += f"; Frame.io UNREACHABLE: {net.get('last_error')}"
        return [line]

    def _channel_lines(self, status: Status) -> list[str]:
        out = []
        channels = (status.get("channels") or {}).get("channels") or []
        now: dict[str, tuple[Any, ...]] = {}
        for link in channels:
            serial = str(link.get("serial"))
            key = (link.get("state"), link.get("external_index"), link.get("name"))
            now[serial] = key
            if self._channels.get(serial, (None,))[:2] == key[:2]:
                continue
            who = f"{link.get('name')} ({serial})"
            if key[0] == "connected":
                out.append(f"channel connected: {who}, index {key[1]}")
            elif key[0] == "refused":
                out.append(f"channel refused: {who}: {link.get('error')}")
        for serial, key in self._channels.items():
            if serial not in now:
                out.append(f"channel disconnected: {key[2]} ({serial})")
        self._channels = now
        return out

    def _take_lines(self, status: Status) -> list[str]:
        recorder = status.get("recorder") or {}
        take = recorder.get("take")
        key = (take.get("scene"), take.get("take")) if take else None
        if key == self._take:
            return []
        out = []
        before, self._take = self._take, key
        if before is not None:
            last = recorder.get("last_take") or {}
            line = f"take stopped: scene {before[0]} take {before[1]}"
            if (last.get("scene"), last.get("take")) == before:
                tracks = last.get("tracks") or []
                dropouts = sum(int(t.get("dropouts") or 0) for t in tracks)
                if last.get("seconds") is not None:
                    line += f", {float(last['seconds']):.2f} s"
                line += f", {len(tracks)} tracks, {dropouts} dropouts"
                if last.get("failure"):
                    line += f"; it stopped by itself: {last['failure']}"
            out.append(line)
        if take:
            tracks = take.get("tracks") or []
            out.append(
                f"take started: scene {take.get('scene')} take {take.get('take')} at "
                f"{take.get('start_timecode')}, {len(tracks)} tracks"
            )
        return out

    def _press_lines(self, status: Status) -> list[str]:
        out = []
        recent = (status.get("presses") or {}).get("recent") or []
        seen: dict[Any, str] = {}
        for press in recent:
            pid, state = press.get("id"), str(press.get("state"))
            seen[pid] = state
            if self._first or self._presses.get(pid) == state:
                continue
            what = (
                f"{press.get('device')} ({press.get('serial')}) '{press.get('input')}' "
                f"at {press.get('timecode')}"
            )
            if state == "sent":
                latency = press.get("latency_s")
                extra = "" if latency is None else f" ({float(latency) * 1000:.0f} ms)"
                out.append(f"press sent: {what}{extra}")
            elif state in ("unconfirmed", "failed"):
                error = press.get("last_error")
                out.append(f"press {state}: {what}" + (f": {error}" if error else ""))
        self._presses = seen
        return out
