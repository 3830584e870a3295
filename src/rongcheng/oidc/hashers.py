"""The hash of client secrets: HMAC-SM3 under a key kept in the data directory (a "pepper"), not argon2.

Argon2 is slow on purpose so that a stolen table of human passwords, which are guessable, costs years to crack. A
client secret is 128 random characters: nobody guesses it, so the slow hash buys nothing and costs ~0.1 s of CPU on
every token request, which caps the token endpoint at a few grants per second per core. The keyed hash keeps a
stolen table useless without the key (stored apart from the database) and costs microseconds.

Imported by the settings module, so it imports nothing that needs Django configured.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.crypto import constant_time_compare

from rongcheng.kernel.crypto import hmac_sm3

ALGORITHM = "hmac_sm3"


def _key() -> bytes:
    return bytes.fromhex(settings.OIDC_CLIENT_SECRET_KEY)


class ClientSecretHasher(BasePasswordHasher):
    """`hmac_sm3$<salt>$<hex digest>`; for machine secrets only (see the module docstring)."""

    algorithm = ALGORITHM

    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("a password and a salt without '$' are required")
        digest = hmac_sm3(_key(), f"{salt}${password}".encode()).hex()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, salt, digest = encoded.split("$", 2)
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        try:
            algorithm, salt, _ = encoded.split("$", 2)
        except ValueError:
            return False
        if algorithm != self.algorithm:
            return False
        return constant_time_compare(encoded, self.encode(password, salt))

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {"algorithm": decoded["algorithm"], "salt": decoded["salt"][:4] + "…", "hash": decoded["hash"][:6] + "…"}

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass

    def must_update(self, encoded: str) -> bool:
        return False
