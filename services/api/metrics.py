"""This process's Prometheus metrics: request latency, events recorded, webhooks, the tick.

Each `Metrics` has a registry of its own (one per app, so a test can start from zero); /metrics
(routers/ops.py) adds the ledger-wide figures read from the database at every scrape. Labels take
few values by construction: a route template (never the raw path), a method from a fixed list, a
status class, an event type from the contract, an outcome. Never a tenant or a member id.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# seconds; the top buckets catch slow reports, and feed streams (kept open by their readers)
REQUEST_BUCKETS_SECONDS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
WEBHOOK_RESULTS = ("succeeded", "retrying", "failed")  # services/api/webhooks/store.py's
TICK_OUTCOMES = ("ok", "error")


def status_class(status: int) -> str:
    """200 -> "2xx"; anything outside 100-599 -> "other"."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class Metrics:
    """The counters, gauges and histograms this process updates, in `registry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "benefit_ledger_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ("method", "route", "status_class"),
            buckets=REQUEST_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.events_recorded = Counter(
            "benefit_ledger_events_recorded",
            "Events this process recorded through POST /v1/events, by event type.",
            ("type",),
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "benefit_ledger_events_duplicate",
            "Events sent again to POST /v1/events and answered as duplicates.",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "benefit_ledger_webhook_deliveries",
            "Webhook delivery attempts this process made, by result: succeeded (2xx), "
            "retrying (failed, tried again later), failed (given up, or 410 Gone).",
            ("result",),
            registry=self.registry,
        )
        self.webhook_failures = Counter(
            "benefit_ledger_webhook_failures",
            "Webhook delivery attempts without a 2xx answer, by the answer's status class "
            '("none": no answer, a timeout or a refused address).',
            ("status_class",),
            registry=self.registry,
        )
        self.tick_runs = Counter(
            "benefit_ledger_tick_runs",
            "Period ticks this process ran, by outcome.",
            ("outcome",),
            registry=self.registry,
        )
        self.tick_events = Counter(
            "benefit_ledger_tick_events_emitted",
            "Derived events (balance.changed, renewal_due) the period ticks emitted.",
            registry=self.registry,
        )
        self.tick_last_run = Gauge(
            "benefit_ledger_tick_last_run_timestamp_seconds",
            "When this process last finished a period tick without error (Unix time; 0: never).",
            registry=self.registry,
        )
        # every label value known up front, so the series exist (at 0) before the first event
        for result in WEBHOOK_RESULTS:
            self.webhook_deliveries.labels(result)
        for outcome in TICK_OUTCOMES:
            self.tick_runs.labels(outcome)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.request_duration.labels(method, route, status_class(status)).observe(seconds)

    def count_events(self, outcomes: Iterable[tuple[str, str]]) -> None:
        """(event type, recorded | duplicate) per event of an answered batch."""
        for event_type, status in outcomes:
            if status == "recorded":
                self.events_recorded.labels(event_type).inc()
            else:
                self.events_duplicate.inc()

    def count_webhook_attempt(self, result: str, status_code: int | None) -> None:
        self.webhook_deliveries.labels(result).inc()
        if status_code is None:
            self.webhook_failures.labels("none").inc()
        elif not 200 <= status_code < 300:
            self.webhook_failures.labels(status_class(status_code)).inc()

    def count_tick(self, emitted: int | None, finished_at_s: float) -> None:
        """A tick that emitted `emitted` events, or failed (None), finishing at Unix time."""
        if emitted is None:
            self.tick_runs.labels("error").inc()
            return
        self.tick_runs.labels("ok").inc()
        self.tick_events.inc(emitted)
        self.tick_last_run.set(finished_at_s)
