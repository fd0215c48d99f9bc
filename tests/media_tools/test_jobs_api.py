"""The job API as its owner and as anyone else sees it: 202 and polling, results, downloads,
cancel and delete, expiry, and status pushes on the Channels layer."""

import asyncio
import io
import time
from datetime import timedelta
from decimal import Decimal

import httpx
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone
from PIL import Image

from accounts.api_keys import api_key_create
from billing.metering import reserve
from billing.models import CreditAccount, UsageRecord
from billing.selectors import balance_of
from fakes.openai_fake import tiny_png
from media_tools.events import job_group
from media_tools.models import MediaJob
from media_tools.payloads import job_payload
from media_tools.storage import store_input
from media_tools.tasks import expire_media_task
from tests.factories import UserFactory
from tests.media_tools.helpers import FINISHED, stored_files, wait_for_job


def test_an_image_job_runs_on_a_real_worker_and_is_charged_per_image(
    worker, http, dora, media_root
):
    response = http.post(
        "/v1/media/images", json={"model": "fake-dalle", "prompt": "a quiet harbour", "n": 2}
    )

    assert response.status_code == 202
    job = wait_for_job(http, response.json()["id"])
    assert job["status"] == "succeeded" and job["category"] == "image"
    assert worker.job_ids == [job["id"]]
    result = http.get(f"/v1/media/jobs/{job['id']}/result").json()
    assert [f["content_type"] for f in result["files"]] == ["image/png", "image/png"]
    for index, file in enumerate(result["files"]):
        assert http.get(file["url"]).content == tiny_png(f"a quiet harbour:{index}")
    assert result["data"]["revised_prompts"] == ["a quiet harbour"] * 2
    assert Decimal(job["cost"]) == Decimal("0.08")
    assert balance_of(user=dora) == Decimal("9.92")
    assert len(stored_files(media_root)) == 2


def test_the_demo_image_model_draws_a_labelled_placeholder(http):
    response = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "a fox"})

    job = wait_for_job(http, response.json()["id"])
    file = http.get(http.get(f"/v1/media/jobs/{job['id']}/result").json()["files"][0]["url"])
    assert Image.open(io.BytesIO(file.content)).size == (512, 512)


def test_nobody_else_can_see_touch_or_download_a_job(http, gateway_url, media_catalogue):
    job = wait_for_job(
        http,
        http.post("/v1/media/images", json={"model": "fake-dalle", "prompt": "x"}).json()["id"],
    )
    file_url = http.get(f"/v1/media/jobs/{job['id']}/result").json()["files"][0]["url"]
    _, bob_key = api_key_create(user=UserFactory(email="bob@example.com"), name="bob")

    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {bob_key}"}) as bob:
        for method, path in [
            ("GET", f"/v1/media/jobs/{job['id']}"),
            ("GET", f"/v1/media/jobs/{job['id']}/result"),
            ("GET", f"/v1/media/jobs/{job['id']}/files/0"),
            ("DELETE", f"/v1/media/jobs/{job['id']}"),
        ]:
            response = bob.request(method, path)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "job_not_found"
    assert httpx.get(file_url).status_code == 401  # the owner route needs credentials
    assert http.get(f"/v1/media/jobs/{job['id']}").json()["status"] == "succeeded"


def test_signed_links_cannot_be_forged_and_expire(http, settings):
    images = http.post("/v1/images/generations", json={"model": "fake-dalle", "prompt": "x"})
    url = images.json()["data"][0]["url"]

    assert httpx.get(url).status_code == 200
    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert httpx.get(forged).status_code == 404
    settings.MEDIA_URL_TTL_SECONDS = -1
    expired = httpx.get(url)
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"


