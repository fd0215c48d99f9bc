from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from billing import process_keeper
from billing.metering import release_stale_reservations


@shared_task
def release_stale_reservations_task() -> int:
    """Beat's share of the crash recovery every server process also runs on its own timer:
    dead processes swept, the settlement outbox applied, holds nobody owns timed out."""
    process_keeper.sweep_and_drain()
    return release_stale_reservations(
        older_than=timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)
    )


@worker_ready.connect
def _recover_at_worker_start(**_) -> None:
    # A worker started after an outage applies what waited for the database at once.
    release_stale_reservations_task.delay()
