"""Permission checks per second: the staff app's DepartmentRoleBackend against Django's ModelBackend, same data.

Claim checked: deriving permissions from department-scoped role assignments costs no more than Django's group-based
check, and the short-lived process cache makes a check in a new request (a fresh user object) about as cheap as a
memoised one. Data: --staff accounts in --departments departments, --roles business roles of --perms permissions each,
--grants assignments per account (written through the staff services, so group memberships mirror them: the very
data ModelBackend reads). Each measured check is `backend.has_perm(user, perm)` on a fresh user object, as the first
check of a request makes it:
  model        ModelBackend: two queries (own permissions, group permissions) per fresh object;
  uncached     DepartmentRoleBackend with the process cache emptied for that account first: one statement;
  cached       DepartmentRoleBackend, process cache warm (the common case within PERMISSION_CACHE_SECONDS);
  in_dept      has_perm_in_department(user, perm, department), cache warm;
  memoised     either backend, the same user object again (its per-object memo).
Limits measured in the same run: a bare primary-key query (`SELECT ... WHERE id = %s`) per second, the floor for any
check that goes to the database; building the user object and one read of the process cache, the floor for a cached
check, and a Python set lookup per
second, the floor for a memoised check. Medians of --repeats runs.

    uv run python bench/staff_permissions.py                  # SQLite in a throwaway data directory
    uv run python bench/staff_permissions.py --postgres       # a throwaway PostgreSQL database
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from _django import median_rate, setup_django, throwaway_database
from _smoke import goal, parse_arguments


def _seed(args: argparse.Namespace) -> tuple[list[Any], list[str], list[Any]]:
    from django.contrib.auth.models import Permission

    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.audit.services import Actor
    from rongcheng.staff.models import Duty
    from rongcheng.staff.permissions import ADMINISTRATOR_PERMISSIONS
    from rongcheng.staff.services import role_define, role_grant_by_system

    actor = Actor(kind="system", id="bench", label="benchmark")
    rng = random.Random(2017)
    departments = [
        Department.objects.create(code=f"FZ-B{i:03d}", name=f"福州市测试局{i}") for i in range(args.departments)
    ]
    candidates = [
        f"{app}.{codename}"
        for app, codename in Permission.objects.filter(content_type__app_label__in=["registries", "divisions"])
        .values_list("content_type__app_label", "codename")
        .order_by("id")
        if f"{app}.{codename}" not in ADMINISTRATOR_PERMISSIONS
    ]
    roles = [
        role_define(
            name=f"业务角色{i}",
            duty=Duty.BUSINESS,
            description="",
            city_wide=False,
            actor=actor,
            permissions=rng.sample(candidates, args.perms),
        )
        for i in range(args.roles)
    ]
    users = []
    for n in range(args.staff):
        user = User(
            username=f"bench{n:05d}", kind=AccountKind.STAFF, department=departments[n % len(departments)],
            is_staff=True,
        )  # fmt: skip
        user.set_unusable_password()
        user.save()
        for role in rng.sample(roles, args.grants):
            role_grant_by_system(user=user, role=role, department=user.department, actor=actor)
        users.append(user)
    return users, candidates, departments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--staff", type=int, default=300)
    parser.add_argument("--departments", type=int, default=10)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--perms", type=int, default=6)
    parser.add_argument("--grants", type=int, default=3)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parse_arguments(parser, staff=12, departments=3, roles=4, perms=3, grants=2, checks=40, repeats=1)

    with throwaway_database("postgres" if args.postgres else "sqlite") as env:
        env["RONGCHENG_AUDIT_SEAL_MODE"] = "manual"  # seeding writes audit records; nothing measured seals them
        setup_django(env)
        from django.contrib.auth.backends import ModelBackend
        from django.core.cache import cache
        from django.db import connection

        from rongcheng.accounts.models import User
        from rongcheng.staff.backends import DepartmentRoleBackend
        from rongcheng.staff.permissions import _CACHE_KEY, has_perm_in_department

        started = time.perf_counter()
        users, candidates, _ = _seed(args)
        seeded = time.perf_counter() - started
        checks: int = args.checks
        rng = random.Random(7)
        plan = [(rng.choice(users), rng.choice(candidates)) for _ in range(args.checks)]
        fresh_rows = [(u.pk, u.department_id) for u, _ in plan]
        perms = [p for _, p in plan]

        def fresh(i: int) -> Any:
            pk, department_id = fresh_rows[i]
            return User(pk=pk, is_active=True, department_id=department_id)

        model, scoped = ModelBackend(), DepartmentRoleBackend()
        granted: dict[str, int] = {}

        def run(backend: Any, *, clear: bool = False) -> int:
            hits = 0
            for i in range(args.checks):
                user = fresh(i)
                if clear:
                    cache.delete(_CACHE_KEY.format(user.pk))
                hits += backend.has_perm(user, perms[i])
            granted[type(backend).__name__ + str(clear)] = hits
            return checks

        def run_in_department() -> int:
            for i in range(args.checks):
                user = fresh(i)
                has_perm_in_department(user, perms[i], user.department_id)
            return checks

        def run_memoised(backend: Any) -> int:
            user = User.objects.get(pk=plan[0][0].pk)
            for i in range(args.checks):
                backend.has_perm(user, perms[i])
            return checks

        def warm() -> None:
            for i in range(args.checks):
                scoped.has_perm(fresh(i), perms[i])

        def run_query() -> int:
            with connection.cursor() as cursor:
                for i in range(args.checks):
                    cursor.execute("SELECT id, is_active FROM accounts_user WHERE id = %s", [fresh_rows[i][0]])
                    cursor.fetchone()
            return checks

        def run_cache_read() -> int:
            for i in range(checks):
                fresh(i)
                cache.get(_CACHE_KEY.format(fresh_rows[i][0]))
            return checks

        floor_set = frozenset(candidates[: args.perms * args.grants])

        def run_set() -> int:
            hits = 0
            for i in range(args.checks):
                hits += perms[i] in floor_set
            return checks

        rates = {
            "model": median_rate(lambda: run(model), args.repeats),
            "uncached": median_rate(lambda: run(scoped, clear=True), args.repeats),
            "cached": median_rate(lambda: run(scoped), args.repeats, before=warm),
            "in_dept": median_rate(run_in_department, args.repeats, before=warm),
            "memoised_model": median_rate(lambda: run_memoised(model), args.repeats),
            "memoised_scoped": median_rate(lambda: run_memoised(scoped), args.repeats),
            "query": median_rate(run_query, args.repeats),
            "cache_read": median_rate(run_cache_read, args.repeats, before=warm),
            "set": median_rate(run_set, args.repeats),
        }
        if (
            not granted["ModelBackendFalse"]
            == granted["DepartmentRoleBackendTrue"]
            == granted["DepartmentRoleBackendFalse"]
        ):
            raise SystemExit(f"the backends disagree: {granted}")

        print(f"database {connection.vendor}; {args.staff} staff, {args.roles} roles x {args.perms} permissions, "
              f"{args.grants} grants each (seeded in {seeded:.1f} s); {args.checks} checks x {args.repeats} runs, "
              f"{granted['ModelBackendFalse']} granted")  # fmt: skip
        rows = [
            ("ModelBackend, fresh user", rates["model"], rates["query"], "bare query"),
            ("DepartmentRoleBackend, uncached", rates["uncached"], rates["query"], "bare query"),
            ("DepartmentRoleBackend, cached", rates["cached"], rates["cache_read"], "new user object + cache read"),
            ("has_perm_in_department, cached", rates["in_dept"], rates["cache_read"], "new user object + cache read"),
            ("ModelBackend, memoised", rates["memoised_model"], rates["set"], "set lookup"),
            ("DepartmentRoleBackend, memoised", rates["memoised_scoped"], rates["set"], "set lookup"),
        ]
        print(f"{'check':34} {'per second':>12} {'of limit':>9}  limit")
        for name, rate, limit, label in rows:
            print(f"{name:34} {rate:12,.0f} {rate / limit:9.2f}  {label} ({limit:,.0f}/s)")
        print(f"limits: bare primary-key query {rates['query']:,.0f}/s, new user object + process-cache read "
              f"{rates['cache_read']:,.0f}/s, set lookup {rates['set']:,.0f}/s")  # fmt: skip
        print(f"uncached / ModelBackend: {rates['uncached'] / rates['model']:.2f}; "
              f"cached / ModelBackend: {rates['cached'] / rates['model']:.1f}")  # fmt: skip
        uncached = rates["uncached"] / rates["model"]
        goal("department-scoped check, uncached, no slower than ModelBackend", f"{uncached:.2f}x", uncached >= 1.0)


if __name__ == "__main__":
    main()
