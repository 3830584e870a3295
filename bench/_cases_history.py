"""City cases at scale (issue 14, and issue 15's `cases` collection): N historical cases seeded in PostgreSQL by
set-based SQL, then the command centre's queues, a unit's queue, the Open311 request list, the statistics and the
OGC API – Features items of the cases read over HTTP from `rongcheng serve`, p50 and p99 of each.

Used by `bench/cases.py --historical N` (see its docstring); a module of its own so the intake bench stays readable.

The data, said plainly: a city grid of 6 districts × 8 streets × 6 communities × 4 cells (1,152 cells), 40
categories (部件 and 事件) routed to 12 units, and N cases reported at Fuzhou's rate (about 3,000 a day: the span is
max(90, N / 3000) days, so 5,000,000 cases cover about 4.6 years), ids in reporting order. A case's state follows
its age: of the last two days' cases most are open at every stage of the lifecycle; older ones are closed or
evaluated (3 % rejected, 2 % merged), with about 0.3 % left open (in handling, postponed, disputed) past their
deadline. 5 % closed under the simple procedure, 1 % reworked, 2 % extended, 97 % of the closed ones on time. Each
dispatched case has its 主办 unit row (and one case in twenty a 协办). No timeline events are seeded: none of the
measured reads touches them. The statistics' tally is built by the database's own triggers as the rows go in.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _server import Load, _cli, _free_port, _stop, _wait_for, http_load

CASES_PER_DAY = 3000
CHUNK = 250_000
DISTRICTS = (("350102", "鼓楼区"), ("350103", "台江区"), ("350104", "仓山区"), ("350105", "马尾区"),
             ("350111", "晋安区"), ("350112", "长乐区"))  # fmt: skip
STREETS, COMMUNITIES, CELLS = 8, 6, 4
CATEGORIES = (
    ("C", "01", "公用设施类", ("上水井盖", "污水井盖", "雨水井盖", "电力井盖", "通信井盖", "路灯", "消防栓",
                               "公交站亭")),
    ("C", "02", "道路交通类", ("交通标志", "交通信号灯", "护栏", "地下通道", "人行天桥", "停车场")),
    ("C", "03", "市容环境类", ("公共厕所", "垃圾箱", "广告牌匾", "报刊亭")),
    ("C", "04", "园林绿化类", ("古树名木", "行道树", "绿地", "花坛")),
    ("E", "01", "市容环境类", ("私搭乱建", "暴露垃圾", "积存垃圾渣土", "道路不洁", "水域不洁", "绿地脏乱")),
    ("E", "02", "宣传广告类", ("违章张贴小广告", "非法小广告", "占道广告牌")),
    ("E", "03", "施工管理类", ("施工扰民", "工地扬尘", "施工废弃料", "道路破损")),
    ("E", "05", "街面秩序类", ("无照经营游商", "店外经营", "占道废品收购", "机动车乱停放", "非机动车乱停放")),
)  # fmt: skip
UNITS = ("市政工程管理处", "路灯管理处", "环卫中心", "园林中心", "交警支队", "城管执法支队", "水务集团", "供电公司",
         "通信管理局", "住建局", "鼓楼区城管局", "台江区城管局")  # fmt: skip


def _age_state(days: str) -> str:
    """The state of a case `days` old, from the row's uniform draw `u` (SQL)."""
    fresh = ((0.08, "collected"), (0.14, "registered"), (0.26, "dispatched"), (0.27, "disputed"),
             (0.57, "handling"), (0.58, "postponed"), (0.68, "reported_back"), (0.73, "verified"),
             (0.95, "closed"), (0.98, "rejected"))  # fmt: skip
    recent = ((0.03, "handling"), (0.035, "postponed"), (0.045, "reported_back"), (0.047, "disputed"),
              (0.60, "closed"), (0.95, "evaluated"), (0.98, "rejected"))  # fmt: skip
    old = ((0.002, "handling"), (0.0025, "postponed"), (0.003, "disputed"), (0.56, "closed"),
           (0.95, "evaluated"), (0.98, "rejected"))  # fmt: skip

    def case(table: tuple[tuple[float, str], ...]) -> str:
        return "CASE " + " ".join(f"WHEN u < {p} THEN '{s}'" for p, s in table) + " ELSE 'merged' END"

    return f"CASE WHEN {days} < 2 THEN {case(fresh)} WHEN {days} < 10 THEN {case(recent)} ELSE {case(old)} END"


