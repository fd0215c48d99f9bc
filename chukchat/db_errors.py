"""What "the database is not there" looks like, from each of the ways we reach it: Django's
connections, the asyncio psycopg pools, and a pool that could not hand out a connection."""

from __future__ import annotations

import django.db
import psycopg
import psycopg_pool

DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    django.db.OperationalError,
    django.db.InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    psycopg_pool.TooManyRequests,
)


def is_database_unavailable(error: BaseException) -> bool:
    return isinstance(error, DATABASE_UNAVAILABLE)
