"""Server-side fetches (webhooks, skill sources) must not reach private networks unless allowed."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from commonly_kernel import BadRequest


async def check_url(url: str, *, allow_private: bool, https_only: bool = False) -> None:
    """Refuse (400 ``url_refused``) other schemes, and hosts that resolve to loopback, private,
    link-local or reserved addresses unless ``allow_private`` (``COMMONLY_ALLOW_PRIVATE_URLS``)."""
    parts = urlsplit(url)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        raise BadRequest(f"Only {' or '.join(schemes)} URLs are accepted.", code="url_refused")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                            type=socket.SOCK_STREAM)
    except OSError:
        raise BadRequest(f"{parts.hostname} does not resolve.", code="url_refused") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise BadRequest(f"{parts.hostname} is a private or loopback address.", code="url_refused")
