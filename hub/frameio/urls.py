"""The https-only rule: a URL that is not https:// is refused before a byte is sent.

See docs/rulings.md#https-only.

:func:`require_https` is called on every URL the client is about to request, and by
:class:`HttpsOnlyTransport` on every request an ``httpx.AsyncClient`` built by
:func:`~c2c_hub.frameio.http.make_http_client` sends (so the uploader's part PUTs are guarded too).
Redirects are never followed; see :mod:`c2c_hub.frameio.client`.
"""

from __future__ import annotations

import httpx

from c2c_hub.frameio.errors import InsecureURLError


def display_url(url: httpx.URL | str) -> str:
    """``url`` without query and fragment, which may carry a token (e.g. the websocket URL)."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL:
        return "<unparseable URL>"
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def require_https(url: httpx.URL | str, *, what: str = "URL") -> httpx.URL:
    """``url`` parsed, if it is an absolute https:// URL with a host; else InsecureURLError."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
    except httpx.InvalidURL:
        raise InsecureURLError(
            f"refusing {what}: not a valid URL", url="<unparseable URL>"
        ) from None
    # The URL as shown (query dropped) is built only for a refusal: building it parses the URL
    # again, which for a ~700-character signed part URL costs more than the check itself, and
    # every part PUT and API request passes here.
    if parsed.scheme != "https":
        shown = display_url(parsed)
        raise InsecureURLError(
            f"refusing {what} {shown}: Frame.io is HTTPS only, "
            f"{parsed.scheme or 'relative'} URLs are never requested",
            url=shown,
        )
    if not parsed.host:
        shown = display_url(parsed)
        raise InsecureURLError(f"refusing {what} {shown}: it has no host", url=shown)
    return parsed


class HttpsOnlyTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and refuses any request whose URL is not https://, before sending."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        require_https(request.url, what="request to")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
