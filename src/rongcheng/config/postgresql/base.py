"""Django's PostgreSQL backend, with a cheaper health check of persistent connections.

With CONN_HEALTH_CHECKS, Django checks a reused connection before its first query in every request by running
`SELECT 1`: one more round trip per request, on every request (a tenth to a third of a token grant's or an API read's
time in the database). The server does not close a connection silently when it can help it: a restart, a
`pg_terminate_backend`, an idle-session timeout or a crashed backend each end with an error message and/or the
socket's end of file, which make the socket readable. So an idle connection whose socket has nothing to read and
whose state psycopg reports as sound is used as it is; anything to read, or any doubt, and Django's own check
(`SELECT 1`) decides, as before. A broken connection is therefore still found before the request uses it.

Each session starts with `plan_cache_mode = force_generic_plan` (a startup parameter: no statement, no round trip).
It concerns prepared statements only, and the only ones Rongcheng's sessions prepare are the plans kept on purpose
(`kernel.prepared`, ADR 0020): Django sends every other statement as text. Under the default (`auto`) PostgreSQL
plans a prepared statement again on each execution whenever its estimate of the generic plan exceeds the custom
plans': for the exchange's page of uploaded rows (`row_number > $n ... LIMIT $m`) it always did, so the plan was not
kept at all. With server-side binding turned on in OPTIONS (every statement prepared) the setting is left alone.
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


KEPT_PLANS_GENERIC = "-c plan_cache_mode=force_generic_plan"


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        if not self.settings_dict["OPTIONS"].get("server_side_binding"):
            params["options"] = " ".join(filter(None, [params.get("options"), KEPT_PLANS_GENERIC]))
        return params

    def is_usable(self) -> bool:
        quiet = _quiet(self.connection)
        if quiet is not None:
            return quiet
        return bool(super().is_usable())
