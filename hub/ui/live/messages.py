"""The hub's recent warnings, as the screen captured them (already redacted)."""

from __future__ import annotations

import logging

from rich.text import Text

from c2c_hub.ui.live.format import Status, clean, local_time
from c2c_hub.ui.live.layout import Section, one_line


def messages_section(status: Status) -> Section | None:
    messages = status.get("messages")
    if not messages:
        return None
    section = Section(Text.assemble(("Hub messages ", "bold")))
    for message in reversed(messages):
        style = "red" if message.get("level", 0) >= logging.ERROR else "yellow"
        section.rows.append(
            one_line(
                (f"  {local_time(float(message['at']))} ", "dim"), (clean(message["text"]), style)
            )
        )
    return section
