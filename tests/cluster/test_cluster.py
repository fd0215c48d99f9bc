"""Scale-out on the real engines: HAProxy before three server processes, two Celery workers and
beat, one PostgreSQL and one Redis (scripts/cluster.py, as `make cluster` starts it). What a
user notices: a WebSocket answer resumed through another node, a rate limit and a balance that
hold across nodes, a node killed or restarted under load without losing more than what it was
serving at that instant (killed) or anything at all (restarted). And PgBouncer in transaction
mode before PostgreSQL (Debian's, 1.18: no prepared statements across transactions): with
CHUK_DB_PREPARED_STATEMENTS=0 a server answers, holds and settles through it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from django.db import connection

from accounts.api_keys import api_key_create
from billing.ledger import credit_grant
from billing.models import Reservation, ServerProcess, UsageRecord
from billing.selectors import balance_of
from tests.billing.test_faults import QUESTION, assert_money_exact, concurrently
from tests.factories import UserFactory
from tests.support.loops import run_on_own_loop
from tests.support.server_process import server_process  # noqa: F401  (the fixture)
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(200)

WS_PATH = "/v1/ai/chat/ws"


def person(email: str, credit: str = "10", **key_fields):
    user = UserFactory(email=email)
    credit_grant(user=user, amount=Decimal(credit), description="test credit")
    record, key = api_key_create(user=user, name=f"{email}'s key")
    if key_fields:
        for field, value in key_fields.items():
            setattr(record, field, value)
        record.save()
    return user, key


def until(predicate, *, timeout: float, what: str) -> float:
    """Seconds until `predicate()` held (each look on a fresh connection: a fresh snapshot)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not in {timeout} s: {what}")
        time.sleep(0.1)
        connection.close()
    return time.monotonic() - started


def nothing_held(user) -> bool:
    return not Reservation.objects.filter(account__user=user).exists()


def sessions_by_node(cluster) -> dict[str, int]:
    return {name: int(row["stot"]) for name, row in cluster.servers().items() if name != "BACKEND"}


# --- A WebSocket answer resumed through another node -------------------------------------


def test_an_answer_started_through_one_node_resumes_through_another(cluster, committed):
    """Ivy's socket to node 1 drops mid-answer; she reconnects to node 2 and resumes after the
    last frame she had: the rest arrives, nothing missing and nothing twice, and the answer is
    charged once. Replayed later through the proxy, it is the same answer."""
    from websockets.asyncio.client import connect

    ivy, key = person("ivy@example.com")
    headers = {"Authorization": f"Bearer {key}"}
    ask = {"type": "chat", "id": "trip", "model": "slow-stream", "messages": QUESTION}

    async def talk():
        node1 = cluster.node_url("node1").replace("http", "ws") + WS_PATH
        node2 = cluster.node_url("node2").replace("http", "ws") + WS_PATH
        proxy = cluster.url.replace("http", "ws") + WS_PATH
        async with connect(node1, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({**ask, "max_tokens": 40}))
            seen = [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(6)]
        async with connect(node2, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({"type": "resume", "id": "trip", "after": seen[-1]["seq"]}))
            rest = []
            while not rest or rest[-1]["type"] not in ("done", "error"):
                rest.append(orjson.loads(await asyncio.wait_for(ws.recv(), 15)))
        async with connect(proxy, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({"type": "resume", "id": "trip", "after": -1}))
            replayed = []
            while not replayed or replayed[-1]["type"] not in ("done", "error"):
                replayed.append(orjson.loads(await asyncio.wait_for(ws.recv(), 15)))
        return seen, rest, replayed

    seen, rest, replayed = run_on_own_loop(talk)

    frames = seen + rest
    assert [f["seq"] for f in frames] == list(range(len(frames)))
    assert frames[-1]["type"] == "done" and frames[-1]["finishReason"] == "length"
    text = "".join(f["text"] for f in frames if f["type"] == "text")
    assert len(text.split()) == 40
    assert replayed == frames
    request_id = frames[0]["requestId"]
    until(
        lambda: UsageRecord.objects.filter(request_id=request_id).exists(),
        timeout=15,
        what="charged",
    )
    until(lambda: nothing_held(ivy), timeout=15, what="holds released")
    assert UsageRecord.objects.get(request_id=request_id).completion_tokens == 40
    assert_money_exact(users=[ivy], answered={request_id})
    print(
        f"\ncluster: resumed on node2 after frame {seen[-1]['seq']} of {len(frames)}: "
        f"{len(rest)} frames more, 40 words, none missing or doubled, charged once"
    )


