"""The usage dashboard and its CSV over the widest dates the calendar has: an all-time range
is every record, not a 500 from a day past 9999-12-31."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import UsageRecord

pytestmark = pytest.mark.django_db

ALL_TIME = {"start": "0001-01-01", "end": "9999-12-31"}


@pytest.fixture
def browser(alice) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def alices_usage(alice, bob):
    for days_ago, owner in ((400, alice), (1, alice), (0, alice), (0, bob)):
        UsageRecord.objects.create(
            request_id=f"r{days_ago}-{owner.pk}",
            user=owner,
            endpoint="chat.completions",
            model="fast",
            prompt_tokens=10,
            completion_tokens=20,
            total_tokens=30,
            cost=Decimal("0.001"),
            created_at=timezone.now() - timedelta(days=days_ago),
        )


@pytest.mark.parametrize(
    "query",
    [ALL_TIME, {"start": "0001-01-01"}, {"end": "9999-12-31"}],
    ids=["all-time", "from-the-first-day", "to-the-last-day"],
)
def test_usage_over_the_widest_dates_lists_every_record(browser, alices_usage, query):
    response = browser.get("/v1/user/usage", query)

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["data"]) == 3
    assert body["totals"]["requests"] == 3 and body["totals"]["cost"] == "0.003"
    assert len(body["daily"]) == 3


def test_the_usage_csv_over_all_time_has_every_record(browser, alices_usage):
    response = browser.get("/v1/user/usage.csv", ALL_TIME)

    assert response.status_code == 200, response.content
    lines = response.content.decode().strip().splitlines()
    assert len(lines) == 1 + 3  # the header and alice's three records


def test_the_last_day_of_the_calendar_still_filters_from_the_start(browser, alices_usage):
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    response = browser.get("/v1/user/usage", {"start": since, "end": "9999-12-31"})

    assert response.status_code == 200, response.content
    assert len(response.json()["data"]) == 2
