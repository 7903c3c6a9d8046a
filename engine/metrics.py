"""Business counters any domain bumps in one line:

    from engine import metrics
    metrics.INSTANCES_STARTED.inc(definition="checkout")

In the API process the counters are `prometheus_client` counters served by `GET /metrics` (next to
the HTTP latency histograms, `api/metrics.py`). In the worker, `use_temporal_runtime` sends the same
calls to the Temporal runtime's meter, so the worker's one Prometheus endpoint
(WORKER_METRICS_ADDRESS) carries the SDK's metrics (workflow task latency, activity failures,
schedule-to-start) and ours together. Either way a counter `covo_x` is scraped as `covo_x_total`.

A new counter: `NAME = metrics.counter("covo_things_done", "Things done", ("kind",))`. Keep label
values few (a definition key, an outcome), never ids."""

from __future__ import annotations

import threading
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

REGISTRY: CollectorRegistry = prometheus_client.REGISTRY

_meter: Any = None  # temporalio.common.MetricMeter once the worker switched over
_lock = threading.Lock()


class Counter:
    def __init__(self, name: str, description: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.description = description
        self.labels = labels
        self._prometheus = prometheus_client.Counter(name, description, labels, registry=REGISTRY)
        self._temporal: Any = None

    def inc(self, amount: float = 1, **labels: str) -> None:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, got {tuple(labels)}")
        values = {key: str(value) for key, value in labels.items()}
        if _meter is not None:
            if self._temporal is None:
                self._temporal = _meter.create_counter(self.name, self.description)
            self._temporal.add(int(amount), values)
            return
        if self.labels:
            self._prometheus.labels(**values).inc(amount)
        else:
            self._prometheus.inc(amount)

    def value(self, **labels: str) -> float:
        """The prometheus_client value (tests; the Temporal meter is read by scraping)."""
        sample = REGISTRY.get_sample_value(f"{self.name}_total", {k: str(v) for k, v in labels.items()})
        return sample or 0.0


_counters: dict[str, Counter] = {}


def counter(name: str, description: str, labels: tuple[str, ...] = ()) -> Counter:
    """The counter of that name, created once per process."""
    with _lock:
        if name not in _counters:
            _counters[name] = Counter(name, description, labels)
        return _counters[name]


def use_temporal_runtime(runtime: Any) -> None:
    """From now on counters in this process go to the Temporal runtime's meter (the worker)."""
    global _meter
    _meter = runtime.metric_meter
    for existing in _counters.values():
        existing._temporal = None


INSTANCES_STARTED = counter("covo_instances_started", "Workflow instances started", ("definition",))
INSTANCES_STARTED_EAGERLY = counter(
    "covo_instances_started_eagerly",
    "Workflow instances whose first workflow task went straight to the API process's own worker",
    ("definition",),
)
INSTANCES_FINISHED = counter(
    "covo_instances_finished",
    "Workflow instances that reached an end state (COMPLETED, FAILED, CANCELLED, ...)",
    ("definition", "status"),
)
TASK_COMMANDS = counter(
    "covo_task_commands", "User task commands accepted (claim, unclaim, complete, ...)", ("command",)
)
WALLET_ADJUSTMENTS = counter("covo_wallet_adjustments", "Wallet adjustments applied", ("kind",))
WEBHOOKS_RECEIVED = counter("covo_webhooks_received", "Inbound webhooks accepted", ("source", "outcome"))
