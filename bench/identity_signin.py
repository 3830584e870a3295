"""Password sign-ins per second through the identity service, against raw Argon2 verifications in the same run.

Argon2 is slow on purpose (about tens of milliseconds per check with Django's parameters); it is the physical limit of
a password sign-in. The ratio shows what the service adds on top: the account lookup, the lockout guard (get or
create, expired-lock check), the audit record on failure, and for a full sign-in the session record and counter
reset. Three figures, each the median of --repeats runs:

  * raw: `argon2.PasswordHasher.verify` of the account's own hash (Django's Argon2PasswordHasher parameters);
  * first factor: `password_sign_in` (lookup, guard, Argon2 verify) for a resident with the right password;
  * refused: `password_sign_in` with a wrong password (Argon2 verify, a single-UPDATE failure count, an audit
    record), the guard reset between runs so the account never locks.

    uv run python bench/identity_signin.py                 # SQLite in a throwaway data directory
    uv run python bench/identity_signin.py --postgres      # a throwaway PostgreSQL database
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys

from _django import median_rate, setup_django, throwaway_database
from _smoke import goal, parse_arguments

PASSWORD = "Fz-Gulou-2017"  # noqa: S105  # the account of a throwaway database


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL database instead of SQLite")
    parser.add_argument("--count", type=int, default=10, help="sign-ins per run")
    parser.add_argument("--repeats", type=int, default=7)
    args = parse_arguments(parser, count=2, repeats=1)
    count: int = args.count
    with throwaway_database("postgres" if args.postgres else "sqlite") as env:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "manual"  # the sealer is its own process in production
        setup_django(env)
        from argon2 import PasswordHasher

        from rongcheng.accounts.models import User
        from rongcheng.identity.errors import SignInRefused
        from rongcheng.identity.models import SignInGuard
        from rongcheng.identity.services import password_sign_in, resident_register

        resident_register(username="bench", password=PASSWORD, name="林则徐", id_number="350102198503120018",
                          phone="13812345678")  # fmt: skip
        user = User.objects.get(username="bench")
        encoded = user.password.removeprefix("argon2")  # Django stores "argon2$argon2id$..."
        hasher = PasswordHasher()

        def raw() -> int:
            for _ in range(count):
                hasher.verify(encoded, PASSWORD)
            return count

        def signed_in() -> int:
            for _ in range(count):
                password_sign_in(username="bench", password=PASSWORD)
            return count

        def refused() -> int:
            for _ in range(count):
                with contextlib.suppress(SignInRefused):
                    password_sign_in(username="bench", password="wrong")  # noqa: S106  # refused
            return count

        def reset_guard() -> None:
            SignInGuard.objects.filter(user=user).update(failures=0, locked_until=None)

        from django.conf import settings

        settings.IDENTITY_LOCKOUT_THRESHOLD = args.count + 1  # one run never locks the account
        raw()  # warm up the hasher's memory and the database connection
        rates: dict[str, list[float]] = {"raw": [], "signed": [], "refused": []}
        for _ in range(args.repeats):  # interleaved, so load from other processes hits all three alike
            rates["raw"].append(median_rate(raw, 1))
            rates["signed"].append(median_rate(signed_in, 1))
            rates["refused"].append(median_rate(refused, 1, before=reset_guard))
        raw_rate, signed_rate, refused_rate = (statistics.median(rates[k]) for k in ("raw", "signed", "refused"))
        database = "PostgreSQL" if args.postgres else "SQLite"
        print(f"identity sign-in ({database}, {args.count} per run, median of {args.repeats})")
        print(f"  raw argon2 verify           {raw_rate:8.1f} /s  (the physical limit)")
        print(f"  password_sign_in, right     {signed_rate:8.1f} /s  ratio to raw {signed_rate / raw_rate:.3f}")
        print(f"  password_sign_in, refused   {refused_rate:8.1f} /s  ratio to raw {refused_rate / raw_rate:.3f}")
        ratio = signed_rate / raw_rate
        goal("a password sign-in costs little beyond Argon2: >= 0.8 of raw verify", f"{ratio:.2f}", ratio >= 0.8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
