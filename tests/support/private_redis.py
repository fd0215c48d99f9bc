"""`private_redis`: a Redis of the test's own (a redis-server process), which it can stop or
count the connections of, without touching the shared one."""

import shutil
import subprocess
import time

import pytest
import redis

from tests.support.servers import free_port


@pytest.fixture
def private_redis(tmp_path):
    """(the redis-server process, its redis:// URL); killed at teardown."""
    port = free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield process, url
    process.kill()
    process.wait()
