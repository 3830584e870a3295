from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.utils import timezone

from rongcheng.audit.services import Actor, audit_record

ALICE = Actor("user", "7", "alice")

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
on_sqlite = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")


def append(count: int = 1, **fields):
    """Records made through the service, as domain code makes them."""
    defaults = {
        "action": "registries.person.read",
        "actor": ALICE,
        "target_type": "registries.person",
        "purpose": "核验身份",
        "source_address": "10.0.0.8",
    }
    return [audit_record(**{**defaults, "target_id": str(100 + number), **fields}) for number in range(count)]


def raw_sql(sql: str, params: list | tuple = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def a_moment_later():
    """A time after every record appended so far and before every record appended next.

    The database clock is the record's clock, and SQLite's keeps milliseconds only: leave a margin either side.
    """
    moment = timezone.now() + dt.timedelta(milliseconds=2)
    while timezone.now() < moment + dt.timedelta(milliseconds=2):
        time.sleep(0.0005)
    return moment
