from datetime import timedelta

from celery import shared_task
from django.conf import settings

from billing.metering import release_stale_reservations


@shared_task
def release_stale_reservations_task() -> int:
    return release_stale_reservations(
        older_than=timedelta(seconds=settings.RESERVATION_TIMEOUT_SECONDS)
    )
