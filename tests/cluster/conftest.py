"""The cluster `make cluster` starts (scripts/cluster.py), started once per module on the test
database: HAProxy before three uvicorn nodes, two Celery workers and beat, on PostgreSQL and a
Redis of the module's own (so its workers never take another test run's jobs).

What the module writes is committed (the processes must see it) and stays until the module
ends, when the tables are emptied as a transactional test's are: one catalogue for the whole
module, a person of its own for each test."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.test.utils import setup_databases, teardown_databases

from accounts.models import RATE_LIMIT_FIELDS
from aiapi.catalogue import catalogue_load
from billing.models import Plan
from tests.support.gateway import CATALOGUE
from tests.support.server_process import server_environment
from tests.support.servers import free_port

# scripts/ is not a package: the script itself, loaded by its path.
_spec = importlib.util.spec_from_file_location(
    "chuk_cluster", Path(__file__).resolve().parents[2] / "scripts" / "cluster.py"
)
_cluster_script = importlib.util.module_from_spec(_spec)
sys.modules["chuk_cluster"] = _cluster_script
_spec.loader.exec_module(_cluster_script)
Cluster = _cluster_script.Cluster

# Paid for by the credit tests: about 0.17 USD an answer, 0.21 USD held for it.
CLUSTER_MODELS = """
[[models]]
id = "metered"
provider = "fake"
upstream = "fake:tokens=8,tps=32"
input_price = 1000.0
output_price = 20000.0

[[models]]
id = "metered-stream"
provider = "fake"
upstream = "fake:tokens=8,tps=8"
input_price = 1000.0
output_price = 20000.0
"""


def _private_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            *("--port", str(port)),
            *("--save", "", "--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _test_database():
    """pytest-django creates the test database only when a selected test asks for database
    access (the PgBouncer test does, `-k` may leave it out): otherwise it is made here, and
    what to tear down returned."""
    from django.db import connection

    # Once set up, the connection's NAME is the test database's. Without a TEST NAME setting
    # (CI sets none) _get_test_db_name() would then say "test_test_...", and a second test
    # database was made over the first for the `holds` alias too, left without tables.
    name = connection.settings_dict["NAME"]
    if name == connection.creation._get_test_db_name() or name.startswith("test_"):
        return None
    return setup_databases(verbosity=0, interactive=False, aliases={"default", "holds"})


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker, upstream, tmp_path_factory):
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the cluster's nodes share PostgreSQL")
    directory = tmp_path_factory.mktemp("cluster")
    redis_server, redis_url = _private_redis(directory)
    with django_db_blocker.unblock():
        created = _test_database()
        # Limited only where a test says so (on a key): the plans' own limits would refuse the
        # load tests' steady requests.
        Plan.objects.update(
            **{field: 1_000_000 for pair in RATE_LIMIT_FIELDS.values() for field in pair if field}
        )
        catalogue_load(
            text=CATALOGUE.format(openai_base=upstream.base_url, anthropic_base=upstream.root_url)
            + CLUSTER_MODELS
        )
        env = server_environment(
            {
                "REDIS_URL": redis_url,
                "CELERY_BROKER_URL": redis_url,
                "CELERY_RESULT_BACKEND": redis_url,
                "CHUK_CACHE_PREFIX": f"cluster{uuid.uuid4().hex[:8]}",
                "CHUK_RATE_LIMITS_ENABLED": "1",
                "CHUK_RATE_LIMIT_KEY_PREFIX": f"clusterrl{uuid.uuid4().hex[:8]}",
                "CHUK_RATE_LIMIT_REDIS_URL": redis_url,
            }
        )
    started = Cluster(
        env=env,
        port=free_port(),
        node_ports=(free_port(), free_port(), free_port()),
        directory=directory,
        graceful_timeout=10,
    )
    try:
        yield started.start(timeout=150)
    finally:
        started.stop(timeout=30)
        redis_server.kill()
        redis_server.wait()
        with django_db_blocker.unblock():
            call_command("flush", verbosity=0, interactive=False, database="default")
            if created is not None:
                teardown_databases(created, verbosity=0)


@pytest.fixture
def committed(cluster, django_db_blocker):
    """Database access for a test of the cluster: every write is committed at once."""
    with django_db_blocker.unblock():
        yield
