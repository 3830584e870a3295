"""Django's PostgreSQL backend, with a cheaper health check of persistent connections.

With CONN_HEALTH_CHECKS, Django checks a reused connection before its first query in every request by running
`SELECT 1`: one more round trip per request, on every request (a tenth to a third of a token grant's or an API read's
time in the database). The server does not close a connection silently when it can help it: a restart, a
`pg_terminate_backend`, an idle-session timeout or a crashed backend each end with an error message and/or the
socket's end of file, which make the socket readable. So an idle connection whose socket has nothing to read and
whose state psycopg reports as sound is used as it is; anything to read, or any doubt, and Django's own check
(`SELECT 1`) decides, as before. A broken connection is therefore still found before the request uses it.
"""

from __future__ import annotations

import select
from typing import Any

from django.db.backends.postgresql import base


def _quiet(connection: Any) -> bool | None:
    """True: idle and nothing pending on the socket; False: known to be broken; None: ask the server."""
    if connection is None or getattr(connection, "closed", True) or getattr(connection, "broken", False):
        return False
    info = getattr(connection, "info", None)
    if info is None or int(info.transaction_status) != 0:  # psycopg's TransactionStatus.IDLE
        return None
    try:
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        events = poller.poll(0)
    except (OSError, ValueError, AttributeError):
        return None
    return None if events else True


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        quiet = _quiet(self.connection)
        if quiet is not None:
            return quiet
        return bool(super().is_usable())
