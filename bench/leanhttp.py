"""A lean HTTP/1.1 keep-alive client for load generation.

The benchmarks run their load generator on the same 2 cores as the stack they measure, so the
client's own CPU is taken from the server. httpx spends ~3.5 ms of CPU per request (measured:
`time.process_time()` around 1,500 rule calls), as much as the API itself; this client, which
writes pre-encoded requests on persistent connections and parses only the status line,
`Content-Length` and the body, spends a fraction of that. Only what the benchmarks need: JSON
bodies, fixed headers, `Content-Length` or chunked answers. Setup calls keep using httpx.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(slots=True)
class Response:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        """Sends one request, reads its answer; the flag says whether the connection stays open."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, keep = -1, False, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep = False
        if chunked:
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            body = b"".join(parts)
        elif length >= 0:
            body = await self.reader.readexactly(length)
        else:
            body, keep = await self.reader.read(), False
        return Response(status, body), keep

    def close(self) -> None:
        self.writer.close()


class LeanClient:
    """`await client.post(path, json=..., headers=...)` over at most `max_connections` keep-alive
    connections to one origin."""

    def __init__(self, base_url: str, max_connections: int = 10) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._host_header = f"{self.host}:{self.port}"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        body = b"" if json is None else _dumps(json)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_header}", f"Content-Length: {len(body)}"]
        if json is not None:
            lines.append("Content-Type: application/json")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        async with self._slots:
            while self._idle:
                # A kept connection the server closed while idle (uvicorn: after 5 s) fails before
                # any answer arrives; the request never reached the app, so it goes out again.
                connection = self._idle.pop()
                try:
                    return await self._exchange(connection, request)
                except (asyncio.IncompleteReadError, ConnectionError) as failure:
                    if isinstance(failure, asyncio.IncompleteReadError) and failure.partial:
                        raise
            connection = _Connection(*await asyncio.open_connection(self.host, self.port))
            return await self._exchange(connection, request)

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        try:
            response, keep = await connection.exchange(request)
        except BaseException:
            connection.close()
            raise
        if keep:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def post(self, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> Response:
        return await self.request("POST", path, json=json, headers=headers)

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", path, headers=headers)

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