# --- Rate limits ----------------------------------------------------------------------------


def test_a_rate_limit_holds_across_the_nodes(cluster, committed):
    """Jay's key may make 3 chat requests a minute. Twelve arrive through the proxy, four at a
    time, spread over the three nodes: exactly three are answered, nine are 429s."""
    _, key = person("jay@example.com", chat_requests_per_minute=3)
    before = sessions_by_node(cluster)

    def one(_index: int) -> int:
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            answer = client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "fast", "messages": QUESTION},
            )
            return answer.status_code

    started = time.monotonic()
    statuses = [status for batch in range(3) for status in concurrently(4, one)]
    elapsed = time.monotonic() - started

    after = sessions_by_node(cluster)
    spread = {name: after[name] - before[name] for name in after}
    assert all(count >= 1 for count in spread.values()), spread
    assert elapsed < 20, "slower than one request back (20 s): the count would be unfair"
    assert sorted(statuses) == [200] * 3 + [429] * 9, statuses
    print(f"\ncluster: 12 requests over {spread}: 3 answered, 9 refused (429)")


# --- One user's credit across nodes ---------------------------------------------------------


def test_one_users_credit_is_exact_across_the_nodes_under_concurrent_load(cluster, committed):
    """Kim has 3 USD; thirty answers of about 0.17 USD each (5 USD in all) arrive through the
    proxy, six at a time. Some are refused for credit, the others answered; the balance never
    goes below zero and drops by exactly what the usage records cost."""
    kim, key = person("kim@example.com", credit="3")

    def one(_index: int):
        with httpx.Client(base_url=cluster.url, timeout=60) as client:
            answer = client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "metered", "messages": QUESTION, "max_tokens": 10},
            )
            return answer.status_code, answer.headers.get("x-request-id")

    results = [result for _ in range(5) for result in concurrently(6, one)]
    statuses = [status for status, _ in results]
    assert set(statuses) == {200, 402}, statuses
    answered = {request_id for status, request_id in results if status == 200}

    until(lambda: nothing_held(kim), timeout=20, what="every hold and lease given back")
    records = UsageRecord.objects.filter(user=kim)
    spent = sum((r.cost for r in records), Decimal(0))
    balance = balance_of(user=kim)
    assert balance >= 0
    assert balance == Decimal(3) - spent
    assert {r.request_id for r in records} == answered
    assert_money_exact(users=[kim], answered=answered)
    print(
        f"\ncluster: 30 requests, {len(answered)} answered, {statuses.count(402)} refused (402);"
        f" usage records {spent} USD == balance drop {Decimal(3) - balance} USD;"
        f" balance {balance} USD"
    )


# --- A node killed under load -------------------------------------------------------------


class Load:
    """`clients` threads, each sending chat requests through the proxy one after another until
    told to stop (or `limit` requests in all), each retried up to 3 times as a client does
    when a request fails; every attempt's outcome is kept."""

    def __init__(
        self, cluster, key: str, *, clients: int, model: str, limit: int = 1000, stream=False
    ) -> None:
        self.stream = stream
        self.cluster = cluster
        self.key = key
        self.model = model
        self.limit = limit
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.attempts: list[tuple[float, str]] = []  # (when, "200" | status | error name)
        self.answered: set[str] = set()
        self.given_up = 0
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _take(self) -> bool:
        with self.lock:
            if self.stopping.is_set() or self.sent >= self.limit:
                return False
            self.sent += 1
            return True

    def _run(self) -> None:
        while self._take():
            for _attempt in range(3):
                outcome, request_id = self._once()
                with self.lock:
                    self.attempts.append((time.monotonic(), outcome))
                if outcome == "200":
                    with self.lock:
                        self.answered.add(request_id)
                    break
                time.sleep(0.2)
            else:
                with self.lock:
                    self.given_up += 1

    def _once(self) -> tuple[str, str | None]:
        try:
            # A new connection each time, as many clients behind one proxy are.
            with httpx.Client(base_url=self.cluster.url, timeout=30) as client:
                body = {"model": self.model, "messages": QUESTION, "max_tokens": 8}
                if not self.stream:
                    answer = client.post(
                        "/v1/chat/completions",
                        headers={"Authorization": f"Bearer {self.key}"},
                        json=body,
                    )
                    return str(answer.status_code), answer.headers.get("x-request-id")
                with client.stream(
                    "POST",
                    "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {self.key}"},
                    json={**body, "stream": True},
                ) as answer:
                    lines = list(answer.iter_lines())
                if answer.status_code == 200 and "data: [DONE]" not in lines:
                    return "truncated", None
                return str(answer.status_code), answer.headers.get("x-request-id")
        except httpx.HTTPError as error:
            return type(error).__name__, None

    @property
    def failures(self) -> list[tuple[float, str]]:
        return [attempt for attempt in self.attempts if attempt[1] != "200"]

    def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.answered) < count:
            assert time.monotonic() < deadline, f"only {len(self.answered)} answered"
            time.sleep(0.05)


