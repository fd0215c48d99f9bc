"""Every Prometheus metric of the platform, and the one-line calls that record them.

The code that knows a fact calls one function here: settlement (billing/settlement.py) knows a
metered request's endpoint, model, provider, status, tokens, spend and latency; routing
(aiapi/routing.py) knows provider errors and fallbacks; the rate limits (accounts/rate_limits.py)
know refusals; the SSE writer (aiapi/wire/sse.py) and the WebSocket middleware
(chukchat/draining.py) know the open streams and sockets; the Celery app (chukchat/celery.py)
knows job outcomes. Each call is a labelled increment: no I/O on the request's path.

With several server processes (uvicorn --workers, Celery's prefork pool) every process writes
its values to files under PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode, set
in the environment before the process starts: `make serve` uses var/prometheus), and a scrape
of any process sums them all. Without it, one process's own registry is served.

What is only worth knowing when asked (the settlement outbox's depth, Celery's queue depth) is
measured at scrape time by `ScrapeTimeCollector`."""

from __future__ import annotations

import contextlib
import os
from decimal import Decimal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

HTTP_REQUESTS = Counter(
    "chuk_http_requests",
    "HTTP responses, by route pattern, method and status code.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "chuk_http_request_duration_seconds",
    "Time until the response's headers, by route pattern.",
    ["route"],
    buckets=_SECONDS,
)
USAGE_REQUESTS = Counter(
    "chuk_usage_requests",
    "Metered requests settled, by endpoint, model, provider and status.",
    ["endpoint", "model", "provider", "status"],
)
USAGE_SECONDS = Histogram(
    "chuk_usage_latency_seconds",
    "A metered request's whole latency, by model and provider.",
    ["model", "provider"],
    buckets=_SECONDS,
)
FIRST_TOKEN_SECONDS = Histogram(
    "chuk_time_to_first_token_seconds",
    "Time to the first token of an answer, by model and provider.",
    ["model", "provider"],
    buckets=_SECONDS,
)
TOKENS = Counter(
    "chuk_tokens",
    "Tokens metered, by model, provider and direction (in: prompt, out: completion).",
    ["model", "provider", "direction"],
)
SPEND = Counter(
    "chuk_spend_usd",
    "USD charged, by model and provider.",
    ["model", "provider"],
)
PROVIDER_ERRORS = Counter(
    "chuk_provider_errors",
    "Provider calls that failed, by provider, model and kind (timeout, rejected, error).",
    ["provider", "model", "kind"],
)
FALLBACKS = Counter(
    "chuk_fallbacks",
    "Answers given by a fallback model instead of the one asked for.",
    ["model", "fallback"],
)
RATE_LIMITED = Counter(
    "chuk_rate_limit_refusals",
    "Requests refused with 429 by the rate limits, by category.",
    ["category"],
)
OPEN_STREAMS = Gauge(
    "chuk_open_streams",
    "SSE answers being streamed now.",
    multiprocess_mode="livesum",
)
OPEN_WEBSOCKETS = Gauge(
    "chuk_open_websockets",
    "WebSockets open now.",
    multiprocess_mode="livesum",
)
CELERY_JOBS = Counter(
    "chuk_celery_jobs",
    "Celery jobs finished, by task and outcome (SUCCESS, FAILURE, RETRY, ...).",
    ["task", "outcome"],
)
SETTLEMENT_BATCHES = Histogram(
    "chuk_settlement_batch_size",
    "Leased charges written by one statement (billing/settlement_batch.py).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


# --- The calls ---------------------------------------------------------------------------------


def http_response(*, route: str, method: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def usage_settled(record) -> None:
    """A metered request's usage record, priced (billing/settlement.py)."""
    model, provider = record.model, record.provider or "-"
    USAGE_REQUESTS.labels(record.endpoint, model, provider, record.status).inc()
    if record.latency_ms:
        USAGE_SECONDS.labels(model, provider).observe(record.latency_ms / 1000)
    if record.time_to_first_token_ms is not None:
        FIRST_TOKEN_SECONDS.labels(model, provider).observe(record.time_to_first_token_ms / 1000)
    if record.prompt_tokens:
        TOKENS.labels(model, provider, "in").inc(record.prompt_tokens)
    if record.completion_tokens:
        TOKENS.labels(model, provider, "out").inc(record.completion_tokens)
    if record.cost:
        SPEND.labels(model, provider).inc(float(Decimal(record.cost)))


def settlement_batch(size: int) -> None:
    SETTLEMENT_BATCHES.observe(size)


def provider_failed(*, provider: str, model: str, failure) -> None:
    kind = "timeout" if failure.timeout else "rejected" if failure.rejected else "error"
    PROVIDER_ERRORS.labels(provider, model, kind).inc()


def fallback_answered(*, model: str, fallback: str) -> None:
    FALLBACKS.labels(model, fallback).inc()


def rate_limited(category: str) -> None:
    RATE_LIMITED.labels(category).inc()


def celery_job(*, task: str, outcome: str) -> None:
    CELERY_JOBS.labels(task, outcome).inc()


# --- The scrape --------------------------------------------------------------------------------


class ScrapeTimeCollector:
    """Depths measured when /metrics is asked, not kept: the settlement outbox (entries
    waiting for the database) and the Celery queue on a Redis broker."""

    def collect(self):
        from billing import settlement_outbox

        outbox = GaugeMetricFamily(
            "chuk_settlement_outbox_entries", "Charges waiting in the settlement outbox."
        )
        with contextlib.suppress(Exception):
            outbox.add_metric([], settlement_outbox.size())
        yield outbox
        depth = _celery_queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily(
                "chuk_celery_queue_depth", "Jobs waiting in Celery's queue.", labels=["queue"]
            )
            queue.add_metric(["celery"], depth)
            yield queue


def _celery_queue_depth() -> int | None:
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return int(client.llen("celery"))
        finally:
            client.close()
    except redis.RedisError:
        return None


_scrape_time = ScrapeTimeCollector()
if not MULTIPROCESS:
    REGISTRY.register(_scrape_time)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric (summed over all processes in multiprocess mode),
    and its content type."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(_scrape_time)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """At a server process's exit: its live gauges (open streams, sockets) stop counting."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
