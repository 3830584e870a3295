"""The exchange API (/api/v1/exchange): a department system reading shared rows through its grant, PostgreSQL.

Claim checked (issue 17): exchange reads run at least 0.5x the rate of the same rows read by a bare query, with the
grant check and the audit. Measured in the same run, on the same database:
  * bare: `SELECT data FROM catalogue_resourcerow WHERE resource_id = %s AND row_number > %s ORDER BY row_number
    LIMIT %s`, page after page, the rows decoded into Python (the physical limit of reading them);
  * service: `catalogue.services.exchange_read` for the same pages: the grant looked up and checked, the fields
    projected, the personal item masked, an `ExchangeUse` and an audit record committed per page (durable commit);
  * HTTP: the same pages through `GET /api/v1/exchange/resources/.../rows` with an OAuth 2.0 client-credentials token,
    against `rongcheng serve` (granian), one connection; the page's JSON (built by PostgreSQL, the personal item
    taken from the masked form the row keeps, ADR 0021) sent, and decoded by the client, against the same bare SELECT
    in the bench's process;
  * platform data: pages of city cases (cases.cases, a provider paged by the database; the description masked)
    through the exchange, against the same values query of the same cases;
  * person records: pages of a person-records resource (registries.persons) through the exchange, each person read
    through the registries' selector and recorded ("who read my data"): since 2026-12-07 one audit record for the page
    listing the persons read (sealed with it, found per person by a GiST index over its span and the list; ADR 0004),
    written by the page's own statement (until then one record per person), against a bare ORM values query of the same
    persons and the same columns (those the registry's selector reads for the fields granted). Until 2026-12-06 the bare
    side read whole instances with their addresses (every column, a join): five times the work of the exchange's own
    read, which flattered the ratio; its rate is still printed, for comparison with earlier runs. The same reads in
    pages of 1,000 persons (the most one call of the API reads, as for uploaded rows) are printed on lines of their own;
    the goal's line is --person-page.

Each kind prints its goal line with its ratio and both rates. The persons' lines read at least PERSON_PAGES pages a
side (the persons read over again when fewer), in a process settled as a server's worker is (config/wsgi.py).
--profile prints a cProfile of the service reads and of the API (in process) instead; BENCH_SEAL_MODE=manual leaves
the audit sealer out of the process.

Data, generated for the run: --cases city cases (bulk-created), --rows uploaded rows of a resource of five data
items (one personal) written by COPY, each with its masked form as an upload keeps it (ADR 0021); --persons persons
registered through the registries' service (their ID numbers and phones encrypted); one grant of each resource to a
consumer department, made through the sharing services.

    uv run python bench/catalogue_exchange.py                 # 200,000 rows, 2,000 persons (a minute or two)
    uv run python bench/catalogue_exchange.py --rows 50000 --page 500
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime as dt
import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import _cli, _drop_database, _free_port, _stop, _wait_for, create_database, fill_data_dir
from _smoke import goal, parse_arguments

PG_HOST = "postgres://postgres@127.0.0.1:5432"
DATABASE = "rc_bench_catalogue_exchange"
DATA_DIR = Path(tempfile.gettempdir()) / "rc_bench_catalogue_exchange"
SECRET = "bench-client-secret-0123456789"  # noqa: S105 - the throwaway client of a throwaway database
PURPOSE = "基准测试：企业开办审核"
ITEMS: list[dict[str, Any]] = [
    {"name": "credit_code", "type": "text", "description": "统一社会信用代码"},
    {"name": "name", "type": "text", "description": "名称"},
    {"name": "capital", "type": "number", "description": "注册资本（万元）"},
    {"name": "established", "type": "date", "description": "成立日期"},
    {"name": "legal_person", "type": "text", "description": "法定代表人", "personal": True},
]
MAX_PERSON_PAGE = 1000  # the most persons one call of the API reads (RowsQuery.limit, EXCHANGE_MAX_LIMIT)
# Pages of persons read at least on each person line, the persons' pages read over again when there are fewer: with
# 2,000 persons, 20 pages of 100 or of 1,000 were 30-120 ms of reading a side, and one flush of the disk or one
# collection of the heap moved a ratio by 0.1 (0.41 and 0.60 in two runs of the same code, 2026-12-07).
PERSON_PAGES = 200
PERSON_FIELDS, PERSON_CLEAR = ["id_number", "name", "division_code", "status"], ["name"]  # granted; in clear


def _setup(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth.models import Permission
    from django.db import connection, transaction
    from oauth2_provider.models import get_application_model

    from rongcheng.accounts.models import AccountKind, Department, User
    from rongcheng.audit.services import Actor
    from rongcheng.catalogue import services
    from rongcheng.catalogue.models import masked_form
    from rongcheng.hall.selectors import city_today
    from rongcheng.kernel.identifiers import id_number_make
    from rongcheng.registries.services import person_register

    system = Actor.system("bench")
    provider = Department.objects.get_or_create(code="FZ-GSJ", defaults={"name": "福州市市场监督管理局"})[0]
    police = Department.objects.get_or_create(code="FZ-GAJ", defaults={"name": "福州市公安局"})[0]
    consumer = Department.objects.get_or_create(code="FZ-MZJ", defaults={"name": "福州市民政局"})[0]

    def staff(username: str, department: Any, *codenames: str) -> Any:
        user = User.objects.create_user(username=username, kind=AccountKind.STAFF, department=department,
                                        is_staff=True)  # fmt: skip
        user.user_permissions.add(*Permission.objects.filter(content_type__app_label="catalogue",
                                                             codename__in=codenames))  # fmt: skip
        return User.objects.get(pk=user.pk)

    resource = services.data_resource_create(provider_code=provider.code, actor=system, data={
        "name": "市场主体登记信息", "category": "departmental", "classification": "01001", "summary": "基准测试。",
        "items": ITEMS, "format": "database", "sharing_type": "conditional", "sharing_condition": "基准测试",
        "sharing_method": "api", "open_type": "not_open", "open_condition": "基准测试", "update_cycle": 1})  # fmt: skip
    began = time.perf_counter()
    buffer = io.StringIO()
    personal = resource.personal_items
    for n in range(args.rows):
        row = {"credit_code": f"91350100MA{n:08d}", "name": f"榕城第{n}号有限公司", "capital": float(n % 1000),
               "established": "2017-03-01", "legal_person": f"张{n % 97}三"}  # fmt: skip
        masked = masked_form(row, personal)  # as the upload service keeps it (ADR 0021)
        buffer.write(f"{resource.pk}\t{n + 1}\t{json.dumps(row, ensure_ascii=False)}\t"
                     f"{json.dumps(masked, ensure_ascii=False)}\n")  # fmt: skip
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.copy("COPY catalogue_resourcerow (resource_id, row_number, data, masked) FROM STDIN") as copy,
    ):
        copy.write(buffer.getvalue())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalogue_resourcerow")
    print(f"{args.rows:,} uploaded rows in {time.perf_counter() - began:.1f} s", flush=True)

    began = time.perf_counter()
    for n in range(args.persons):
        number = id_number_make(division_code="350102", birth_date=dt.date(1960 + n % 40, 1 + n % 12, 1 + n % 28),
                                sequence=n % 1000)  # fmt: skip
        person_register(data={"id_number": number, "name": f"林{n % 89}徐", "phone": f"138{n:08d}",
                              "ethnicity": "01", "address": f"福州市鼓楼区三坊七巷{n}号"}, actor=system)  # fmt: skip
    with connection.cursor() as cursor:  # the registry's statistics, as a database in service has them
        cursor.execute("ANALYZE registries_person")
    print(f"{args.persons:,} persons registered in {time.perf_counter() - began:.1f} s", flush=True)
    persons = services.data_resource_create(provider_code=police.code, actor=system, data={
        "name": "户籍人口个人信息", "category": "departmental", "classification": "10003", "summary": "基准测试。",
        "items": [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
                  for c in services.provider_columns("registries.persons")],
        "backing": "registries.persons", "format": "database", "sharing_type": "conditional",
        "sharing_condition": "基准测试", "sharing_method": "api", "open_type": "not_open", "open_condition": "个人信息",
        "update_cycle": 1})  # fmt: skip

    began = time.perf_counter()
    from rongcheng.cases.models import Case, Category

    city = Department.objects.get_or_create(code="FZ-CGW", defaults={"name": "福州市城市管理委员会"})[0]
    category = Category.objects.create(code="C0101", kind="component", major_code="01", major_name="公用设施类",
                                       minor_code="01", name="井盖", default_unit=city)  # fmt: skip
    for start in range(0, args.cases, 5000):
        Case.objects.bulk_create(
            Case(number=f"CG{n:012d}", token=f"t{n:031d}", category=category, channel="resident",
                 state="handling", description=f"井盖缺失，第{n}号", address=f"鼓楼区五四路{n}号",
                 longitude=119.29 + n % 100 / 10000, latitude=26.08 + n % 100 / 10000, district_code="350102",
                 unit=city)
            for n in range(start, min(start + 5000, args.cases))
        )  # fmt: skip
    print(f"{args.cases:,} city cases written in {time.perf_counter() - began:.1f} s", flush=True)
    cases = services.data_resource_create(provider_code=city.code, actor=system, data={
        "name": "城市管理案卷信息", "category": "thematic", "classification": "04001", "summary": "基准测试。",
        "items": [{"name": c.name, "type": c.type, "description": c.description, "personal": c.personal}
                  for c in services.provider_columns("cases.cases")],
        "backing": "cases.cases", "format": "database", "sharing_type": "conditional",
        "sharing_condition": "基准测试", "sharing_method": "api", "open_type": "not_open", "open_condition": "基准测试",
        "update_cycle": 1})  # fmt: skip

    asker = staff("bench-asker", consumer, "request_sharing")
    period = {"period_from": city_today(), "period_until": city_today() + dt.timedelta(days=90)}
    for shared, items, clear, steward_department in (
        (resource, [i["name"] for i in ITEMS], [], provider),
        (persons, PERSON_FIELDS, PERSON_CLEAR, police),
        (cases, [c.name for c in services.provider_columns("cases.cases")], [], city),
    ):
        request = services.sharing_request_submit(
            resource_code=shared.code, items=items, clear_items=clear, purpose=PURPOSE, scenario="基准测试",
            actor=asker, **period,
        )  # fmt: skip
        steward = staff(f"bench-steward-{steward_department.code}", steward_department, "steward_dataresource")
        services.sharing_request_transition(number=request.number, name="grant", actor=steward)

    system_user = User.objects.create_user(username="fz-mzj-system", kind=AccountKind.API_CLIENT, department=consumer)
    system_user.user_permissions.add(Permission.objects.get(codename="request_sharing"))
    application = get_application_model().objects.create(
        name="bench", user=system_user, client_type="confidential", authorization_grant_type="client-credentials",
        client_secret=SECRET,
    )  # fmt: skip
    return {"resource": resource.code, "persons": persons.code, "cases": cases.code, "client_id": application.client_id,
            "user": User.objects.get(pk=system_user.pk)}  # fmt: skip


def _bare_page(resource_pk: int, offset: int, page: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data FROM catalogue_resourcerow WHERE resource_id = %s AND row_number > %s ORDER BY row_number "
            "LIMIT %s",
            [resource_pk, offset, page],
        )
        return len([json.loads(d) if isinstance(d, str) else d for (d,) in cursor.fetchall()])


def _bare_cases_page(offset: int, page: int) -> int:
    """The same columns of the same cases as the exchange reads them, by the same ORM values query, no more."""
    from rongcheng.cases.models import Case
    from rongcheng.catalogue.providers import _CASE_COLUMNS, _CASES_NOT_KEPT

    query = Case.objects.exclude(state__in=_CASES_NOT_KEPT).order_by("id").values_list(*_CASE_COLUMNS)
    return len(list(query[offset : offset + page]))


def _bare_persons_page(offset: int, page: int) -> int:
    """The same persons and the same columns as the exchange reads them (the registry's columns for the fields
    granted: a masked ID number's stored masked form, the name in clear), by an ORM values query, no more."""
    from rongcheng.registries.models import Person
    from rongcheng.registries.selectors import _EXCHANGE_COLUMNS

    columns = [c for name in PERSON_FIELDS for c in _EXCHANGE_COLUMNS[name][name in PERSON_CLEAR]]
    return len(list(Person.objects.order_by("pk").values_list("pk", *columns)[offset : offset + page]))


def _bare_persons_instances(offset: int, page: int) -> int:
    """The bare read of persons before 2026-12-06 (s8-persons): whole instances with their addresses, every column."""
    from rongcheng.registries.models import Person

    return len(list(Person.objects.select_related("address").order_by("pk")[offset : offset + page]))


def _exchange_page(resource_code: str, user: Any, offset: int, page: int, fields: list[str] | None) -> int:
    from rongcheng.catalogue.services import exchange_read

    result = exchange_read(resource_code=resource_code, fields=fields, purpose=PURPOSE, offset=offset, limit=page,
                           user=user)  # fmt: skip
    row = result.rows[0] if result.rows else {}
    if fields is None and "legal_person" in row and not str(row["legal_person"]).startswith("张*"):
        raise SystemExit("the personal item was not masked")
    if fields is None and "description" in row and not str(row["description"]).startswith("井*"):
        raise SystemExit("the description of a case was not masked")
    return len(result.rows)


def _interleaved(pages: int, page: int, bare: Any, exchange: Any) -> tuple[float, float]:
    """Rows per second of each read, the two alternating page by page so that both see the same load (the machine
    is shared): bare page n, exchange page n, bare page n+1, ..."""
    spent = [0.0, 0.0]
    counts = [0, 0]
    for number in range(pages):
        for side, read in enumerate((bare, exchange)):
            began = time.perf_counter()
            counts[side] += read(number * page, page)
            spent[side] += time.perf_counter() - began
    if counts != [page * pages] * 2:
        raise SystemExit(f"read {counts} rows, expected {page * pages} each")
    return counts[0] / spent[0], counts[1] / spent[1]


def _token(port: int, client_id: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
    connection.request("POST", "/oauth/token/", body=urlencode({"grant_type": "client_credentials",
                                                                 "scope": "catalogue:exchange"}),
                       headers={"Authorization": f"Basic {basic}",
                                "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    response = connection.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"token refused: {body}")
    return str(body["access_token"])


def _http_page(connection: http.client.HTTPConnection, token: str, resource_code: str, offset: int, page: int) -> int:
    cls, _sep, seq = resource_code.partition("/")
    query = urlencode({"purpose": PURPOSE, "offset": offset, "limit": page})
    connection.request("GET", f"/api/v1/exchange/resources/{cls}/{seq}/rows?{query}",
                       headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    response = connection.getresponse()
    body = json.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"exchange answered {response.status}: {body}")
    return len(body["rows"])


def main() -> None:
    global DATABASE, DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--persons", type=int, default=2_000)
    parser.add_argument("--page", type=int, default=1000, help="rows per exchange call (the API allows 1..1000)")
    parser.add_argument("--person-page", type=int, default=100)
    parser.add_argument("--cases", type=int, default=50_000, help="city cases (a resource of platform data)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the exchange reads and stop")
    parser.add_argument("--database-name", default=DATABASE, help=f"the throwaway database (default {DATABASE})")
    parser.add_argument("--read-commit", choices=("durable", "async"), default="durable",
                        help="settings.AUDIT_READ_COMMIT: durable (the default) or async (ADR 0011)")  # fmt: skip
    args = parse_arguments(parser, rows=600, persons=20, page=100, person_page=10, cases=300)
    DATABASE = args.database_name
    DATA_DIR = DATA_DIR.with_name(DATABASE)
    if args.smoke:
        DATABASE = f"{DATABASE}_smoke_{os.getpid()}"
        DATA_DIR = DATA_DIR.with_name(f"{DATA_DIR.name}_smoke_{os.getpid()}")
    _drop_database(DATABASE)
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    atexit.register(shutil.rmtree, DATA_DIR, ignore_errors=True)
    atexit.register(_drop_database, DATABASE)
    create_database(DATABASE)
    fill_data_dir(DATA_DIR)
    env = {
        **os.environ, "DATABASE_URL": f"{PG_HOST}/{DATABASE}", "DJANGO_SETTINGS_MODULE": "rongcheng.config.settings",
        "RONGCHENG_AUDIT_SEAL_MODE": os.environ.get("BENCH_SEAL_MODE", "background"),
        "RONGCHENG_ALLOWED_HOSTS": "127.0.0.1,testserver",
        "RONGCHENG_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1", "RONGCHENG_AUDIT_READ_COMMIT": args.read_commit,
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    made = _setup(args)
    # The process settled as each server worker is at its start (config/wsgi.py: what lives as long as the process
    # frozen out of the collector's sight, young collections every 10,000 allocations): both sides of every line read
    # in a process like the one that serves the exchange, not one whose full collections walk the whole heap.
    import rongcheng.config.wsgi  # noqa: F401

    pages = args.rows // args.page
    person_pages = args.persons // args.person_page
    from rongcheng.catalogue.models import DataResource

    resource_pk = DataResource.objects.get(code=made["resource"]).pk
    user, person_fields = made["user"], PERSON_FIELDS
    _interleaved(min(pages, 3), args.page, lambda o, n: _bare_page(resource_pk, o, n),
                 lambda o, n: _exchange_page(made["resource"], user, o, n, None))  # warm  # fmt: skip
    if args.profile:
        import cProfile
        import pstats

        for label, run in (
            ("rows", lambda: [_exchange_page(made["resource"], user, n * args.page, args.page, None)
                              for n in range(pages)]),
            ("persons", lambda: [_exchange_page(made["persons"], user, n * args.person_page, args.person_page,
                                                person_fields) for n in range(person_pages)]),
        ):  # fmt: skip
            profiler = cProfile.Profile()
            profiler.runcall(run)
            print(f"\n--- profile of the exchange reads of {label} ---")
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(25)
        from django.test import Client

        basic = base64.b64encode(f"{made['client_id']}:{SECRET}".encode()).decode()
        client = Client()
        token = client.post("/oauth/token/", {"grant_type": "client_credentials", "scope": "catalogue:exchange"},
                            HTTP_AUTHORIZATION=f"Basic {basic}").json()["access_token"]  # fmt: skip
        cls, _sep, seq = made["resource"].partition("/")

        def http_pages() -> None:
            for n in range(pages):
                query = urlencode({"purpose": PURPOSE, "offset": n * args.page, "limit": args.page})
                response = client.get(f"/api/v1/exchange/resources/{cls}/{seq}/rows?{query}",
                                      HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip
                if response.status_code != 200:
                    raise SystemExit(f"exchange answered {response.status_code}: {response.content!r}")

        profiler = cProfile.Profile()
        profiler.runcall(http_pages)
        print("\n--- profile of the exchange reads of rows through the API (in process) ---")
        lines = int(os.environ.get("BENCH_PROFILE_LINES", "30"))
        pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "tottime")).print_stats(lines)
        return
    bare, service = _interleaved(pages, args.page, lambda o, n: _bare_page(resource_pk, o, n),
                                 lambda o, n: _exchange_page(made["resource"], user, o, n, None))  # fmt: skip
    case_pages = args.cases // args.page
    bare_cases, service_cases = _interleaved(
        case_pages, args.page, _bare_cases_page, lambda o, n: _exchange_page(made["cases"], user, o, n, None),
    )  # fmt: skip
    # Warmed like the uploaded rows: the first page of each read pays once for what a running server has done
    # already (the statement's plan kept in the session, ADR 0020; the queries' compilation), not per page.
    _interleaved(min(person_pages, 3), args.person_page, _bare_persons_page,
                 lambda o, n: _exchange_page(made["persons"], user, o, n, person_fields))  # fmt: skip
    persons_read = person_pages * args.person_page
    bare_persons, service_persons = _interleaved(
        max(person_pages, PERSON_PAGES), args.person_page, lambda o, n: _bare_persons_page(o % persons_read, n),
        lambda o, n: _exchange_page(made["persons"], user, o % persons_read, n, person_fields),
    )  # fmt: skip
    instances_persons, _same = _interleaved(person_pages, args.person_page, _bare_persons_instances,
                                            _bare_persons_page)  # fmt: skip
    # The same reads in pages of the most the API gives a call (1,000, as for uploaded rows): a line of its own, the
    # goal's line stays on --person-page.
    # At least PERSON_PAGES pages, the persons' pages read over again when there are fewer (with 2,000 persons two pages
    # of 1,000 gave a figure of two samples), after one page each not counted (the statement's planning).
    widest = min(MAX_PERSON_PAGE, args.persons)
    wide_pages = max(1, args.persons // widest)
    _interleaved(1, widest, _bare_persons_page,
                 lambda o, n: _exchange_page(made["persons"], user, o, n, person_fields))  # warm  # fmt: skip
    bare_wide, service_wide = _interleaved(
        max(wide_pages, PERSON_PAGES), widest, lambda o, n: _bare_persons_page(o % (wide_pages * widest), n),
        lambda o, n: _exchange_page(made["persons"], user, o % (wide_pages * widest), n, person_fields),
    )  # fmt: skip
    connections.close_all()

    port = _free_port()
    log = DATA_DIR / "bench-server.log"
    with log.open("wb") as output:
        server = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
                                  env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        _wait_for(port, server, log)
        token = _token(port, made["client_id"])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def bare_page(offset: int, size: int) -> int:
            return _bare_page(resource_pk, offset, size)

        def http_page(offset: int, size: int) -> int:
            return _http_page(connection, token, made["resource"], offset, size)

        _interleaved(min(pages, 3), args.page, bare_page, http_page)  # warm
        bare_http, over_http = _interleaved(pages, args.page, bare_page, http_page)
        connection.close()
    finally:
        _stop(server)

    with open("/proc/loadavg") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    print(f"\nExchange reads, PostgreSQL, {args.rows:,} rows in pages of {args.page}, {args.persons:,} persons in "
          f"pages of {args.person_page}; read records committed {args.read_commit}; load average {load}")  # fmt: skip
    print(f"{'read':<58} {'rows/s':>10} {'ratio':>7}")
    for label, rate, base in (
        ("bare SELECT of the uploaded rows", bare, bare),
        ("exchange_read (grant, projection, masking, use + audit)", service, bare),
        ("bare SELECT of the uploaded rows (alongside HTTP)", bare_http, bare_http),
        ("GET /api/v1/exchange/.../rows over HTTP (1 connection)", over_http, bare_http),
        ("bare query of the city cases (platform data)", bare_cases, bare_cases),
        ("exchange_read of city cases (description masked)", service_cases, bare_cases),
        ("bare SELECT of the persons", bare_persons, bare_persons),
        ("exchange_read of person records (each read recorded)", service_persons, bare_persons),
        ("whole person instances and addresses (the bare before s8)", instances_persons, bare_persons),
        (f"bare SELECT of the persons, pages of {widest:,}", bare_wide, bare_wide),
        (f"exchange_read of person records, pages of {widest:,}", service_wide, bare_wide),
    ):
        print(f"{label:<58} {rate:>10,.0f} {rate / base:>7.2f}")
    goal("exchange reads of uploaded rows (service, grant check and audit) at least 0.5x a bare query of the same "
         "rows", f"{service / bare:.2f}x ({service:,.0f} vs {bare:,.0f} rows/s)", service / bare >= 0.5)  # fmt: skip
    goal("exchange reads of uploaded rows over HTTP at least 0.5x a bare query of the same rows",
         f"{over_http / bare_http:.2f}x ({over_http:,.0f} vs {bare_http:,.0f} rows/s)",
         over_http / bare_http >= 0.5)  # fmt: skip
    goal("exchange reads of platform data (city cases) at least 0.5x a bare query of the same rows",
         f"{service_cases / bare_cases:.2f}x ({service_cases:,.0f} vs {bare_cases:,.0f} rows/s)",
         service_cases / bare_cases >= 0.5)  # fmt: skip
    goal("exchange reads of person records (each read recorded) at least 0.5x a bare query of the same persons",
         f"{service_persons / bare_persons:.2f}x ({service_persons:,.0f} vs {bare_persons:,.0f} rows/s)",
         service_persons / bare_persons >= 0.5)  # fmt: skip
    goal(f"exchange reads of person records in pages of {widest:,} (1,000 the API's most) at least 0.5x a bare query "
         "of the same persons", f"{service_wide / bare_wide:.2f}x ({service_wide:,.0f} vs {bare_wide:,.0f} rows/s)",
         service_wide / bare_wide >= 0.5)  # fmt: skip


if __name__ == "__main__":
    main()