def test_a_node_killed_under_load_costs_only_what_it_was_serving(cluster, committed):
    """Lou's four clients keep the cluster busy with streamed answers (a second each) when
    node 2 is SIGKILLed. Only the requests it
    was serving at that instant fail (at most one a client); each is retried through the proxy
    and answered by another node. Within the sweep's bound another node releases what the dead
    one held and charges its calls for what they had delivered: the money is exact."""
    lou, key = person("lou@example.com", credit="50")
    doomed = cluster.nodes["node2"]
    with Load(cluster, key, clients=4, model="metered-stream", limit=40, stream=True) as load:
        load.wait_for(12)
        # At an instant when the node is serving (as HAProxy counts its sessions).
        deadline = time.monotonic() + 10
        while int(cluster.servers()["node2"]["scur"]) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        doomed.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.wait(10)
        # Swept by a live node (or a worker) while the load goes on against the other two.
        dead_row = ServerProcess.objects.filter(pk__contains=f":{doomed.pid}:")
        until(lambda: not dead_row.exists(), timeout=30, what="the dead node swept")
        swept_in = time.monotonic() - killed_at
        while load.sent < load.limit and time.monotonic() - killed_at < 90:
            time.sleep(0.1)
    failed = load.failures
    until(lambda: nothing_held(lou), timeout=20, what="every hold and lease released")

    assert load.given_up == 0
    assert len(load.answered) == load.limit == 40
    assert failed, "no request was in flight on the node when it was killed"
    # PROCESS_DEAD_SECONDS + PROCESS_HEARTBEAT_SECONDS (3 + 1 in the cluster), and the load
    # still running meanwhile on a busy machine.
    assert swept_in < 3 + 1 + 20
    assert len(failed) <= 4, failed  # the in-flight ones: one per client at most
    assert all(when >= killed_at - 0.05 for when, _ in failed), failed
    records = UsageRecord.objects.filter(user=lou)
    # Charged without an answer: only calls the dead node was serving (the sweep charges them
    # for what they had generated by its last heartbeat).
    interrupted = [r for r in records if r.request_id not in load.answered]
    assert len(interrupted) <= len(failed), interrupted
    assert_money_exact(users=[lou], answered=load.answered)
    spent = sum((r.cost for r in records), Decimal(0))
    assert balance_of(user=lou) == Decimal(50) - spent
    print(
        f"\ncluster: node2 SIGKILLed under load: 40 streamed requests, {len(failed)} attempts failed"
        f" ({sorted({outcome for _, outcome in failed})}), all retried and answered;"
        f" {len(interrupted)} interrupted calls charged; holds swept {swept_in:.1f} s after"
        f" the kill; spent {spent} USD == balance drop"
    )
    cluster.start_node("node2")


# --- A rolling restart under load -----------------------------------------------------------


