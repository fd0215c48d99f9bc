"""The settlement outbox: charges the database could not take when they were due.

A request that was answered while the database was away (restarting, its connections cut) is
still charged: its priced usage record goes here and is applied once the database is back.
With Redis, the outbox is a Redis stream any server process or worker can drain; without it
(or when Redis fails too) it is a spool file on local disk, one per process, written with an
fsync. `drain` applies every entry through the same settle statement as the live path, which is
idempotent by request id, so an entry applied twice (a drain cut short before its delete) still
charges once. Draining runs at process start, on the process keeper's timer and in the Celery
worker (at start and on a beat), so nothing relies on beat alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from decimal import Decimal
from pathlib import Path

import orjson
from django.conf import settings

from billing.models import UsageRecord
from chukchat.db_errors import DATABASE_UNAVAILABLE

logger = logging.getLogger(__name__)

_STREAM = "settle-outbox"
_MONEY_FIELDS = ("cost", "discrepancy", "units")


def _stream_key() -> str:
    return f"{settings.CACHE_KEY_PREFIX}:{_STREAM}"


def _spool_dir() -> Path:
    return Path(settings.SETTLE_SPOOL_DIR)


def _entry(*, record: UsageRecord, lease: str | None, release: Decimal | None) -> bytes:
    fields = {}
    for field in UsageRecord._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(record, field.attname)
        fields[field.attname] = str(value) if isinstance(value, Decimal) else value
    return orjson.dumps(
        {"record": fields, "lease": lease, "release": None if release is None else str(release)}
    )


def _record_of(entry: dict) -> tuple[UsageRecord, str | None, Decimal | None]:
    fields = dict(entry["record"])
    for name in _MONEY_FIELDS:
        fields[name] = Decimal(fields[name])
    release = entry.get("release")
    return UsageRecord(**fields), entry.get("lease"), None if release is None else Decimal(release)


_clients: dict[str, object] = {}


def _redis():
    """One client (and connection pool) per process and Redis URL: a new client per entry
    opened a connection per entry, which under load was a tenth of a worker's time."""
    import redis

    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        _clients[url] = client
    return client


def put(*, record: UsageRecord, lease: str | None = None, release: Decimal | None = None) -> None:
    """Keeps the charge until `drain` applies it: in Redis, else on local disk."""
    entry = _entry(record=record, lease=lease, release=release)
    if settings.REDIS_URL:
        try:
            _redis().xadd(_stream_key(), {"entry": entry})
            return
        except Exception as error:  # Redis away too: the disk still takes it
            logger.warning("outbox: Redis refused %s (%s), spooling", record.request_id, error)
    directory = _spool_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{socket.gethostname()}-{os.getpid()}.jsonl"
    with open(path, "ab") as spool:
        spool.write(entry + b"\n")
        spool.flush()
        os.fsync(spool.fileno())


async def aput(*, record: UsageRecord, lease: str | None, release: Decimal | None) -> None:
    await asyncio.to_thread(put, record=record, lease=lease, release=release)


def _apply(raw: bytes) -> None:
    from billing.settlement import settle_sync

    record, lease, release = _record_of(orjson.loads(raw))
    settle_sync(record=record, lease=lease, release=release)


def drain() -> int:
    """Applies every entry the database will now take; returns how many. Stops at the first
    database error (it is still away: the rest waits for the next drain)."""
    applied = 0
    try:
        applied += _drain_spool()
        if settings.REDIS_URL:
            applied += _drain_redis()
    except DATABASE_UNAVAILABLE as error:
        logger.warning("outbox: database still unavailable (%s); %s applied", error, applied)
    if applied:
        logger.info("outbox: %s deferred settlements applied", applied)
    return applied


def _drain_redis() -> int:
    client = _redis()
    applied = 0
    last = "-"
    while True:
        entries = client.xrange(_stream_key(), min=last, count=100)
        if last != "-" and entries and entries[0][0].decode() == last:
            entries = entries[1:]
        if not entries:
            return applied
        for entry_id, fields in entries:
            try:
                _apply(fields[b"entry"])
            except DATABASE_UNAVAILABLE:
                raise
            except Exception:
                # An entry that can never apply must not block the rest: kept aside, logged.
                logger.exception("outbox: entry %s cannot be applied; moved aside", entry_id)
                client.xadd(f"{_stream_key()}:failed", fields)
            client.xdel(_stream_key(), entry_id)
            applied += 1
            last = entry_id.decode()


def _drain_spool() -> int:
    directory = _spool_dir()
    if not directory.is_dir():
        return 0
    applied = 0
    for path in sorted(directory.glob("*.jsonl")):
        # Claimed by renaming, so two drainers never apply the same file at once.
        claimed = path.with_suffix(f".draining-{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue
        lines = [line for line in claimed.read_bytes().splitlines() if line.strip()]
        done = 0
        try:
            for line in lines:
                try:
                    _apply(line)
                except DATABASE_UNAVAILABLE:
                    raise
                except Exception:
                    logger.exception("outbox: a spooled entry cannot be applied; moved aside")
                    with open(directory / "failed.jsonl.kept", "ab") as failed:
                        failed.write(line + b"\n")
                done += 1
        finally:
            rest = lines[done:]
            if rest:
                with open(path, "ab") as spool:
                    spool.write(b"\n".join(rest) + b"\n")
                    spool.flush()
                    os.fsync(spool.fileno())
            claimed.unlink()
            applied += done
    return applied


def size() -> int:
    """Entries waiting (for health checks and tests)."""
    waiting = 0
    directory = _spool_dir()
    if directory.is_dir():
        for path in directory.glob("*.jsonl"):
            waiting += sum(1 for line in path.read_bytes().splitlines() if line.strip())
    if settings.REDIS_URL:
        with contextlib.suppress(Exception):  # Redis away: the spool is all one can count
            waiting += _redis().xlen(_stream_key())
    return waiting
