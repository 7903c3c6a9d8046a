"""Logs and traces.

Logs: with LOG_FORMAT=json every record is one JSON object per line, carrying the request id and
tenant of the API request it belongs to (set by the API's middleware and authentication) and the
workflow id / run id of the workflow or activity that logged it (from Temporal's own log context).

Traces (TRACING_ENABLED, off by default): an OpenTelemetry tracer provider exporting over OTLP
(the standard OTEL_EXPORTER_OTLP_* variables say where) or to the console; the API instruments
FastAPI with it and every Temporal client gets Temporal's TracingInterceptor, so one trace runs from
the HTTP request through the workflow start into the worker's workflow and activities."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from engine.settings import Settings

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("covo_request_id", default=None)
tenant_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("covo_tenant_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """Temporal's workflow and activity loggers attach their context as extras."""
    for key in ("temporal_workflow", "temporal_activity"):
        found = record.__dict__.get(key)
        if isinstance(found, dict):
            return {"workflowId": found.get("workflow_id"), "runId": found.get("run_id")}
    try:
        from temporalio import activity

        if activity.in_activity():
            info = activity.info()
            return {"workflowId": info.workflow_id, "runId": info.workflow_run_id}
    except Exception:  # pragma: no cover - never let logging fail
        pass
    return {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["requestId"] = rid
        if (tid := tenant_id.get()) is not None:
            entry["tenantId"] = tid
        entry.update({k: v for k, v in _temporal_context(record).items() if v})
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("temporal_") and key not in entry:
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(settings: Settings) -> None:
    """The root logger as settings say (idempotent: one handler of ours)."""
    root = logging.getLogger()
    root.setLevel(settings.log_level.upper())
    for handler in list(root.handlers):
        if getattr(handler, "_covo", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._covo = True  # type: ignore[attr-defined]
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
        # uvicorn's own loggers keep their handlers otherwise: route them through ours.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers = []
            logging.getLogger(name).propagate = True
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)


_provider: Any = None


def setup_tracing(settings: Settings) -> Any:
    """The process's tracer provider when tracing is on (None when off), created once. Installs
    Temporal's TracingInterceptor on every client `engine.temporal.client.connect` makes from now
    on (a worker inherits its client's interceptors)."""
    global _provider
    if not settings.tracing_enabled:
        return None
    if _provider is not None:
        return _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from engine.temporal.client import add_interceptor

    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if settings.tracing_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.tracing_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    add_interceptor(TracingInterceptor(provider.get_tracer("covo.temporal")))
    return provider