def test_a_rolling_restart_under_steady_load_fails_no_request(cluster, committed):
    """Mia's three clients send requests without pause while every node is restarted in turn
    (drained in the proxy, SIGTERM, started again, back once ready): not one request fails,
    and the money is exact."""
    mia, key = person("mia@example.com", credit="50")
    old_pids = {name: process.pid for name, process in cluster.nodes.items()}
    with Load(cluster, key, clients=3, model="fast") as load:
        load.wait_for(6)
        out_of_rotation = [cluster.restart_node(name) for name in ("node1", "node2", "node3")]
        load.wait_for(len(load.answered) + 6)  # served by the restarted nodes too
    assert all(cluster.nodes[name].pid != old_pids[name] for name in old_pids)
    assert load.failures == []
    assert load.given_up == 0
    until(lambda: nothing_held(mia), timeout=20, what="every lease given back")
    assert_money_exact(users=[mia], answered=load.answered)
    assert UsageRecord.objects.filter(user=mia).count() == len(load.answered) == load.sent
    print(
        f"\ncluster: rolling restart of 3 nodes under load: {load.sent} requests, "
        f"{len(load.failures)} failed; each node out of rotation "
        f"{', '.join(f'{s:.1f}' for s in out_of_rotation)} s"
    )


# --- PgBouncer in transaction mode ----------------------------------------------------------
# (A test of its own server process, not the cluster's: its database is the test's, with
# transactional_db, which also makes pytest-django create the test database for this module.)


@pytest.fixture
def pgbouncer(transactional_db):
    """A PgBouncer of the test's own on a free port, in transaction mode, before the
    PostgreSQL the tests use; yields its port. Four server connections for everyone, so
    transactions of different clients share them."""
    if connection.vendor != "postgresql":
        pytest.skip("PgBouncer is PostgreSQL's")
    conf = connection.settings_dict
    user = conf.get("USER") or "postgres"
    directory = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    directory.chmod(0o755)  # PgBouncer refuses to run as root: it reads these as nobody
    port = free_port()
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={conf.get("HOST") or "127.0.0.1"} port={conf.get("PORT") or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
admin_users = {user}
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
; the holds alias asks for synchronous_commit=off in its startup options: dropped here
ignore_startup_parameters = extra_float_digits,options
"""
    )
    for path in directory.iterdir():
        path.chmod(0o644)
    command = [shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"]
    if os.geteuid() == 0:
        command += ["-u", "nobody"]
    process = subprocess.Popen(
        [*command, str(directory / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user=user, dbname="pgbouncer").close()
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"pgbouncer did not start: {process.stderr.read()!r}") from None
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(10)
    shutil.rmtree(directory, ignore_errors=True)


def transactions_through(port: int, database: str) -> int:
    conf = connection.settings_dict
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=conf.get("USER") or "postgres",
        dbname="pgbouncer",
        autocommit=True,
    ) as admin:
        rows = admin.execute("SHOW STATS").fetchall()
        names = [column.name for column in admin.execute("SHOW STATS").description]
    stats = [dict(zip(names, row, strict=True)) for row in rows]
    return sum(int(s["total_xact_count"]) for s in stats if s["database"] == database)


def test_chats_and_their_settlement_run_through_pgbouncer_in_transaction_mode(
    server_process,  # noqa: F811
    pgbouncer,
    carol,
    carol_key,
):
    """Carol's twelve chats, four at a time, through a server whose database is PgBouncer:
    each is answered and charged once, and the money is exact."""
    database = connection.settings_dict["NAME"]
    conf = connection.settings_dict
    url = f"postgres://{conf.get('USER') or 'postgres'}@127.0.0.1:{pgbouncer}/{database}"
    server = server_process(env={"DATABASE_URL": url, "CHUK_DB_PREPARED_STATEMENTS": "0"})
    balance = balance_of(user=carol)

    def one(_index: int):
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = client.post(
                "/v1/chat/completions",
                headers={"Authorization": f"Bearer {carol_key}"},
                json={"model": "fast", "messages": QUESTION},
            )
            return answer.status_code, answer.headers.get("x-request-id")

    results = [result for _ in range(3) for result in concurrently(4, one)]
    assert [status for status, _ in results] == [200] * 12, results
    until(lambda: nothing_held(carol), timeout=15, what="holds released")
    answered = {request_id for _, request_id in results}
    assert_money_exact(users=[carol], answered=answered)
    assert balance_of(user=carol) < balance
    assert "prepared statement" not in server.output
    transactions = transactions_through(pgbouncer, database)
    assert transactions > 12
    print(f"\npgbouncer: 12 chats settled through it in {transactions} transactions")
