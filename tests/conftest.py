"""Shared fixtures: people (alice, bob) and their keys, on the real services when configured."""

import uuid

import pytest

from accounts.authentication import clear_key_cache
from aiapi.selectors import catalogue_changed
from billing.entitlements import entitlements_changed
from tests.factories import UserFactory

# The gateway served over real HTTP before a fake upstream, a real Celery worker and the Stripe
# stand-in, for any test that asks for them.
pytest_plugins = [
    "tests.support.gateway",
    "tests.support.celery_worker",
    "tests.support.stripe_standin",
    "tests.support.private_redis",
]


@pytest.fixture(scope="session", autouse=True)
def _close_database_pool(django_db_setup, django_db_blocker):
    # Torn down before the test database is dropped: pooled connections would keep it busy.
    yield
    from django.db import connections

    from chukchat import async_pg

    async_pg.close_all()
    with django_db_blocker.unblock():
        for conn in connections.all():
            close_pool = getattr(conn, "close_pool", None)
            if close_pool is not None and conn.pool is not None:
                close_pool()
            conn.close()


@pytest.fixture(autouse=True)
def _isolated_process_state(settings):
    # Per-test cache prefix: tests share one Redis, and must not see each other's keys.
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"t{uuid.uuid4().hex[:10]}"},
    }
    settings.CELERY_TASK_ALWAYS_EAGER = True
    # Limits are off unless a test is about them (tests/accounts/test_rate_limits.py), and
    # each test counts under keys of its own.
    settings.RATE_LIMITS_ENABLED = False
    settings.RATE_LIMIT_KEY_PREFIX = f"rl{uuid.uuid4().hex[:10]}"
    # No collectstatic in tests: plain storage, files found by the finders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    clear_key_cache()
    catalogue_changed()
    entitlements_changed()
    yield
    clear_key_cache()
    catalogue_changed()
    entitlements_changed()


@pytest.fixture
def alice(db):
    return UserFactory(email="alice@example.com")


@pytest.fixture
def bob(db):
    return UserFactory(email="bob@example.com")


@pytest.fixture
def alice_key(alice):
    from accounts.api_keys import api_key_create

    _, plaintext = api_key_create(user=alice, name="alice's laptop")
    return plaintext


@pytest.fixture
def bearer(alice_key):
    return {"HTTP_AUTHORIZATION": f"Bearer {alice_key}"}


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items):
    # Credit holds use a second alias of the same database ("holds", a test mirror of
    # "default"); every test that touches the database may touch both.
    for item in items:
        marker = item.get_closest_marker("django_db")
        uses_db = marker is not None or {"db", "transactional_db"} & set(item.fixturenames)
        if uses_db:
            transaction = bool(marker and (marker.kwargs.get("transaction") or marker.args))
            item.add_marker(
                pytest.mark.django_db(databases="__all__", transaction=transaction), append=False
            )
    yield  # pytest-django orders the tests: those in a rolled-back transaction first
    # Then every browser test goes last, in its order: Playwright's sync API (started once for
    # the session) keeps an event loop running on the main thread, and every asyncio.run,
    # async_to_sync or Channels communicator after it fails. A browser module whose data is
    # committed once for the module (not a transactional test) would otherwise run first.
    items.sort(key=lambda item: "playwright" in item.fixturenames)
