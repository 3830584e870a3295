"""The platform's SM2 key for QR payment codes and electronic receipts.

One PKCS#8 PEM file, `platform-sm2.pem` in `settings.CARD_KEYS_DIR` (RONGCHENG_CARD_KEYS_DIR, default `card-keys` in
the data directory),
generated on first use: written aside with mode 0600 and linked into place unless another process was first, as the
OpenID provider's key ring does. Its public half is published (`/api/v1/card/keys`) so scanners verify codes offline.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from pathlib import Path

from django.conf import settings

from rongcheng.kernel.crypto import Sm2PrivateKey

FILE_NAME = "platform-sm2.pem"


def keys_dir() -> Path:
    configured = getattr(settings, "CARD_KEYS_DIR", None)
    return Path(configured) if configured else Path(settings.DATA_DIR) / "card-keys"


def _write_exclusive(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process generated it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink()


@functools.cache
def _load(directory: str) -> Sm2PrivateKey:
    path = Path(directory) / FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_exclusive(path, Sm2PrivateKey.generate().to_pem().encode("ascii"))
    return Sm2PrivateKey.from_pem(path.read_bytes())


def platform_key() -> Sm2PrivateKey:
    return _load(str(keys_dir()))
