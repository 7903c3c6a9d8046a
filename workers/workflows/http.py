"""Outbound HTTP for CALL_WEBHOOK: an SSRF guard (no private, loopback, link-local or reserved
targets, no credentials in URLs, http(s) only), no redirects, and the request sent to the address
the guard validated. The name is resolved once: were httpx to resolve it again, a hostile DNS
server could answer a public address to the guard and 127.0.0.1 to the request (DNS rebinding)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio.exceptions import ApplicationError

from workers.workflows.errors import ActivityConfigError

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) → the addresses the name stands for, in the order to try them."""


async def resolve_host(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    # not is_global adds the shared address space 100.64.0.0/10, where some clouds serve instance
    # metadata (Alibaba Cloud: 100.100.100.200).
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def check_url(url: str, *, allow_private: bool, resolve: Resolver = resolve_host) -> list[str]:
    """Refuses URLs we must not call and returns the validated addresses to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ActivityConfigError(f"Only http(s) URLs are allowed, got '{parts.scheme}:'")
    if parts.username or parts.password:
        raise ActivityConfigError("URLs must not carry credentials")
    host = parts.hostname
    if not host:
        raise ActivityConfigError("URL has no host")
    if not allow_private and (
        host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost")
    ):
        raise ActivityConfigError(f"Target host '{host}' is not allowed")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ActivityConfigError(f"Invalid port in URL: {exc}")
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise ActivityConfigError(f"Cannot resolve '{host}': {exc}")
    if not addresses:
        raise ActivityConfigError(f"Cannot resolve '{host}'")
    # Every address the name resolves to must be public (a rebinding name fails as a whole).
    if not allow_private and any(_forbidden(address) for address in addresses):
        raise ActivityConfigError(f"Target '{host}' resolves to a private or local address")
    return addresses


async def send(
    method: str,
    url: str,
    *,
    allow_private: bool,
    headers: dict[str, str],
    body: Any = None,
    timeout_seconds: float = 30,
    resolve: Resolver = resolve_host,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.Response:
    """Checks `url` and sends the request (`body` JSON-encoded unless already a string) to the
    address the check validated, with the URL's own name as Host header and TLS server name (so
    certificates are verified against it). Network trouble raises a retryable ApplicationError; a
    refused target raises ActivityConfigError."""
    addresses = await check_url(url, allow_private=allow_private, resolve=resolve)
    target = httpx.URL(url)
    request_headers = httpx.Headers(headers)
    request_headers.setdefault("Host", target.netloc.decode("ascii"))
    content = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    extensions: dict[str, Any] = {}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.raw_host.decode("ascii")
    # trust_env=False: an environment proxy would resolve the name itself (undoing the pinning)
    # and tunnel TLS with the IP as server name; .netrc credentials must not leak to webhooks.
    async with httpx.AsyncClient(
        follow_redirects=False, timeout=timeout_seconds, trust_env=False, transport=transport
    ) as http:
        for attempt, address in enumerate(addresses, start=1):
            try:
                return await http.request(
                    method,
                    target.copy_with(host=address),
                    headers=request_headers,
                    content=content,
                    extensions=extensions,
                )
            except httpx.ConnectError:
                # Like a browser: an unreachable address (say IPv6 without a route) falls back to
                # the name's next one. Nothing was sent, so trying the next address is safe.
                if attempt == len(addresses):
                    raise ApplicationError(f"Request to {url} failed: no address of the host is reachable")
            except httpx.HTTPError as exc:
                raise ApplicationError(f"Request to {url} failed: {exc}")  # retryable: network trouble
    raise AssertionError("check_url returns at least one address")
