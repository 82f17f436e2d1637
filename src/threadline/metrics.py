"""Prometheus figures for one process: HTTP requests and actions, counted and timed.
Each process keeps its own registry (built with its Runtime) and serves it on /metrics;
a scraper collects every process, so nothing here assumes one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "threadline_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "threadline_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.action_seconds = Histogram(
            "threadline_action_duration_seconds",
            "Time an action took, commit included",
            ["action"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.action_refusals = Counter(
            "threadline_action_refusals",
            "Actions that refused their input, by error code",
            ["action", "code"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