def seed(count: int) -> dict[str, Any]:
    """The grid, categories, units and `count` cases; returns what the reads need. Set-based: a few statements."""
    from django.contrib.auth.models import Permission
    from django.db import connection

    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.cases.models import Category
    from rongcheng.divisions.models import Division, DivisionLevel, GridCell

    units = [Department.objects.get_or_create(code=f"FZ-U{i:02d}", defaults={"name": f"福州市{name}"})[0]
             for i, name in enumerate(UNITS)]  # fmt: skip
    city = Division.objects.create(code="350100", name="福州市", level=DivisionLevel.PREFECTURE)
    cells: list[GridCell] = []
    for d, (dcode, dname) in enumerate(DISTRICTS):
        district = Division.objects.create(code=dcode, name=dname, level=DivisionLevel.COUNTY, parent=city)
        for s in range(STREETS):
            street = Division.objects.create(code=f"{dcode}{s + 1:03d}", name=f"{dname[:2]}第{s + 1}街道",
                                             level=DivisionLevel.STREET, parent=district)  # fmt: skip
            for c in range(COMMUNITIES):
                community = Division.objects.create(code=f"{street.code}{c + 1:03d}", name=f"第{c + 1}社区",
                                                    level=DivisionLevel.COMMUNITY, parent=street)  # fmt: skip
                for g in range(CELLS):
                    x0 = 119.20 + (d % 3) * 0.08 + s * 0.01
                    y0 = 25.98 + (d // 3) * 0.09 + c * 0.012 + g * 0.003
                    ring = [[x0, y0], [x0 + 0.01, y0], [x0 + 0.01, y0 + 0.003], [x0, y0 + 0.003], [x0, y0]]
                    cells.append(GridCell(code=f"{community.code}{g + 1:02d}", name=f"第{g + 1}网格",
                                          community=community, polygon={"type": "Polygon", "coordinates": [ring]},
                                          min_lon=x0, min_lat=y0, max_lon=x0 + 0.01, max_lat=y0 + 0.003))  # fmt: skip
    GridCell.objects.bulk_create(cells)
    categories: list[Category] = []
    for kind, major, major_name, names in CATEGORIES:
        for minor, name in enumerate(names, start=1):
            categories.append(Category(
                code=f"{kind}{major}{minor:02d}", kind="component" if kind == "C" else "event", major_code=major,
                major_name=major_name, minor_code=f"{minor:02d}", name=name,
                default_unit=units[len(categories) % len(units)], sensitive=name in ("无照经营游商", "施工扰民"),
            ))  # fmt: skip
    Category.objects.bulk_create(categories)
    cat_rows = list(Category.objects.order_by("code").values_list("id", "default_unit_id", "name"))
    days = max(90, math.ceil(count / CASES_PER_DAY))
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_cell (i int PRIMARY KEY, code text, community text, street text, district text, "
            "x0 float, y0 float, place text, street_name text)"
        )
        cursor.executemany(
            "INSERT INTO bench_cell VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(i, cell.code, cell.code[:12], cell.code[:9], cell.code[:6], cell.min_lon, cell.min_lat,
              f"{dict(DISTRICTS)[cell.code[:6]]} {cell.code[6:9]}街道 {cell.community.name} {cell.name}",
              f"{cell.code[6:9]}号街区") for i, cell in enumerate(cells)],
        )  # fmt: skip
        cursor.execute("CREATE TEMP TABLE bench_cat (i int PRIMARY KEY, id bigint, unit_id bigint, name text)")
        cursor.executemany(
            "INSERT INTO bench_cat VALUES (%s, %s, %s, %s)", [(i, *row) for i, row in enumerate(cat_rows)]
        )
        cursor.execute("SELECT setseed(0.14)")
        began = time.perf_counter()
        for low in range(1, count + 1, CHUNK):
            cursor.execute(_insert_sql(), {"low": low, "high": min(count, low + CHUNK - 1), "n": count,
                                           "span": days * 86400.0, "cells": len(cells), "cats": len(cat_rows),
                                           "units": len(units)})  # fmt: skip
            print(
                f"  {min(count, low + CHUNK - 1):>10,} cases seeded ({time.perf_counter() - began:.0f} s)", flush=True
            )
        cursor.execute(
            "INSERT INTO cases_caseunit (case_id, unit_id, role) SELECT id, unit_id, 'main' FROM cases_case "
            "WHERE unit_id IS NOT NULL"
        )
        first_unit = units[0].pk
        cursor.execute(
            "INSERT INTO cases_caseunit (case_id, unit_id, role) SELECT id, "
            "CASE WHEN unit_id = %s THEN %s ELSE %s END, 'assist' FROM cases_case "
            "WHERE unit_id IS NOT NULL AND id %% 20 = 0",
            [first_unit, units[1].pk, first_unit],
        )
        cursor.execute("CREATE TABLE bench_meta (cases bigint, days int, seeded_at timestamptz)")
        cursor.execute("INSERT INTO bench_meta VALUES (%s, %s, now())", [count, days])
    for table in ("cases_case", "cases_caseunit", "cases_tally"):
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    centre = User.objects.create(username="bench-centre", kind=AccountKind.STAFF, department=units[0], is_staff=True)
    for codename in ("register_case", "dispatch_case", "view_statistics"):
        centre.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="cases"))
    officer = User.objects.create(username="bench-unit", kind=AccountKind.STAFF, department=units[0], is_staff=True)
    officer.user_permissions.add(Permission.objects.get(codename="handle_case", content_type__app_label="cases"))
    return {"days": days}


