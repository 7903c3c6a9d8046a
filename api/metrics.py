"""Prometheus metrics of the API: request latency by route template and method, answers by status,
and `GET /metrics` (the business counters of `engine.metrics` too). Plain ASGI, like RequestId.

`/metrics` sits outside `/api`: the reverse proxy does not route it, so only the scraper on the
internal network reaches it. With several uvicorn processes in one container, set
PROMETHEUS_MULTIPROC_DIR so the answer covers all of them (prometheus_client's multiprocess mode);
in Kubernetes prefer one process per pod."""

from __future__ import annotations

import os
import time

import prometheus_client
from prometheus_client import CollectorRegistry, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.metrics import REGISTRY

PATH = "/metrics"
UNMATCHED = "(unmatched)"

REQUEST_SECONDS = prometheus_client.Histogram(
    "covo_http_request_duration_seconds",
    "API request latency by route template",
    ("method", "route"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
RESPONSES = prometheus_client.Counter(
    "covo_http_responses", "API answers by route template and status", ("method", "route", "status"), registry=REGISTRY
)


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return prometheus_client.generate_latest(registry)
    return prometheus_client.generate_latest(REGISTRY)


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/workflows/instances/{id}`), rebuilt from the path and
    the path parameters the router extracted, never the raw path: ids would make one series per
    object. Requests no route matched share one label."""
    if scope.get("route") is None:
        return UNMATCHED
    params = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{params[part]}}}" if part in params else part for part in scope["path"].split("/"))


class Metrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == PATH and scope["method"] == "GET":
            await self._serve(send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope)
            method = scope["method"]
            REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)
            RESPONSES.labels(method, route, str(status)).inc()

    @staticmethod
    async def _serve(send: Send) -> None:
        body = _exposition()
        headers = [
            (b"content-type", prometheus_client.CONTENT_TYPE_LATEST.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
