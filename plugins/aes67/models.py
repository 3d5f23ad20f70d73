"""Which device model a stream's channels are: the ``[discovery.sdp]`` rules of the device
model files (``hub/device_models.py``: ``SdpMatcher``), matched against the session
description and, for a RAVENNA session, its mDNS TXT record.

A model whose every rule matches is a candidate; the one with the most rules wins (a model for
one product beats a model for a vendor), then the first by name. No candidate: the plugin's
own *AES67 Audio Channel*. A new model is a new file, not code. Pure: no sockets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from c2c_hub import kit
from c2c_hub_plugins.aes67.sdp import MediaStream, Session


def matches(
    rules: kit.SdpMatcher, session: Session, media: MediaStream, txt: Mapping[str, str]
) -> bool:
    def search(pattern: str | None, *values: str | None) -> bool:
        if pattern is None:
            return True
        return any(v is not None and re.search(pattern, v, re.IGNORECASE) for v in values)

    return (
        search(rules.session_name, session.name)
        and search(rules.username, session.origin.username)
        and search(rules.info, session.info, media.info)
        and search(rules.tool, session.attribute("tool"))
        and (not rules.channels or media.channels in rules.channels)
        and all(txt.get(key) == value for key, value in rules.txt.items())
    )


def match_model(
    models: Iterable[kit.DeviceModel],
    session: Session,
    media: MediaStream,
    txt: Mapping[str, str] | None = None,
) -> kit.DeviceModel | None:
    """The most specific model whose ``[discovery.sdp]`` rules all match; None if none does."""
    found = [
        m
        for m in models
        if m.discovery.sdp is not None and matches(m.discovery.sdp, session, media, txt or {})
    ]
    if not found:
        return None
    return min(found, key=lambda m: (-(m.discovery.sdp.rules if m.discovery.sdp else 0), m.name))