def _insert_sql() -> str:
    columns = (
        "number, token, category_id, channel, hotline_kind, state, urgency, description, address, longitude, "
        "latitude, cell_code, community_code, street_code, district_code, place_name, reporter_label, "
        "caller_phone_masked, simple_procedure, unit_id, deadline, clock_stopped_at, arbitration_deadline, "
        "registered_at, dispatched_at, closed_at, closed_on_time, rework_count, extension_count, postponed_ever, "
        "escalation_level, reopen_count, rating, rating_comment, decision_reason, created_at, updated_at, version"
    )
    done = "state IN ('closed', 'evaluated')"
    dispatched = "state IN ('dispatched', 'disputed', 'handling', 'postponed', 'reported_back', 'verified', " \
        "'closed', 'evaluated') AND NOT simple"  # fmt: skip
    return f"""
        INSERT INTO cases_case ({columns})
        WITH drawn AS (
            SELECT g, random() AS u, random() AS v, random() AS w, random() AS x, random() AS y,
                   now() - ((%(n)s - g) * %(span)s / %(n)s + random() * 60) * interval '1 second' AS created_at
            FROM generate_series(CAST(%(low)s AS bigint), CAST(%(high)s AS bigint)) AS g
        ), aged AS (
            SELECT *, {_age_state("extract(epoch FROM now() - created_at) / 86400")} AS state FROM drawn
        ), stated AS (
            SELECT *, ({done} AND w < 0.05) AS simple, (w > 0.97) AS urgent FROM aged
        ), timed AS (
            SELECT *, ({dispatched}) AS sent,
                   created_at + interval '30 minutes' AS sent_at,
                   created_at + interval '30 minutes'
                     + CASE WHEN urgent THEN interval '4 hours' ELSE interval '3 days' END AS due_at
            FROM stated
        )
        SELECT 'H' || lpad(g::text, 12, '0'), md5('bench' || g), k.id,
               (ARRAY['grid_worker', 'grid_worker', 'grid_worker', 'grid_worker', 'hotline', 'hotline', 'hotline',
                      'resident', 'resident', 'api'])[g %% 10 + 1],
               CASE WHEN g %% 10 BETWEEN 4 AND 6 THEN 'complaint' ELSE '' END,
               state, CASE WHEN urgent THEN 'urgent' ELSE 'normal' END,
               k.name || '：' || (ARRAY['请尽快处理', '影响通行', '多次反映', '存在安全隐患'])[g %% 4 + 1],
               c.street_name || (g %% 300 + 1) || '号', c.x0 + x * 0.01, c.y0 + y * 0.003,
               c.code, c.community, c.street, c.district, c.place, 'bench', '', simple,
               CASE WHEN sent THEN k.unit_id END,
               CASE WHEN sent THEN due_at + CASE WHEN w BETWEEN 0.06 AND 0.08 THEN interval '2 days'
                                                 ELSE interval '0' END END,
               CASE WHEN state = 'postponed' THEN created_at + interval '1 day' END,
               CASE WHEN state = 'disputed' THEN created_at + interval '5 hours' END,
               CASE WHEN state NOT IN ('collected', 'rejected', 'merged') THEN created_at + interval '10 minutes' END,
               CASE WHEN sent THEN sent_at END,
               CASE WHEN {done} THEN sent_at + v * interval '3.1 days' END,
               CASE WHEN {done} THEN simple OR sent_at + v * interval '3.1 days' <= due_at END,
               CASE WHEN w BETWEEN 0.05 AND 0.06 THEN 1 ELSE 0 END,
               CASE WHEN w BETWEEN 0.06 AND 0.08 THEN 1 ELSE 0 END,
               state = 'postponed', 0, 0,
               CASE WHEN state = 'evaluated' THEN 3 + g %% 3 END, '',
               CASE WHEN state = 'rejected' THEN '不属于城市管理范围' ELSE '' END,
               created_at,
               CASE WHEN {done} THEN sent_at + v * interval '3.1 days' WHEN sent THEN sent_at ELSE created_at END,
               0
        FROM timed
        JOIN bench_cell AS c ON c.i = (g * 7919) %% %(cells)s
        JOIN bench_cat AS k ON k.i = (g * 31 + g / 5760) %% %(cats)s
    """  # noqa: S608 - built from constants