def test_cancelling_a_running_job_charges_nothing_and_keeps_nothing(worker, http, dora, media_root):
    job = http.post("/v1/media/images", json={"model": "slow-dalle", "prompt": "slow"}).json()
    deadline = time.monotonic() + 10
    while http.get(f"/v1/media/jobs/{job['id']}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    cancelled = http.delete(f"/v1/media/jobs/{job['id']}")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # The worker notices at its next progress report, stops, and keeps nothing.
    assert worker.wait_until_ran(job["id"]) == "cancelled"
    assert http.get(f"/v1/media/jobs/{job['id']}").json()["status"] == "cancelled"
    assert http.get(f"/v1/media/jobs/{job['id']}/result").json()["error"]["code"] == (
        "job_cancelled"
    )
    record = UsageRecord.objects.get(request_id=MediaJob.objects.get(pk=job["id"]).request_id)
    assert record.status == "cancelled" and record.cost == 0
    assert balance_of(user=dora) == Decimal(10)
    assert CreditAccount.objects.get(user=dora).reserved == 0
    assert stored_files(media_root) == []


def test_deleting_a_finished_job_forgets_it_and_its_files(http, media_root):
    job = http.post("/v1/media/images", json={"model": "fake-dalle", "prompt": "x"}).json()
    wait_for_job(http, job["id"])
    assert stored_files(media_root)

    deleted = http.delete(f"/v1/media/jobs/{job['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b"" and "content-length" not in deleted.headers  # as RFC 9110 asks

    assert http.get(f"/v1/media/jobs/{job['id']}").status_code == 404
    assert stored_files(media_root) == []


def test_results_expire_and_a_periodic_task_deletes_them(http, media_root, settings):
    job = http.post("/v1/media/images", json={"model": "fake-dalle", "prompt": "x"}).json()
    finished = wait_for_job(http, job["id"])
    assert finished["expires_at"] - finished["finished_at"] == settings.MEDIA_RESULT_TTL_SECONDS
    assert "expire-media-results" in settings.CELERY_BEAT_SCHEDULE
    MediaJob.objects.filter(pk=job["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert expire_media_task() == {"expired": 1, "lost": 0}

    assert stored_files(media_root) == []
    gone = http.get(f"/v1/media/jobs/{job['id']}/result")
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "result_expired"
    assert http.get(f"/v1/media/jobs/{job['id']}").json()["expired"] is True


def test_a_job_whose_worker_died_is_failed_and_charges_nothing(
    dora, media_catalogue, media_root, settings
):
    # What a worker killed mid-job leaves: a running job, its upload, and its credit hold.
    settings.MEDIA_STALE_JOB_SECONDS = 60
    job = MediaJob(
        owner=dora,
        kind=MediaJob.Kind.CONVERT,
        status=MediaJob.Status.RUNNING,
        plan="free",
        params={"target": "markdown"},
        input_type="csv",
        created_at=timezone.now() - timedelta(minutes=5),
    )
    job.request_id = f"media-{job.id.hex}"
    job.input_file = store_input(job=job, file=io.BytesIO(b"a,b\n1,2\n"), extension="csv")
    job.save()
    reserve(user_id=dora.pk, api_key_id=None, request_id=job.request_id, amount=Decimal("0.5"))

    assert expire_media_task() == {"expired": 0, "lost": 1}

    job.refresh_from_db()
    assert job.status == "failed" and job.error_code == "job_lost"
    assert CreditAccount.objects.get(user=dora).reserved == 0
    assert balance_of(user=dora) == Decimal(10)
    assert stored_files(media_root) == []


def test_status_and_progress_are_pushed_to_the_jobs_channels_group(worker, http):
    async def follow() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        created = await asyncio.to_thread(
            http.post, "/v1/media/images", json={"model": "slow-dalle", "prompt": "pushed"}
        )
        job_id = created.json()["id"]
        await layer.group_add(job_group(job_id), channel)
        events = []
        async with asyncio.timeout(20):
            while not events or events[-1]["job"]["status"] not in FINISHED:
                events.append(await layer.receive(channel))
        await layer.group_discard(job_group(job_id), channel)
        return events

    events = async_to_sync(follow)()

    assert {event["type"] for event in events} == {"media.job"}
    progress = [event["job"]["progress"] for event in events]
    assert progress == sorted(progress) and progress[-1] == 100
    assert 80 in progress  # reported while it ran
    last = events[-1]["job"]
    assert last["status"] == "succeeded"
    assert last == job_payload(MediaJob.objects.get(pk=last["id"]))
    assert last == http.get(f"/v1/media/jobs/{last['id']}").json()
