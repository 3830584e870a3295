"""Several writer threads against a file database, run as a child process by test_concurrency.

SQLite's in-memory test database uses shared-cache table locks, which fail at once instead of waiting, so the SQLite
variant of the concurrency test needs a real file and therefore its own process. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rongcheng.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections, transaction

    from rongcheng.audit.models import AuditChainLink, AuditPending, AuditRecord
    from rongcheng.audit.selectors import audit_verify
    from rongcheng.audit.services import Actor, audit_record

    writers, each = int(sys.argv[1]), int(sys.argv[2])
    settings.AUDIT_SEAL_MODE = sys.argv[3]
    call_command("migrate", "audit", verbosity=0)
    start = threading.Barrier(writers)
    errors: list[str] = []

    def write(number: int) -> None:
        try:
            start.wait()
            for index in range(each):
                with transaction.atomic():
                    audit_record(
                        action="registries.person.read",
                        actor=Actor("user", str(number), f"writer-{number}"),
                        target_id=f"{number}-{index}",
                    )
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(number,)) for number in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deadline = time.monotonic() + 5  # a sealer that hit its round limit handed over to a timer thread
    while AuditPending.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    links = list(AuditChainLink.objects.order_by("sequence").values_list("sequence", "record_id"))
    result = audit_verify()
    print(
        json.dumps(
            {
                "errors": errors,
                "records": AuditRecord.objects.count(),
                "pending": AuditPending.objects.count(),
                "sequences_dense": [s for s, _ in links] == list(range(1, len(links) + 1)),
                "distinct_records_linked": len({r for _, r in links}),
                "verify_ok": result.ok,
                "verify_checked": result.checked,
            }
        )
    )


if __name__ == "__main__":
    main()
