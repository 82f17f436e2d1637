"""Prometheus figures for one process: HTTP requests and actions, counted and timed.
Each process keeps its own registry (built with its Runtime) and serves it on /metrics;
a scraper collects every process, so nothing here assumes one process.

The outbox gauges are read from the database at scrape time (the outbox is shared by
every process, so each process reports the same figures); a process that serves
/metrics tells the registry how to read them with `watch_outbox()`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from threadline.queries.outbox import OutboxFigures

log = logging.getLogger(__name__)

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
        self.deliveries = Counter(
            "threadline_outbox_deliveries",
            "Outbox delivery attempts recorded by this process's workers, by outcome "
            "(sent, retry, failed, held)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.page_answers = Counter(
            "threadline_page_answers",
            "Answers of the busiest read routes (inbox, touches, search), by how each "
            "was made: kept (sent again, nothing having changed), shared (built once for "
            "requests arriving together) or built",
            ["outcome"],
            registry=self.registry,
        )
        self._outbox = _OutboxCollector()
        self.registry.register(self._outbox)

    def watch_outbox(self, read: Callable[[], OutboxFigures]) -> None:
        """Report the outbox gauges, read by `read` at every scrape."""
        self._outbox.read = read

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _OutboxCollector(Collector):
    """The outbox gauges, computed when scraped. A failed read (the database away)
    leaves them out of that scrape rather than failing /metrics."""

    def __init__(self) -> None:
        self.read: Callable[[], OutboxFigures] | None = None

    def describe(self) -> Iterator[Metric]:
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        if self.read is None:
            return
        try:
            figures = self.read()
        except Exception as exc:  # a scrape must never fail on the database's account
            log.warning("outbox figures unavailable: %s", exc)
            return
        yield from self._families(figures)

    @staticmethod
    def _families(figures: OutboxFigures | None) -> Iterator[Metric]:
        specs = (
            ("threadline_outbox_depth", "Messages waiting in the outbox to be sent", "depth"),
            (
                "threadline_outbox_oldest_age_seconds",
                "Age of the oldest message waiting in the outbox",
                "oldest_seconds",
            ),
            (
                "threadline_outbox_overdue_seconds",
                "How long the most overdue outbox message has been due without being sent",
                "overdue_seconds",
            ),
            (
                "threadline_outbox_held",
                "Outbox messages held because their channel is not configured",
                "held",
            ),
        )
        for name, documentation, attribute in specs:
            family = GaugeMetricFamily(name, documentation)
            if figures is not None:
                family.add_metric([], float(getattr(figures, attribute)))
            yield family
