"""Service health: liveness (the process answers) and readiness (it can serve: every dependency
answers, the migrations on disk are applied, and the process is not draining).

Readiness checks each dependency concurrently with its latency. A report is kept for
HEALTH_CACHE_SECONDS per process, so a flood of probes costs one round of checks (new broker
and channel-layer connections, a database round trip) per period, not one per call. The
report never holds secrets: part names, timings and the kind of failure, and those only for a
caller with the health or metrics token (chukchat/views.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.db import connections

CHECK_TIMEOUT_SECONDS = 3.0


def check_database() -> str:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connection.vendor
    finally:
        # This runs in a short-lived thread: hand the connection back rather than strand it.
        connection.close()


def check_cache() -> str:
    cache = caches["default"]
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def check_channel_layer() -> str:
    from channels.layers import channel_layers

    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    # A fresh layer each time, so a check never reuses a connection bound to another loop.
    layer = channel_layers.make_backend("default")

    async def roundtrip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        message = await layer.receive(channel)
        if message.get("type") != "health.ping":
            raise RuntimeError("channel layer returned the wrong message")
        close = getattr(layer, "close_pools", None)
        if close is not None:
            await close()

    async_to_sync(roundtrip)()
    return backend.rsplit(".", 1)[-1]


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        return connection.transport.driver_name


def check_rate_limiter() -> str:
    from accounts.rate_limits import limiter_health

    return limiter_health()


def unapplied_migrations() -> list[str]:
    """The migrations on disk that the database has not applied, as "app.name"."""
    from django.db.migrations.executor import MigrationExecutor

    connection = connections["default"]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
    finally:
        connection.close()


class MigrationsUnapplied(Exception):
    """Said in the report as `unapplied_migrations: N` (which ones: `manage.py showmigrations`)."""


def check_migrations() -> str:
    unapplied = unapplied_migrations()
    if unapplied:
        raise MigrationsUnapplied(f"unapplied_migrations: {len(unapplied)}")
    return "applied"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
    "rate_limiter": check_rate_limiter,
    "migrations": check_migrations,
}


def _timed(check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    try:
        backend = check()
    except Exception as error:
        return {
            "ok": False,
            "error": str(error) if isinstance(error, MigrationsUnapplied) else type(error).__name__,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    return {
        "ok": True,
        "backend": backend,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def run_checks() -> dict:
    """Every check, now (uncached)."""
    results: dict[str, dict] = {}
    # Not a `with` block: leaving one waits for every thread, and a hung check must not hang us.
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="health")
    futures = {name: pool.submit(_timed, check) for name, check in CHECKS.items()}
    deadline = time.monotonic() + CHECK_TIMEOUT_SECONDS
    for name, future in futures.items():
        try:
            results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            results[name] = {
                "ok": False,
                "error": "timeout",
                "latency_ms": CHECK_TIMEOUT_SECONDS * 1000,
            }
    pool.shutdown(wait=False, cancel_futures=True)
    down = [name for name, result in results.items() if not result["ok"]]
    return {"status": "ok" if not down else "unavailable", "down": down, "checks": results}


# --- Readiness, cached per process ------------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[float, dict] | None = None


def ready_report() -> dict:
    """The readiness report: while the process drains, "draining" at once (no check is worth
    running then); otherwise the checks' report, at most HEALTH_CACHE_SECONDS old. One caller
    runs the checks while the others wait for its report, so a flood never runs them twice."""
    global _cached
    from chukchat import draining

    if draining.draining():
        return {"status": "draining", "down": [], "checks": {}}
    ttl = settings.HEALTH_CACHE_SECONDS
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < ttl:
        return cached[1]
    with _lock:
        cached = _cached
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return cached[1]
        report = run_checks()
        _cached = (time.monotonic(), report)
        return report


def forget_report(**_kwargs) -> None:
    global _cached
    _cached = None


# A changed setting (a test pointing the cache at a closed port) must not be answered from a
# report about the old one.
setting_changed.connect(forget_report, dispatch_uid="chukchat.health.forget_report")
