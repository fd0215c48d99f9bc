"""A job queued while serving a request runs, on the worker, under that request's id: its log
lines can be found by the X-Request-Id the client sent."""

import time

from celery.signals import task_success

from chukchat import log_context
from tests.media_tools.helpers import wait_for_job


def test_a_media_job_runs_under_the_request_id_that_queued_it(worker, http, media_root):
    seen: dict[str, str | None] = {}

    def record(sender=None, **_kwargs):
        if sender.name == "media_tools.tasks.run_media_job" and not sender.request.is_eager:
            seen[sender.request.args[0]] = log_context.current_request_id()

    task_success.connect(record, weak=False)
    try:
        response = http.post(
            "/v1/media/images",
            json={"model": "fake-dalle", "prompt": "a quiet harbour"},
            headers={"X-Request-Id": "job-trace-42"},
        )
        assert response.headers["x-request-id"] == "job-trace-42"
        job = wait_for_job(http, response.json()["id"])
        # The job says it succeeded a moment before its run has ended.
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        task_success.disconnect(record)

    assert job["status"] == "succeeded"
    assert seen == {job["id"]: "job-trace-42"}