def seeded() -> int:
    """How many cases a kept database was seeded with (0: not seeded)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_meta') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT cases FROM bench_meta")
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def _token(user: Any, scope: str) -> str:
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_application_model

    application, _ = get_application_model().objects.get_or_create(
        name="bench-cases",
        defaults={"client_type": "confidential", "authorization_grant_type": "authorization-code",
                  "redirect_uris": "https://bench.invalid/cb"},
    )  # fmt: skip
    value = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        user=user, application=application, token=value, scope=scope, expires=timezone.now() + dt.timedelta(hours=4)
    )
    return value


def _session(user: Any) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def reads() -> list[tuple[str, str, bytes, dict[str, str]]]:
    """(label, path, a byte string the answer must contain, headers) for every measured read."""
    from django.db import connection
    from django.utils import timezone

    from rongcheng.accounts.models import User
    from rongcheng.cases.workflow import DONE

    centre, officer = User.objects.get(username="bench-centre"), User.objects.get(username="bench-unit")
    work = {"Authorization": f"Bearer {_token(centre, 'cases:work')}"}
    unit = {"Authorization": f"Bearer {_token(officer, 'cases:work')}"}
    page = {"Cookie": _session(centre)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(created_at) FROM cases_case")
        latest = timezone.localtime(cursor.fetchone()[0])
    month = (latest.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")  # the last whole month of the data
    since = (latest - dt.timedelta(days=30)).isoformat(timespec="seconds")
    quote = since.replace("+", "%2B")
    street = "350102001"
    # The deep pages, or the last page when there are fewer cases (--smoke): a page past the end is empty, no answer.
    closed_page, deepest_page = _last_page(DONE, 50, 200), _last_page(None, 200, 50)
    box_street = "119.20,25.98,119.21,26.06"  # about one street: 1 km × 8 km
    box_district = "119.20,25.98,119.28,26.07"
    out = [
        ("centre queue: to register", "/api/v1/cases/queues/register", b"number", work),
        ("centre queue: to dispatch", "/api/v1/cases/queues/dispatch", b"number", work),
        ("centre queue: overdue", "/api/v1/cases/queues/overdue", b"number", work),
        ("centre queue: disputed", "/api/v1/cases/queues/disputed", b"number", work),
        ("centre queue counts (page)", "/cases/centre/", b"<html", page),
        ("unit queue (API)", "/api/v1/cases/unit-queue", b"number", unit),
        ("Open311 requests.json (default)", "/open311/v2/requests.json", b"service_request_id", {}),
        ("Open311 status=open", "/open311/v2/requests.json?status=open", b"service_request_id", {}),
        ("Open311 service_code=C0101", "/open311/v2/requests.json?service_code=C0101", b"service_request_id", {}),
        ("Open311 start_date (30 days)", f"/open311/v2/requests.json?start_date={quote}", b"service_request_id", {}),
        ("Open311 closed, page 200 (offset 9,950)", f"/open311/v2/requests.json?status=closed&page={closed_page}",
         b"service_request_id", {}),
        ("Open311 default, page 50 × 200 (the deepest)",
         f"/open311/v2/requests.json?page={deepest_page}&page_size=200", b"service_request_id", {}),
    ]  # fmt: skip
    for group in ("unit", "cell", "street", "district"):
        out.append((f"statistics API, per {group}, {month}", f"/api/v1/cases/statistics?group={group}&month={month}",
                    b"composite", work))  # fmt: skip
    out.append((f"monthly bulletin page, per cell, {month}", f"/cases/statistics/?group=cell&month={month}", b"<table",
                page))  # fmt: skip
    out.append((f"monthly bulletin page, per unit, {month}", f"/cases/statistics/?group=unit&month={month}", b"<table",
                page))  # fmt: skip
    ogc = "/ogc/collections/cases/items"
    out += [
        ("OGC cases items, no bbox, limit 10", f"{ogc}?limit=10", b"FeatureCollection", {}),
        ("OGC cases items, bbox one street", f"{ogc}?bbox={box_street}&limit=100", b"FeatureCollection", {}),
        ("OGC cases items, bbox one district", f"{ogc}?bbox={box_district}&limit=100", b"FeatureCollection", {}),
        ("OGC cases items, bbox street, page 51 (cursor)", _page_after(f"{ogc}?bbox={box_street}&limit=100", 50),
         b"FeatureCollection", {}),
        ("OGC cases items, street_code filter", f"{ogc}?street_code={street}&limit=100", b"FeatureCollection", {}),
    ]  # fmt: skip
    return out


def _last_page(states: Any, size: int, pages: int) -> int:
    """`pages`, or the last page of `size` public cases (in `states`, else any) when there are fewer: counted up to
    the deep page's end only."""
    from rongcheng.cases.models import Case
    from rongcheng.cases.workflow import FINAL

    cases = Case.objects.exclude(state__in=FINAL)
    if states is not None:
        cases = cases.filter(state__in=states)
    shown = cases[: size * pages].count()
    return max(1, min(pages, math.ceil(shown / size)))


