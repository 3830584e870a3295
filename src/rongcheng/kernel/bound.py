"""A cursor whose values are bound by the server, for a hot statement that is sent alone.

Django's PostgreSQL cursors bind values on the client (psycopg's `ClientCursor`): each statement goes as text with
its values quoted into it, through the simple query protocol, which PostgreSQL parses and plans again. For one
statement that is sent on every call of a hot path, the client's quoting and the text's parsing cost more than the
statement's work: a client-credentials grant's token row took 0.24 ms of the worker's CPU and 0.25 ms of the
backend's sent that way, 0.12-0.13 ms and 0.13-0.14 ms bound by the server (bench/README.md, "s13-grants").

`server_bound_cursor(connection)` is Django's own cursor wrapper (its execute wrappers, the operations query
observer, query capture in tests, errors turned into Django's) around Django's `ServerBindingCursor` (the extended
query protocol: the statement's text once, its values apart). Such a statement is one statement (the extended
protocol takes no `;`-separated list) and names the type of any value PostgreSQL cannot infer (`%s::jsonb`).
Nothing is prepared: no state stays in the session. PostgreSQL only; elsewhere Django's own cursor.
"""

from __future__ import annotations

from typing import Any


def server_bound_cursor(connection: Any) -> Any:
    """A cursor of `connection` (a Django connection) binding its values on the server, opened as
    `connection.cursor()` opens one (health check, connection, thread check, wrappers); on another vendor, that."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        # django-stubs type Django's cursor classes without psycopg's constructor.
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))  # type: ignore[call-arg]
