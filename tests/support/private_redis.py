"""`private_redis`: a Redis of the test's own (a redis-server process), which it can stop or
count the connections of, without touching the shared one."""

import shutil
import subprocess
import time

import pytest
import redis

from tests.support.servers import free_port


def start_redis(directory, *options: str, port: int | None = None, password: str = ""):
    """A redis-server on `port` (a free one by default), answering once this returns:
    (the process, its redis:// URL)."""
    port = port or free_port()
    command = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    command += ["--save", "", "--appendonly", "no", "--dir", str(directory), *options]
    if password:
        command += ["--requirepass", password]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, password=password or None).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    return process, url


@pytest.fixture
def private_redis(tmp_path):
    """(the redis-server process, its redis:// URL); killed at teardown."""
    process, url = start_redis(tmp_path)
    yield process, url
    process.kill()
    process.wait()
