"""The password hasher of the test suite: argon2id, as in production, at the smallest cost argon2 allows."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Production hashes each password with 100 MiB and two passes (~0.2 s here, the point of a memory-hard hash); the
    suite makes hundreds of accounts, each at that cost. Same algorithm and encoding (`argon2$argon2id$...`), same
    checks; only the cost is lower. Processes the tests start (the CLI, the benchmarks, `rongcheng demo`) keep the
    production settings."""

    time_cost = 1
    memory_cost = 256  # KiB
    parallelism = 1
