"""Prints the environment `make test` runs with: the PostgreSQL and Redis on 127.0.0.1 when they
answer, the embedded defaults otherwise, and says on stderr which it chose.

Already-set DATABASE_URL / REDIS_URL win; CHUK_TEST_EMBEDDED=1 forces the embedded defaults."""

import os
import socket
import sys


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    lines = [
        "export DJANGO_SECRET_KEY=${DJANGO_SECRET_KEY:-test-only-secret-key}",
        # Python 3.11.7 (ours) keeps the AST converter's recursion depth per process, not
        # per thread: a traceback formatted in a server thread (3.11 parses each line for its
        # carets) while pytest rewrote a module's asserts in the main thread failed the test
        # with "SystemError: AST constructor recursion depth mismatch" (seen in CI). Without
        # column ranges, tracebacks parse nothing.
        "export PYTHONNODEBUGRANGES=1",
    ]
    embedded = os.environ.get("CHUK_TEST_EMBEDDED") == "1"
    database = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if embedded:
        database = redis = ""
    else:
        if not database and answers("127.0.0.1", 5432):
            database = "postgres://postgres@127.0.0.1:5432/chukchat"
        if not redis and answers("127.0.0.1", 6379):
            redis = "redis://127.0.0.1:6379/0"
    # Keys of this run only: resumable chat streams are keyed by user id, and the test
    # database (so its ids) starts again every run while Redis keeps the last run's keys.
    lines.append(f"export CHUK_CACHE_PREFIX=${{CHUK_CACHE_PREFIX:-test{os.getpid()}}}")
    lines.append(f"export DATABASE_URL={database}")
    lines.append(f"export REDIS_URL={redis}")
    print("\n".join(lines))
    print(
        f"make test: database = {'PostgreSQL (' + database + ')' if database else 'SQLite (embedded)'}; "
        f"cache/channels/celery = {'Redis (' + redis + ')' if redis else 'in-process (embedded)'}",
        file=sys.stderr,
    )


main()
