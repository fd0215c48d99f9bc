"""The rate limiter's pipelined Redis connection: every request's check on one connection, each
answer to its own caller, and Redis going away, stalling or coming back seen as redis-py would
report it (the limiter then lets requests through, or refuses them with fail-closed)."""

import asyncio
import os
import signal
import time

import pytest
import redis
from redis.exceptions import ConnectionError, RedisError, ResponseError
from redis.exceptions import TimeoutError as NoAnswer

from accounts.rate_limiter import Limit, RedisStore
from chukchat.redis_pipe import RedisPipe
from tests.support.private_redis import start_redis


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, restartable: a dict with its process, port and url."""
    process, url = start_redis(tmp_path)
    server = {"process": process, "url": url, "port": int(url.rsplit(":", 1)[1].split("/")[0])}
    yield server
    server["process"].kill()
    server["process"].wait()


def clients_of(url: str, **options) -> int:
    """Connections open to that Redis, this question's own left out."""
    return redis.Redis.from_url(url, **options).info("clients")["connected_clients"] - 1


async def test_checks_at_once_share_one_connection_and_each_gets_its_own_verdict(own_redis):
    store = RedisStore(own_redis["url"])
    fifty = Limit(key="carol:chat", rate=50)

    verdicts = await asyncio.gather(*(store.acheck([fifty]) for _ in range(120)))

    assert sum(v.allowed for v in verdicts) == 50
    # In the order asked: the first 50 pass, each seeing one fewer left, then all wait.
    assert [v.states[0].remaining for v in verdicts[:50]] == list(range(49, -1, -1))
    assert not any(v.allowed for v in verdicts[50:])
    assert clients_of(own_redis["url"]) == 1


async def test_a_restarted_redis_is_used_again_and_learns_the_script_afresh(own_redis, tmp_path):
    store = RedisStore(own_redis["url"])
    limit = Limit(key="carol:chat", rate=5)
    assert (await store.acheck([limit])).states[0].remaining == 4

    own_redis["process"].kill()
    own_redis["process"].wait()
    with pytest.raises(ConnectionError):
        await store.acheck([limit])
    with pytest.raises(ConnectionError):  # nothing listening: each try is refused at once
        await store.acheck([limit])

    own_redis["process"], _ = start_redis(tmp_path, port=own_redis["port"])
    # An empty Redis: its count starts again, and it has never seen the script (NOSCRIPT).
    assert (await store.acheck([limit])).states[0].remaining == 4
    assert (await store.acheck([limit])).states[0].remaining == 3


async def test_a_redis_that_stops_answering_is_a_timeout_after_half_a_second(own_redis):
    store = RedisStore(own_redis["url"])
    limit = Limit(key="carol:chat", rate=5)
    await store.acheck([limit])

    os.kill(own_redis["process"].pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(store.acheck([limit]) for _ in range(3)), return_exceptions=True
        )
        waited = time.monotonic() - started
    finally:
        os.kill(own_redis["process"].pid, signal.SIGCONT)

    assert [type(o) for o in outcomes] == [NoAnswer] * 3
    assert 0.45 <= waited < 1.5
    # A new connection once it answers again; the stalled checks may or may not have counted.
    assert (await store.acheck([limit])).allowed


async def test_an_error_reply_goes_to_its_caller_only(own_redis):
    pipe = RedisPipe(own_redis["url"])
    await pipe.execute("SET", "k", "v")

    failing, fine = await asyncio.gather(
        pipe.execute("EVAL", "return redis.error_reply('ERR boom')", 0),
        pipe.execute("GET", "k"),
        return_exceptions=True,
    )

    assert isinstance(failing, ResponseError) and str(failing) == "ERR boom"
    assert fine == b"v"


async def test_a_caller_that_gives_up_leaves_the_others_answers_in_place(own_redis):
    pipe = RedisPipe(own_redis["url"])
    await pipe.execute("SET", "k", "v")
    slow = asyncio.ensure_future(pipe.execute("EVAL", "return 1", 0))
    await asyncio.sleep(0)
    slow.cancel()  # a client hung up while its check was out

    assert await pipe.execute("GET", "k") == b"v"
    assert await pipe.execute("INCR", "n") == 1


async def test_the_password_and_database_in_the_url_are_used(tmp_path):
    process, url = start_redis(tmp_path, password="s3cret")
    try:
        port = url.rsplit(":", 1)[1].split("/")[0]
        store = RedisStore(f"redis://:s3cret@127.0.0.1:{port}/3")
        await store.acheck([Limit(key="carol:chat", rate=5)])

        stored = redis.Redis(port=int(port), password="s3cret", db=3)
        assert stored.exists("rl:carol:chat")
        with pytest.raises(RedisError):  # the limiter treats this as Redis unavailable
            await RedisStore(f"redis://:wrong@127.0.0.1:{port}/3").acheck(
                [Limit(key="carol:chat", rate=5)]
            )
    finally:
        process.kill()
        process.wait()


async def test_a_unix_socket_url_works(tmp_path):
    socket = tmp_path / "redis.sock"
    process, _ = start_redis(tmp_path, "--unixsocket", str(socket))
    try:
        store = RedisStore(f"unix://{socket}?db=2")
        assert (await store.acheck([Limit(key="carol:chat", rate=5)])).states[0].remaining == 4
        assert redis.Redis(unix_socket_path=str(socket), db=2).exists("rl:carol:chat")
    finally:
        process.kill()
        process.wait()
