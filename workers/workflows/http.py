"""Outbound HTTP for CALL_WEBHOOK: an SSRF guard (no private, loopback, link-local or reserved
targets, no credentials in URLs, http(s) only) and no redirects."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from workers.workflows.errors import ActivityConfigError


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified


async def check_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ActivityConfigError(f"Only http(s) URLs are allowed, got '{parts.scheme}:'")
    if parts.username or parts.password:
        raise ActivityConfigError("URLs must not carry credentials")
    host = parts.hostname
    if not host:
        raise ActivityConfigError("URL has no host")
    if allow_private:
        return
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        raise ActivityConfigError(f"Target host '{host}' is not allowed")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ActivityConfigError(f"Cannot resolve '{host}': {exc}")
    # Every address the name resolves to must be public (a rebinding name fails as a whole).
    for info in infos:
        if _forbidden(str(info[4][0])):
            raise ActivityConfigError(f"Target '{host}' resolves to a private or local address")
