"""Money under faults: every answer a client received is charged exactly once and never more
than was held, whatever went wrong around it. Each test injects one fault (a client hanging up
at the last event, a provider lying about its usage, the database's connections cut, the
database away, Redis away) against the gateway over real HTTP on the real PostgreSQL and
Redis, then checks the money: every answer has one usage record, the ledger's usage rows are
those records, each balance is the sum of its ledger and no hold is left open.

Faults that need server processes of their own (two sharing a user's credit, one killed
mid-stream) are in test_process_faults.py."""

import contextlib
import logging
import threading
import time
from decimal import Decimal

import httpx
import orjson
import pytest
from django.db import OperationalError, connection, connections

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from billing import credit_leases, settlement, settlement_outbox
from billing.ledger import credit_grant
from billing.models import CreditAccount, LedgerEntry, Reservation, UsageRecord
from billing.selectors import balance_of
from tests.factories import UserFactory

pytestmark = pytest.mark.timeout(90)

QUESTION = [{"role": "user", "content": "tell me"}]

FAULT_MODELS = """
[[models]]
id = "liar"
provider = "fake"
upstream = "fake:tokens=5,report_completion=5000"
input_price = 0.0
output_price = 10000.0

[[models]]
id = "steady-stream"
provider = "fake"
upstream = "fake:tokens=30,tps=60"
input_price = 1.0
output_price = 2.0
"""

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the fault is PostgreSQL's"
)


@pytest.fixture
def fault_models(catalogue, upstream):
    catalogue_load(text=_with_providers(FAULT_MODELS, upstream))


def _with_providers(models: str, upstream) -> str:
    return (
        f'[[providers]]\nname = "fake"\nkind = "openai_compatible"\n'
        f'base_url = "{upstream.base_url}"\napi_key = "sk-fake-upstream"\n' + models
    )


def settle_everything(gateway_server) -> None:
    """Until the server has no request or settlement running, then its leases given back."""
    gateway_server.wait_idle()
    deadline = time.monotonic() + 10
    while settlement.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    gateway_server.call(credit_leases.give_back_all)


def assert_money_exact(*, users, answered: set[str]) -> None:
    """Each answered request has one usage record, and nothing else has; the ledger's usage
    rows are exactly those records' costs; each balance is its ledger's sum; nothing is held."""
    records = {r.request_id: r for r in UsageRecord.objects.filter(user__in=users)}
    assert answered <= set(records), f"answered but not recorded: {answered - set(records)}"
    usage_rows = LedgerEntry.objects.filter(account__user__in=users, kind="usage")
    assert sorted(-row.amount for row in usage_rows) == sorted(
        r.cost for r in records.values() if r.cost > 0
    )
    assert {row.reference for row in usage_rows} == {
        f"usage:{r.request_id}" for r in records.values() if r.cost > 0
    }
    for account in CreditAccount.objects.filter(user__in=users):
        ledger = sum(account.entries.values_list("amount", flat=True), Decimal(0))
        assert account.balance == ledger >= 0
        assert account.reserved == 0
    assert not Reservation.objects.filter(account__user__in=users).exists()


def concurrently(count: int, work) -> list:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # the assertion below names it
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- A client hanging up at the last event -----------------------------------------------


