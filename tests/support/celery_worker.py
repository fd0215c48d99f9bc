"""A real Celery worker for the tests that need one (registered for every test in
tests/conftest.py, so one session has one worker, whichever suites use it): a thread of the
test process consuming from our own Redis database, in place of eager Celery."""

import time

import pytest
from django.conf import settings as django_settings


@pytest.fixture(scope="session")
def _celery_worker(django_db_setup, django_db_blocker):
    if not django_settings.REDIS_URL:
        pytest.skip("a real Celery worker needs Redis (REDIS_URL)")
    from celery.contrib.testing.worker import start_worker

    from chukchat.celery import app

    with django_db_blocker.unblock():
        app.control.purge()  # our own Redis database: nothing of anyone else's
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield app


class WorkerLog:
    """The media jobs the real worker ran (not inline): what a test checks it went through."""

    def __init__(self) -> None:
        self.job_ids: list[str] = []  # started, in order
        self.finished: dict[str, str] = {}  # job id -> what the run returned

    def started(self, sender=None, task=None, args=None, **kwargs) -> None:
        if task.name == "media_tools.tasks.run_media_job" and not task.request.is_eager:
            self.job_ids.append(args[0])

    def ended(self, sender=None, task=None, args=None, retval=None, **kwargs) -> None:
        if task.name == "media_tools.tasks.run_media_job" and not task.request.is_eager:
            self.finished[args[0]] = retval

    def wait_until_ran(self, job_id: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while job_id not in self.finished:
            assert time.monotonic() < deadline, f"the worker did not finish running {job_id}"
            time.sleep(0.02)
        return self.finished[job_id]


@pytest.fixture
def worker(_celery_worker, settings):
    """A real Celery worker (a thread of this process, consuming from Redis): jobs go through
    the broker instead of running inline."""
    from celery.signals import task_postrun, task_prerun

    settings.CELERY_TASK_ALWAYS_EAGER = False
    log = WorkerLog()
    task_prerun.connect(log.started, weak=False)
    task_postrun.connect(log.ended, weak=False)
    yield log
    task_prerun.disconnect(log.started)
    task_postrun.disconnect(log.ended)
