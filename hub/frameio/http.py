"""Building the one ``httpx.AsyncClient`` the hub talks to Frame.io (and S3) with."""

from __future__ import annotations

import ssl

import httpx

from c2c_hub.frameio.congestion import CongestionControl
from c2c_hub.frameio.urls import HttpsOnlyTransport
from c2c_hub.settings import FrameioSettings


def make_ssl_context(settings: FrameioSettings) -> ssl.SSLContext:
    """The system trust store, plus ``settings.ca_file`` (the emulator's CA) when set."""
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    return context


def make_http_client(
    settings: FrameioSettings, congestion: CongestionControl | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for :class:`~c2c_hub.frameio.client.FrameioClient`.

    - TLS verified against the system store, and also ``settings.ca_file`` when set;
    - ``settings.timeout_s`` per request;
    - redirects not followed (the Frame.io client refuses them, see its docs);
    - every request, whoever sends it, refused unless its URL is https://;
    - direct connections only: ``HTTPS_PROXY``, ``ALL_PROXY``, ``.netrc`` and the like in the
      environment are ignored (``trust_env=False``), so no intermediary sits between the hub and
      Frame.io;
    - ``congestion``: every connection set to its TCP congestion control (BBR where the kernel
      offers it, see :mod:`c2c_hub.frameio.congestion`); None leaves the system default.

    The caller owns it: ``await http.aclose()`` (or ``async with``) when done.
    """
    options = congestion.socket_options() if congestion is not None else []
    inner = httpx.AsyncHTTPTransport(
        verify=make_ssl_context(settings), socket_options=options or None
    )
    return httpx.AsyncClient(
        transport=HttpsOnlyTransport(inner),
        timeout=httpx.Timeout(settings.timeout_s),
        follow_redirects=False,
        trust_env=False,
    )
