"""A tiny HTTP/1.1 server for tests of outbound calls (webhooks, CALL_API): it records every
request and answers from its routes, or with its fallback answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class TinyServer:
    """Answers requests from `routes` (path → (status, headers, body)); other paths get 404."""

    routes: dict[str, Answer] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, path: str, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = dict(headers or {})
        if not isinstance(body, bytes):
            extra.setdefault("Content-Type", "application/json")
        self.routes[path] = (status, extra, raw)

    def fallback(self) -> Answer:
        return (404, {}, b"no such route")

    def hits_on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def wait_for_hits(self, count: int, within: float = 20) -> list[Hit]:
        deadline = asyncio.get_running_loop().time() + within
        while len(self.hits) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.hits)}")
            await asyncio.sleep(0.05)
        return self.hits

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, _ = (await reader.readline()).decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, value = line.decode().split(":", 1)
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.hits.append(Hit(method, target, headers, body))
            status, extra, payload = self.routes.get(target) or self.fallback()
            head = [f"HTTP/1.1 {status} Status{status}", f"Content-Length: {len(payload)}", "Connection: close"]
            head += [f"{k}: {v}" for k, v in extra.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            await writer.drain()
        finally:
            writer.close()


@dataclass
class Receiver(TinyServer):
    """A webhook receiver: every request is answered `status` with `{"received": true}`."""

    status: int = 200

    def fallback(self) -> Answer:
        return (self.status, {"Content-Type": "application/json"}, b'{"received": true}')


ServerT = TypeVar("ServerT", bound=TinyServer)


@asynccontextmanager
async def serving(server: ServerT) -> AsyncIterator[ServerT]:
    """Listens on a free port of 127.0.0.1 (only: other loopback addresses stay closed)."""
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