def _page_after(path: str, pages: int) -> str:
    """The page reached by following the `next` link `pages` times from `path` (its cursor, as a client pages on):
    the deep page of a keyset-paged collection (offset 5,000 at 100 a page); the last page when there are fewer
    (--smoke)."""
    from urllib.parse import urlsplit

    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    for _ in range(pages):
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
        following = [link["href"] for link in response.json()["links"] if link["rel"] == "next"]
        if not following:
            break
        parts = urlsplit(following[0])
        path = f"{parts.path}?{parts.query}"
    return path


def measure(env: dict[str, str], seconds: float, workers: int, threads: int) -> list[tuple[str, Load]]:
    """Serve the database with `rongcheng serve`, then load each read in turn (1 client process × `threads`)."""
    from django.db import connections

    measured = reads()
    connections.close_all()
    port = _free_port()
    log = Path(tempfile.gettempdir()) / f"rc-bench-cases-history-{port}.log"
    limits = ",".join(f"{s}=off" for s in ("cases.open311.address", "cases.open311.account", "cases.work.account",
                                            "spatial.ogc.address"))  # fmt: skip
    served = {**os.environ, **env, "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1", "RONGCHENG_RATE_LIMITS": limits}
    with log.open("wb") as out:
        server = subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            env=served, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    results = []
    try:
        _wait_for(port, server, log)
        for label, path, expect, headers in measured:
            http_load(port, path, expect=expect, processes=1, threads=threads, seconds=min(seconds, 1.0),
                      headers=headers)  # fmt: skip
            load = http_load(port, path, expect=expect, processes=1, threads=threads, seconds=seconds,
                             headers=headers)  # fmt: skip
            results.append((label, load))
            print(f"  {label:<46} p50 {load.percentile(50):7.1f} ms  p99 {load.percentile(99):7.1f} ms  "
                  f"{load.rate:6.0f} req/s  failed {load.failures}", flush=True)  # fmt: skip
            if load.failures:
                print(f"    (wrong answers: GET {path}; see {log})")
    finally:
        _stop(server)
    return results
