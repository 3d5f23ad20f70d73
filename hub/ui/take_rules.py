"""When a take may start, said once for every way of starting one (the control API, so the
CLI and the web page, and the terminal view's keys): not with no source attached, unless
forced, since such a take has no tracks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from c2c_hub.runtime import Hub

#: Why a take with nothing to record is refused (CLI, API, web page and terminal say it so).
NO_SOURCES = (
    "no source to record: no microphone or input is attached, so the take would have no "
    "tracks (see 'c2c-hub devices' and 'c2c-hub plugins'); start it anyway with force "
    "('c2c-hub record start --force', or {\"force\": true})"
)


def sources(hub: Hub) -> int:
    """Attached sub-devices that would each be a track of a take started now."""
    return sum(1 for attached in hub.devices if attached.kind.audio and attached.device.audio)
