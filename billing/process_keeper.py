"""This server process's keeper: its heartbeat, the sweep of dead processes, and the drain of
the settlement outbox. Started by the ASGI lifespan, stopped at shutdown; nothing here needs
Celery beat (the worker runs the same sweep and drain as well).

Every PROCESS_HEARTBEAT_SECONDS the process writes its row (billing.ServerProcess) with a
snapshot of the metered calls it is serving: who pays, the prices, the hold, and the tokens
generated so far. A process silent for PROCESS_DEAD_SECONDS is dead (SIGKILL, OOM, a lost
node): the next sweep of any live process charges each of its calls for what it had generated
at its last beat (status "interrupted"), releases its holds and leases, and deletes its row, in
one transaction. So a crash frees a user's credit within PROCESS_DEAD_SECONDS +
PROCESS_HEARTBEAT_SECONDS (35 s by default), capped keys included."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Reservation, ServerProcess, UsageRecord
from chukchat.db_errors import DATABASE_UNAVAILABLE
from chukchat.db_threads import db_call

logger = logging.getLogger(__name__)

_identity: tuple[int, str] | None = None


def process_id() -> str:
    """This process's id in the database: host, pid and a nonce (pids are reused)."""
    global _identity
    if _identity is None or _identity[0] != os.getpid():
        _identity = (
            os.getpid(),
            f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        )
    return _identity[1]


# request id -> a function returning the call's progress (see `track`)
_tracked: dict[str, Callable[[], dict]] = {}
_task: asyncio.Task | None = None
_registered = False


def track(request_id: str, progress: Callable[[], dict]) -> None:
    """Registers a metered call in flight. `progress()` returns what the sweep needs to charge
    it should this process die: user_id, api_key_id, endpoint, model, provider,
    upstream_model, prompt_tokens, completion_tokens, input_price, output_price (strings),
    held (string) and lease (or None)."""
    _tracked[request_id] = progress


def untrack(request_id: str) -> None:
    _tracked.pop(request_id, None)


def _snapshot() -> dict:
    snapshot = {}
    for request_id, progress in list(_tracked.items()):
        with contextlib.suppress(Exception):
            snapshot[request_id] = progress()
    return snapshot


def beat(*, in_flight: dict) -> bool:
    """Writes this process's heartbeat. False when its row had been swept (the others took it
    for dead): whatever it held in the database is no longer its own."""
    global _registered
    updated = ServerProcess.objects.filter(pk=process_id()).update(
        heartbeat_at=timezone.now(), in_flight=in_flight
    )
    if updated:
        return True
    ServerProcess.objects.create(pk=process_id(), in_flight=in_flight)
    swept = _registered
    _registered = True
    return not swept


def sweep(*, dead_after: float | None = None) -> int:
    """Charges the calls of every dead process for what they had generated and releases its
    holds; returns how many processes were swept. Safe to run anywhere, at once: each dead
    process is swept in one transaction by whoever locks its row first."""
    from billing.settlement import settle_sync

    dead_after = settings.PROCESS_DEAD_SECONDS if dead_after is None else dead_after
    cutoff = timezone.now() - timedelta(seconds=dead_after)
    swept = 0
    for dead_id in ServerProcess.objects.filter(heartbeat_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            dead = (
                ServerProcess.objects.select_for_update(skip_locked=True)
                .filter(pk=dead_id, heartbeat_at__lt=cutoff)
                .first()
            )
            if dead is None:
                continue
            charged = Decimal(0)
            for request_id, call in dead.in_flight.items():
                record = settle_sync(
                    record=_interrupted_record(request_id, call),
                    prices=_prices_of(call),
                    held=Decimal(call["held"]),
                    lease=call.get("lease"),
                    release=Decimal(call["held"]) if call.get("lease") else None,
                )
                charged += record.cost
            released = release_holds(owner=dead.pk)
            dead.delete()
        swept += 1
        logger.warning(
            "process %s died: %s calls charged %s USD for what they delivered, %s holds released",
            dead_id,
            len(dead.in_flight),
            charged,
            released,
        )
    return swept


def _interrupted_record(request_id: str, call: dict) -> UsageRecord:
    from billing.settlement import usage_record

    return usage_record(
        request_id=request_id,
        user_id=call["user_id"],
        api_key_id=call.get("api_key_id"),
        endpoint=call["endpoint"],
        model=call["model"],
        provider=call.get("provider", ""),
        upstream_model=call.get("upstream_model", ""),
        prompt_tokens=call["prompt_tokens"] if call["completion_tokens"] else 0,
        completion_tokens=call["completion_tokens"],
        tokens_estimated=True,
        status=UsageRecord.Status.INTERRUPTED,
        error_code="process_died",
    )


def _prices_of(call: dict):
    from billing.prices import Prices

    return Prices(input=Decimal(call["input_price"]), output=Decimal(call["output_price"]))


def release_holds(*, owner: str) -> int:
    """Releases every hold and lease `owner` placed (in the caller's transaction)."""
    from billing.metering import release_hold

    released = 0
    for reservation in Reservation.objects.select_for_update().filter(owner=owner):
        release_hold(reservation)
        released += 1
    return released


def sweep_and_drain() -> None:
    """The periodic duty of any process: dead processes swept, the outbox applied."""
    from billing import settlement_outbox

    try:
        sweep()
    except DATABASE_UNAVAILABLE as error:
        logger.warning("sweep skipped: database unavailable (%s)", error)
    settlement_outbox.drain()


async def _keep() -> None:
    from billing import credit_leases

    while True:
        try:
            if not await db_call(beat, in_flight=_snapshot()):
                logger.error("process %s was taken for dead; its leases are dropped", process_id())
                credit_leases.forget_all()
            await db_call(sweep_and_drain)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("process keeper: beat failed; retrying")
        await asyncio.sleep(settings.PROCESS_HEARTBEAT_SECONDS)


async def start() -> None:
    """Called once per server process at ASGI lifespan startup."""
    global _task
    if _task is None or _task.done():
        _task = asyncio.get_running_loop().create_task(_keep())


async def stop() -> None:
    """Called at ASGI lifespan shutdown, after in-flight requests were drained: settlements
    finish, leases are given back and the process's row goes, so nothing is left to sweep."""
    global _task
    from billing import credit_leases, settlement

    await settlement.wait_settled(within=10)
    with contextlib.suppress(Exception):
        await credit_leases.give_back_all()
    if _task is not None:
        _task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await _task
        _task = None
    with contextlib.suppress(Exception):
        if not _tracked:
            await db_call(_forget_self)


def _forget_self() -> None:
    with transaction.atomic():
        release_holds(owner=process_id())
        ServerProcess.objects.filter(pk=process_id()).delete()
