"""The chat WebSocket also watches media jobs: `{"type": "job", "id"}` sends the job as it is,
then every change the worker makes, so the web app never polls."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import orjson
from websockets.asyncio.client import connect

from accounts.api_keys import api_key_create
from tests.factories import UserFactory

FINISHED = {"succeeded", "failed", "cancelled"}


def socket_url(gateway_url: str) -> str:
    return gateway_url.replace("http://", "ws://") + "/v1/ai/chat/ws"


async def watch(gateway_url, key, job_id) -> list[dict]:
    frames = []
    async with connect(
        socket_url(gateway_url), additional_headers={"Authorization": f"Bearer {key}"}
    ) as ws:
        await ws.send(orjson.dumps({"type": "job", "id": job_id}))
        async with asyncio.timeout(20):
            while not frames or frames[-1].get("job", {}).get("status") not in FINISHED:
                frames.append(orjson.loads(await ws.recv()))
                if frames[-1]["type"] == "error":
                    break
    return frames


def test_a_watched_job_pushes_its_progress_until_it_finishes(worker, http, gateway_url, dora_key):
    job_id = http.post("/v1/media/images", json={"model": "slow-dalle", "prompt": "x"}).json()["id"]

    frames = asyncio.run(watch(gateway_url, dora_key, job_id))

    assert {f["type"] for f in frames} == {"job"} and {f["id"] for f in frames} == {job_id}
    progress = [f["job"]["progress"] for f in frames]
    assert progress == sorted(progress) and progress[-1] == 100
    assert len(frames) >= 2  # the job as it was, then at least one change
    assert frames[-1]["job"] == http.get(f"/v1/media/jobs/{job_id}").json()


def test_a_finished_job_is_sent_once_as_it_is(http, gateway_url, dora_key):
    job_id = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "x"}).json()["id"]
    frames = asyncio.run(watch(gateway_url, dora_key, job_id))
    assert len(frames) == 1 and frames[0]["job"]["status"] == "succeeded"


def test_nobody_else_can_watch_a_job(http, gateway_url):
    _, mallory_key = api_key_create(user=UserFactory(email="mallory@example.com"))
    job_id = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "x"}).json()["id"]
    frames = asyncio.run(watch(gateway_url, mallory_key, job_id))
    assert frames == [
        {
            "type": "error",
            "id": job_id,
            "error": f"No media job '{job_id}'.",
            "code": "job_not_found",
            "status": 404,
        }
    ]
    assert asyncio.run(watch(gateway_url, mallory_key, "not-a-uuid"))[0]["code"] == "job_not_found"


def test_a_change_older_than_the_job_as_first_sent_is_not_sent():
    """A change published between the socket joining the job's group and reading the job
    reaches the socket after the job as read (which is newer): it must not go back."""
    from aiapi.consumers import ChatConsumer

    consumer = ChatConsumer()
    consumer.job_groups, consumer.job_sent, sent = set(), {}, []

    async def capture(text):
        sent.append(orjson.loads(text)["job"])

    consumer.send_frame = capture

    job_id = "6f1c2b9e-8d3a-4f5e-9b7c-1a2b3c4d5e6f"

    def job(status, progress):
        return {"job": {"id": job_id, "status": status, "progress": progress}}

    async def deliver():
        for event in (
            job("running", 10),  # as read
            job("running", 0),  # published before the read, arriving after it
            job("running", 10),
            job("running", 90),
            job("succeeded", 100),
            job("running", 90),  # a late straggler
        ):
            await consumer.media_job(event)

    # In a thread of its own: a test without the database may run after the browser tests,
    # whose Playwright keeps an event loop marked as running in this one.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, deliver()).result()
    assert [(j["status"], j["progress"]) for j in sent] == [
        ("running", 10),
        ("running", 10),
        ("running", 90),
        ("succeeded", 100),
    ]