def _hang_up_at_openai_done(client: httpx.Client) -> tuple[str, str]:
    body = {"model": "steady-stream", "messages": QUESTION, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        text = []
        for line in response.iter_lines():
            if line == "data: [DONE]":
                break  # and hang up at once, as many clients do
            if line.startswith("data: "):
                for choice in orjson.loads(line[6:]).get("choices", []):
                    text.append(choice["delta"].get("content") or "")
        return response.headers["x-request-id"], "".join(text)


def _hang_up_at_chuk_done(path: str, extra: dict):
    def hang_up(client: httpx.Client) -> tuple[str, str]:
        body = {"model": "steady-stream", "messages": QUESTION, **extra}
        with client.stream("POST", path, json=body) as response:
            assert response.status_code == 200
            text = []
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = orjson.loads(line[6:])
                if event.get("done"):
                    break
                text.append(event.get("text", ""))
            return response.headers["x-request-id"], "".join(text)

    return hang_up


@pytest.mark.parametrize(
    "hang_up",
    [
        _hang_up_at_openai_done,
        _hang_up_at_chuk_done("/v1/ai/chat/stream", {}),
        _hang_up_at_chuk_done("/v1/ai/chat", {"stream": True}),
    ],
    ids=["openai-sse", "chuk-stream", "chuk-chat-sse"],
)
def test_twenty_clients_hanging_up_at_the_last_event_are_each_charged_once(
    hang_up, gateway_url, gateway_server, carol, carol_key, fault_models
):
    def one(_):
        with httpx.Client(
            base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
        ) as client:
            return hang_up(client)

    results = concurrently(20, one)
    assert all(isinstance(r, tuple) for r in results), results
    settle_everything(gateway_server)

    answered = {request_id for request_id, _ in results}
    assert len(answered) == 20 and all(text for _, text in results)
    records = UsageRecord.objects.filter(request_id__in=answered)
    assert records.count() == 20
    assert all(r.completion_tokens == 30 and r.cost > 0 for r in records)
    assert_money_exact(users=[carol], answered=answered)
    assert balance_of(user=carol) == Decimal(10) - sum(r.cost for r in records)


async def test_a_websocket_client_closing_at_done_is_charged_once(
    gateway_url, gateway_server, carol, carol_key, fault_models
):
    from asgiref.sync import sync_to_async
    from websockets.asyncio.client import connect

    ids = []
    async with connect(
        f"{gateway_url.replace('http', 'ws')}/v1/ai/chat/ws",
        additional_headers={"Authorization": f"Bearer {carol_key}"},
    ) as socket:
        for n in range(5):
            await socket.send(
                orjson.dumps(
                    {"type": "chat", "id": f"s{n}", "model": "steady-stream", "messages": QUESTION}
                ).decode()
            )
        done = 0
        while done < 5:
            frame = orjson.loads(await socket.recv())
            if frame["type"] == "meta":
                ids.append(frame["requestId"])
            done += frame["type"] == "done"
    # closed right after the last done frame

    await sync_to_async(settle_everything)(gateway_server)
    await sync_to_async(assert_money_exact)(users=[carol], answered=set(ids))
    assert await UsageRecord.objects.filter(request_id__in=ids).acount() == 5


# --- A provider that lies about its usage ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_provider_over_reporting_is_charged_the_hold_and_the_rest_recorded(
    stream, gateway_url, gateway_server, fault_models, caplog
):
    # Fay has 1.50 USD. 100 tokens at 0.01 USD: the hold is 1 USD; the provider claims 5,000
    # (50 USD).
    fay = UserFactory(email="fay@example.com")
    credit_grant(user=fay, amount=Decimal("1.5"), description="test credit")
    _, fay_key = api_key_create(user=fay, name="fay's app")
    body = {"model": "liar", "messages": QUESTION, "max_tokens": 100, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    with caplog.at_level(logging.WARNING, logger="billing.settlement"):
        with httpx.Client(
            base_url=gateway_url, headers={"Authorization": f"Bearer {fay_key}"}, timeout=30
        ) as client:
            response = client.post("/v1/chat/completions", json=body)
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
        settle_everything(gateway_server)

    record = UsageRecord.objects.get(request_id=request_id)
    assert record.completion_tokens == 5000  # what the provider said, kept as said
    assert record.cost == Decimal("1")  # 100 tokens' worth: the hold
    assert record.discrepancy == Decimal("49")
    assert balance_of(user=fay) == Decimal("0.5")
    assert any("usage beyond the hold" in m for m in caplog.messages)
    assert_money_exact(users=[fay], answered={request_id})


def test_the_balance_can_never_be_pushed_below_zero(carol):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(user=carol).update(balance=Decimal("-0.01"))
    assert balance_of(user=carol) == Decimal(10)


def test_a_charge_whose_hold_was_lost_takes_only_what_the_balance_has_free(carol):
    """Carol's hold was released under her request (a sweep that took her process for dead):
    its charge of 12 USD meets a balance of 10, of which 1 is held by another request."""
    from billing.metering import reserve
    from billing.prices import Prices
    from billing.settlement import settle_sync, usage_record

    reserve(user_id=carol.pk, api_key_id=None, request_id="other", amount=Decimal(1))
    record = settle_sync(
        record=usage_record(
            request_id="lost-hold",
            user_id=carol.pk,
            api_key_id=None,
            endpoint="chat.completions",
            model="fast",
            completion_tokens=6,
        ),
        prices=Prices(output=Decimal(2_000_000)),
        held=Decimal(12),
    )

    assert record.cost == Decimal(9) and record.discrepancy == Decimal(3)
    assert balance_of(user=carol) == Decimal(1)  # what the other request holds is still there
    [charge] = LedgerEntry.objects.filter(account__user=carol, kind="usage")
    assert charge.amount == Decimal(-9) and charge.balance_after == Decimal(1)
    settle_sync(  # the other request settles as usual
        record=usage_record(
            request_id="other", user_id=carol.pk, api_key_id=None, endpoint="x", model="fast"
        ),
        prices=Prices(),
    )
    assert_money_exact(users=[carol], answered={"lost-hold", "other"})


@pytest.mark.django_db(transaction=True)
def test_a_charge_for_a_user_without_a_credit_account_changes_nothing():
    """The charge statement runs without a transaction around it: with no account to charge,
    none of its parts may write (no usage record, no spend counted on the key)."""
    from billing.credit_leases import Hold
    from billing.models import KeySpend
    from billing.prices import Prices
    from billing.settlement import _NoAccount, settle, settle_sync, usage_record
    from tests.support.loops import run_on_own_loop

    erin = UserFactory(email="erin@example.com")
    CreditAccount.objects.filter(user=erin).delete()
    key, _ = api_key_create(user=erin, name="ci")

    def record(request_id: str):
        return usage_record(
            request_id=request_id,
            user_id=erin.pk,
            api_key_id=key.pk,
            endpoint="chat.completions",
            model="fast",
            completion_tokens=6,
        )

    with pytest.raises(_NoAccount):
        settle_sync(record=record("sync"), prices=Prices(output=Decimal(1000)), held=Decimal(1))
    with pytest.raises(_NoAccount):
        run_on_own_loop(
            lambda: settle(
                record=record("async"),
                prices=Prices(output=Decimal(1000)),
                hold=Hold(amount=Decimal(1)),
            )
        )

    assert not UsageRecord.objects.filter(user=erin).exists()
    assert not KeySpend.objects.filter(api_key=key).exists()


# --- The database's connections cut under load -----------------------------------------------


def _test_backend() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate_backends(*, sparing: int | None = None) -> int:
    """Cuts every connection to the test database but this thread's (and `sparing`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND pid <> %s",
            [sparing or 0],
        )
        return cursor.fetchone()[0]


def _reconnect() -> None:
    """Until this thread's connections work again: they (the "holds" alias too) may have been
    cut, and a pool whose new connections were cut while opening backs off for a while."""
    deadline = time.monotonic() + 20
    while True:
        try:
            for other in connections.all(initialized_only=True):
                other.close()
            for alias in connections:
                with connections[alias].cursor() as cursor:
                    cursor.execute("SELECT 1")
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@postgres_only
def test_connections_cut_under_load_lose_no_charge_and_answer_no_500(
    gateway_url, gateway_server, carol, carol_key, fault_models
):
    stop = threading.Event()
    terminated = []
    mine = _test_backend()

    def cutter():
        while not stop.is_set():
            terminated.append(_terminate_backends(sparing=mine))
            time.sleep(0.15)
        connection.close()

    def one(_):
        with httpx.Client(
            base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
        ) as client:
            answer = client.post(
                "/v1/chat/completions",
                json={"model": "steady-stream", "messages": QUESTION, "stream": True},
            )
            return answer.status_code, answer.headers.get("x-request-id"), answer.text

    thread = threading.Thread(target=cutter)
    thread.start()
    try:
        results = concurrently(24, one)
    finally:
        stop.set()
        thread.join()
        _reconnect()
    assert sum(terminated) > 0  # the fault really happened
    assert not [r for r in results if isinstance(r, Exception)], results
    statuses = [status for status, _, _ in results]
    assert all(status in (200, 503) for status in statuses), statuses  # never a 500
    answered = {rid for status, rid, text in results if status == 200 and "[DONE]" in text}

    settle_everything(gateway_server)
    settlement_outbox.drain()  # what the database could not take while it was being cut
    assert settlement_outbox.size() == 0
    assert_money_exact(users=[carol], answered=answered)
    # and right after the fault, the usage page answers
    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
    ) as client:
        assert client.get("/v1/user/usage").status_code == 200


# --- The database away -----------------------------------------------------------------------


@contextlib.contextmanager
def database_away():
    """New connections to the test database refused and every open one cut: for the server,
    the database is gone until the block ends (this test's own connection stays)."""
    import psycopg

    db = connection.settings_dict
    name = db["NAME"]
    # Said from the maintenance database: a database cannot refuse its own connections.
    admin = psycopg.connect(
        dbname="postgres",
        user=db.get("USER") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
    )
    try:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        _reconnect()


def _stream_through_an_outage(gateway_url, key: str, count: int, outage) -> list[str]:
    """`count` streams that are answered while the database goes away under them."""
    started = threading.Barrier(count + 1)
    request_ids: list[str] = []

    def one(_):
        with httpx.Client(
            base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            body = {"model": "steady-stream", "messages": QUESTION, "stream": True}
            with client.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                next(line for line in lines if line.startswith("data: "))
                started.wait()
                rest = list(lines)
                assert "data: [DONE]" in rest
                request_ids.append(response.headers["x-request-id"])

    workers = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    started.wait(timeout=20)
    with outage():
        for worker in workers:
            worker.join(timeout=30)
        time.sleep(0.3)  # the settlements fail and go to the outbox meanwhile
        answered = list(request_ids)
    return answered


@postgres_only
def test_answers_given_while_the_database_is_away_are_charged_when_it_is_back(
    gateway_url, gateway_server, carol, carol_key, fault_models, settings, private_redis
):
    _, redis_url = private_redis
    settings.REDIS_URL = redis_url  # the outbox's Redis: this test's own
    # A first answer, so the process holds a lease: the next ones need no database to start.
    with httpx.Client(
        base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
    ) as client:
        client.post("/v1/chat/completions", json={"model": "steady-stream", "messages": QUESTION})

    answered = _stream_through_an_outage(gateway_url, carol_key, 5, database_away)
    assert len(answered) == 5
    assert settlement_outbox.size() == 5
    assert not UsageRecord.objects.filter(request_id__in=answered).exists()

    settle_everything(gateway_server)
    assert settlement_outbox.drain() == 5
    assert settlement_outbox.size() == 0
    assert settlement_outbox.drain() == 0  # applied once
    records = UsageRecord.objects.filter(request_id__in=answered)
    assert records.count() == 5 and all(r.cost > 0 for r in records)
    assert_money_exact(users=[carol], answered=set(answered))


@postgres_only
def test_with_redis_away_too_the_charges_wait_on_disk(
    gateway_url, gateway_server, carol, carol_key, fault_models, settings, private_redis, tmp_path
):
    process, redis_url = private_redis
    settings.REDIS_URL = redis_url
    settings.SETTLE_SPOOL_DIR = str(tmp_path / "spool")
    process.kill()  # Redis gone before the database goes
    process.wait()

    answered = _stream_through_an_outage(gateway_url, carol_key, 3, database_away)
    spooled = list((tmp_path / "spool").glob("*.jsonl"))
    assert len(spooled) == 1 and len(spooled[0].read_bytes().splitlines()) == 3

    settle_everything(gateway_server)
    settings.REDIS_URL = ""  # still away: the drain reads the disk only
    assert settlement_outbox.drain() == 3
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    assert_money_exact(users=[carol], answered=set(answered))


@postgres_only
def test_while_the_database_is_away_requests_get_a_quick_503(
    gateway_url, gateway_server, carol, carol_key, fault_models
):
    with database_away():
        started = time.monotonic()
        with httpx.Client(
            base_url=gateway_url, headers={"Authorization": f"Bearer {carol_key}"}, timeout=30
        ) as client:
            usage = client.get("/v1/user/usage")
            chat = client.post(
                "/v1/chat/completions", json={"model": "steady-stream", "messages": QUESTION}
            )
        took = time.monotonic() - started
    assert usage.status_code == 503 and chat.status_code == 503
    for response in (usage, chat):
        assert response.json()["error"]["code"] == "service_unavailable"
        assert response.headers["Retry-After"] == "2"
    assert took < 6  # two requests, each within the pool's 2 s wait, never a 10 s hang
    settle_everything(gateway_server)
    assert_money_exact(users=[carol], answered=set())
