"""The demo city's operations: a bearer token for /metrics, printed by `rongcheng demo` and kept in the demo accounts
file as the line `metrics<TAB><token>` (idempotent: the token is issued once per data directory)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from rongcheng.kernel.crypto import sm3_digest
from rongcheng.operations.services import METRICS_TOKEN_FILE, metrics_token_issue

METRICS_LINE = "metrics"


def _recorded_token(accounts_file: Path) -> str | None:
    if not accounts_file.exists():
        return None
    for line in accounts_file.read_text(encoding="utf-8").splitlines():
        name, _, rest = line.partition("\t")
        if name == METRICS_LINE and rest:
            return rest.partition("\t")[0]
    return None


def demo_operations_seed(accounts_file: Path) -> str:
    """The demo's metrics token: the one recorded if it still matches the data directory's digest, else a new one."""
    digest_file = Path(settings.DATA_DIR) / METRICS_TOKEN_FILE
    token = _recorded_token(accounts_file)
    if (
        token
        and digest_file.exists()
        and digest_file.read_text(encoding="ascii").strip() == sm3_digest(token.encode()).hex()
    ):
        return token
    token = metrics_token_issue()
    kept = []
    if accounts_file.exists():
        kept = [line for line in accounts_file.read_text(encoding="utf-8").splitlines()
                if line.partition("\t")[0] != METRICS_LINE]  # fmt: skip
    kept.append(f"{METRICS_LINE}\t{token}")
    accounts_file.touch(mode=0o600, exist_ok=True)
    accounts_file.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    return token
