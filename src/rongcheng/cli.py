"""The `rongcheng` command line: demo, serve, seed, import, check, audit, manage.

Operators get one clear sentence and a non-zero exit for a wrong DATABASE_URL, an unreachable database or a
read-only data directory, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

EXIT_CONFIGURATION = 2
CHECK_DATABASE, CHECK_MIGRATIONS, CHECK_CRYPTO, CHECK_AUDIT = 1 << 2, 1 << 3, 1 << 4, 1 << 5
CHECK_DUTIES = 1 << 6


class CommandFailed(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rongcheng.config.settings")
    import django

    from rongcheng.config.environment import ConfigurationError

    try:
        django.setup()
    except ConfigurationError as exc:
        raise CommandFailed(str(exc), EXIT_CONFIGURATION) from exc


def _database_reachable() -> None:
    from django.db import connection
    from django.db.utils import OperationalError

    try:
        connection.ensure_connection()
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA user_version")
    except OperationalError as exc:
        where = connection.settings_dict.get("HOST") or connection.settings_dict.get("NAME")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise CommandFailed(f"The database at {where} cannot be reached: {reason}.", EXIT_CONFIGURATION) from exc


def _migrate(verbose: bool) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)


def _collectstatic() -> None:
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def _progress_bar(total: int, label: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    from tqdm import tqdm

    bar = tqdm(
        total=total, desc=label, unit="rows", unit_scale=True, disable=total < 20_000 and not sys.stderr.isatty()
    )

    def update(count: int) -> None:
        bar.update(count)

    return update, bar.close


def _seed(persons: int, entities: int, seed: int) -> Any:
    from rongcheng.demo.services import demo_city_seed

    update, close = _progress_bar(persons + entities, "seeding")
    try:
        return demo_city_seed(persons=persons, entities=entities, seed=seed, progress=update)
    finally:
        close()


def _metrics_prepare(*, wipe: bool) -> None:
    """prometheus-client's multiprocess mode (rongcheng.operations.metrics) for this process and the workers it
    starts: the directory must be known before anything imports prometheus_client, so before Django is set up."""
    from rongcheng.config.environment import ConfigurationError, data_dir
    from rongcheng.operations.multiprocess import multiprocess_dir_prepare

    try:
        multiprocess_dir_prepare(data_dir() / "metrics", wipe=wipe)
    except ConfigurationError as exc:
        raise CommandFailed(str(exc), EXIT_CONFIGURATION) from exc


def _serve(host: str, port: int, workers: int, threads: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    _collectstatic()
    from django.db import connections

    connections.close_all()  # the workers fork from here: none may share this process's connections
    Granian(
        "rongcheng.config.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        # No static mount: granian would answer /static/ without the security headers (CSP, nosniff, referrer
        # policy); WhiteNoise serves them inside Django's middleware instead (config/settings.py).
        log_access=False,
        # A worker that dies is replaced; its counters stay in the metrics directory (rongcheng.operations.metrics).
        respawn_failed_workers=True,
        workers_lifetime=int(os.environ["RONGCHENG_WORKERS_LIFETIME"])
        if os.environ.get("RONGCHENG_WORKERS_LIFETIME")
        else None,
    ).serve()


# A visitor walking every story of the demo signs in some twenty times from one address within minutes (the walk of
# all nine stories meets the production limit, 30 in 10 minutes, at the fourth). The demo allows that; each account's
# lockout after failed attempts still applies, and an operator's own RONGCHENG_RATE_LIMITS, read after it, wins.
DEMO_RATE_LIMITS = "identity.sign_in.address=300/600"


def demo_environment() -> None:
    """The settings the demo runs with, set before Django reads them (the server's workers inherit them)."""
    own = os.environ.get("RONGCHENG_RATE_LIMITS", "")
    if DEMO_RATE_LIMITS not in own:
        os.environ["RONGCHENG_RATE_LIMITS"] = ",".join(filter(None, [DEMO_RATE_LIMITS, own]))


def command_demo(args: argparse.Namespace) -> int:
    demo_environment()
    _metrics_prepare(wipe=True)
    _setup()
    _database_reachable()
    print("Preparing the database…", flush=True)
    _migrate(verbose=False)
    report = _seed(args.persons, args.entities, args.seed)
    print(
        f"Demo city ready: {report.persons_added} persons, {report.entities_added} legal entities, "
        f"{report.places_added} divisions and grid cells added (0 means they were there already)."
    )
    url = f"http://{args.host}:{args.port}/"
    print(f"\nRongcheng is serving at {url}")
    print("Demo sign-in accounts (also in the data directory, file demo-accounts.txt):")
    for username, password, role in report.accounts:
        print(f"  {username:<12} {password:<20} {role}")
    print("Staff accounts also need a TOTP code: `rongcheng totp <username>` prints the current one (demo only).")
    from django.conf import settings

    accounts_file = Path(settings.DATA_DIR) / "demo-accounts.txt"
    for line in accounts_file.read_text(encoding="utf-8").splitlines() if accounts_file.exists() else []:
        if line.startswith("open311\t"):  # the city cases' Open311 key of a demo department system
            print(f"  Open311 api_key (POST {url}open311/v2/requests.json): {line.split(chr(9))[1]}")
    if report.metrics_token:
        print(f"Metrics: curl -H 'Authorization: Bearer {report.metrics_token}' {url}metrics")
    print("Press Ctrl+C to stop.\n", flush=True)
    # The demo's job worker runs beside the server, as `rongcheng worker` (production runs it as its own unit). A
    # process started afresh, not forked from this one: nothing of this process's database connections goes with it.
    import signal
    import subprocess

    worker = subprocess.Popen([sys.executable, "-m", "rongcheng.cli", "worker"])
    try:
        _serve(args.host, args.port, args.workers, args.threads)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    return 0


def command_serve(args: argparse.Namespace) -> int:
    _metrics_prepare(wipe=True)
    _setup()
    _database_reachable()
    print(f"Rongcheng is serving at http://{args.host}:{args.port}/", flush=True)
    _serve(args.host, args.port, args.workers, args.threads)
    return 0


def command_worker(args: argparse.Namespace) -> int:
    """The job worker (django-q2 cluster, ADR 0013): runs until SIGTERM or Ctrl+C; --once runs what is due and stops."""
    _metrics_prepare(wipe=False)
    _setup()
    _database_reachable()
    from rongcheng.operations.worker import worker_once, worker_run

    if args.once:
        print(f"Ran {worker_once()} jobs.")
        return 0
    print("Rongcheng job worker running; Ctrl+C to stop.", flush=True)
    worker_run()
    return 0


def _backup_key(args: argparse.Namespace) -> str | None:
    if args.key_file:
        return Path(args.key_file).read_text(encoding="ascii").strip()
    return None


def command_backup(args: argparse.Namespace) -> int:
    _setup()
    _database_reachable()
    from rongcheng.operations.backup import BackupError, backup_create

    try:
        result = backup_create(output_dir=Path(args.output) if args.output else None, key_hex=_backup_key(args))
    except BackupError as exc:
        raise CommandFailed(str(exc)) from exc
    print(f"Backup written: {result.path} ({result.size} bytes, {result.members} files, SM3 {result.digest}).")
    return 0


def command_restore(args: argparse.Namespace) -> int:
    _setup()
    _database_reachable()
    from rongcheng.operations.backup import BackupError, backup_restore

    try:
        result = backup_restore(Path(args.file), key_hex=_backup_key(args))
    except BackupError as exc:
        raise CommandFailed(str(exc)) from exc
    print(f"Restored the {result.vendor} database of {result.created_at} and {result.keys_written} key files.")
    print("Run `rongcheng check` next: it verifies the audit chain against the restored rows.")
    return 0


def command_seed(args: argparse.Namespace) -> int:
    _setup()
    _database_reachable()
    _migrate(verbose=False)
    report = _seed(args.persons, args.entities, args.seed)
    print(f"Added {report.persons_added} persons and {report.entities_added} legal entities.")
    return 0


def command_check(args: argparse.Namespace) -> int:
    """Each failed check sets its own bit of the exit status: 4 database, 8 migrations, 16 crypto, 32 audit,
    64 separation of administrator duties."""
    _setup()
    status = 0
    try:
        _database_reachable()
        print("ok   database reachable")
    except CommandFailed as exc:
        print(f"FAIL database: {exc}")
        return CHECK_DATABASE
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    plan = MigrationExecutor(connection).migration_plan(MigrationExecutor(connection).loader.graph.leaf_nodes())
    if plan:
        print(f"FAIL migrations: {len(plan)} not applied; run `rongcheng manage migrate`")
        status |= CHECK_MIGRATIONS
    else:
        print("ok   migrations applied")
    from rongcheng.kernel.crypto import self_test

    failures = self_test()
    if failures:
        print("FAIL cryptography self-test: " + "; ".join(failures))
        status |= CHECK_CRYPTO
    else:
        print("ok   cryptography self-test (SM2, SM3, SM4 official vectors)")
    if not plan:
        from rongcheng.audit.services import audit_verify

        result = audit_verify()
        if result.ok:
            print(f"ok   audit chain intact ({result.checked} records)")
        else:
            print(f"FAIL {result.message}")
            status |= CHECK_AUDIT
        from rongcheng.staff.selectors import duty_violations

        violations = duty_violations()
        for violation in violations:
            print(f"FAIL {violation.code} {violation.subject}: {violation.message}")
            status |= CHECK_DUTIES
        if not violations:
            print("ok   separation of administrator duties")
    return status


def openapi_document() -> str:
    import json

    from rongcheng.config.api import api

    return (
        json.dumps(api.get_openapi_schema(path_prefix="/api/v1"), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    )


def command_openapi(args: argparse.Namespace) -> int:
    """Print the OpenAPI document, write it, or check that the committed one has not drifted."""
    _setup()
    from pathlib import Path

    document = openapi_document()
    if args.check:
        committed = Path(args.check)
        if not committed.exists() or committed.read_text(encoding="utf-8") != document:
            raise CommandFailed(
                f"{committed} differs from the API's OpenAPI document; run `rongcheng openapi --write {committed}`."
            )
        print(f"{committed} matches the API.")
    elif args.write:
        Path(args.write).write_text(document, encoding="utf-8")
        print(f"Wrote {args.write}.")
    else:
        sys.stdout.write(document)
    return 0


def command_manage(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["rongcheng manage", *args.rest])
    return 0


def command_audit(args: argparse.Namespace) -> int:
    _setup()
    _database_reachable()
    from django.core.management import CommandError, call_command

    try:
        call_command("audit", *args.rest)
    except CommandError as exc:
        print(f"rongcheng: {exc}", file=sys.stderr)
        return exc.returncode
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _import_progress() -> tuple[Callable[[int, int | None], None], Callable[[], None]]:
    """A progress bar made at the first report, when the import knows how many rows the file holds."""
    from tqdm import tqdm

    bars: list[Any] = []

    def update(done: int, total: int | None) -> None:
        if not bars:
            quiet = (total or 0) < 20_000 and not sys.stderr.isatty()
            bars.append(tqdm(total=total, desc="importing", unit="rows", unit_scale=True, disable=quiet))
        bars[0].update(done - bars[0].n)

    def close() -> None:
        if bars:
            bars[0].close()

    return update, close


def command_import(args: argparse.Namespace) -> int:
    """Exit 0: every row imported or already there; 1: rows rejected (the error report says which); 2: the file was
    refused as a whole, or could not be read, and nothing was stored."""
    import getpass
    from pathlib import Path

    path = Path(args.file)
    if not path.is_file():
        raise CommandFailed(f"{path} {'is not a file' if path.exists() else 'does not exist'}.", EXIT_CONFIGURATION)
    if not os.access(path, os.R_OK):
        raise CommandFailed(f"{path} cannot be read: permission denied.", EXIT_CONFIGURATION)
    _setup()
    _database_reachable()
    from rongcheng.audit.services import Actor
    from rongcheng.registries.importing import ImportFileRefused, registry_import

    actor = Actor("system", "cli", f"rongcheng import ({getpass.getuser()})"[:150])
    update, close = _import_progress()
    try:
        report = registry_import(
            kind=args.kind, source=path, filename=path.name, strict=args.strict, actor=actor, progress=update
        )
    except ImportFileRefused as exc:
        raise CommandFailed(f"{exc.detail} Nothing was imported.", EXIT_CONFIGURATION) from exc
    finally:
        close()
    print(
        f"{path.name}: {report.rows_read} rows read, {report.inserted} imported, {report.unchanged} already "
        f"registered with the same data, {report.rejected} rejected."
    )
    if not report.committed:
        print("Strict mode: a row was rejected, so nothing was imported.")
    if report.errors:
        errors_path = Path(args.errors) if args.errors else path.with_name(f"{path.stem}.errors.csv")
        try:
            _write_error_report(errors_path, report.error_rows())
        except OSError as exc:
            raise CommandFailed(
                f"The error report cannot be written to {errors_path}: {exc.strerror or exc}.", EXIT_CONFIGURATION
            ) from exc
        omitted = f" ({report.errors_omitted} more not itemised)" if report.errors_omitted else ""
        print(f"Error report: {errors_path}{omitted}")
    return 1 if report.rejected else 0


def _write_error_report(path: os.PathLike[str], rows: Iterable[Sequence[str]]) -> None:
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)


def command_totp(args: argparse.Namespace) -> int:
    """The current TOTP code of a demo staff account; refused for any account whose secret the demo did not write
    into this data directory's demo-accounts.txt."""
    _setup()
    from django.conf import settings

    from rongcheng.demo.identity import demo_totp_secret
    from rongcheng.identity import totp
    from rongcheng.identity.clock import clock

    secret = demo_totp_secret(Path(settings.DATA_DIR) / "demo-accounts.txt", args.username)
    if secret is None:
        raise CommandFailed(
            f"{args.username} is not a demo staff account of this data directory ({settings.DATA_DIR})."
        )
    now = clock.now()
    remaining = totp.STEP_SECONDS - int(now.timestamp()) % totp.STEP_SECONDS
    print(totp.totp(secret, now))
    print(f"(demo only; valid for {remaining} more seconds)", file=sys.stderr)
    return 0


def _server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=os.environ.get("RONGCHENG_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("RONGCHENG_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("RONGCHENG_WORKERS", "1")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("RONGCHENG_THREADS", "4")))


def _size_flags(parser: argparse.ArgumentParser, persons: int, entities: int) -> None:
    parser.add_argument("--persons", type=int, default=persons, help="persons in the demo city")
    parser.add_argument("--entities", type=int, default=entities, help="legal entities in the demo city")
    parser.add_argument("--seed", type=int, default=2017, help="random seed: the same seed gives the same city")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rongcheng", description="Rongcheng digital-government platform")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="migrate, seed the demo city and serve it on http://127.0.0.1:8000")
    _server_flags(demo)
    _size_flags(demo, persons=2_000, entities=300)
    demo.set_defaults(handler=command_demo)
    serve = sub.add_parser("serve", help="serve the platform (granian, WSGI) without seeding")
    _server_flags(serve)
    serve.set_defaults(handler=command_serve)
    seed = sub.add_parser("seed", help="generate the demo city (idempotent; resumes where it stopped)")
    _size_flags(seed, persons=2_000, entities=300)
    seed.set_defaults(handler=command_seed)
    check = sub.add_parser("check", help="database, migrations, cryptography self-test, audit chain")
    check.set_defaults(handler=command_check)
    audit = sub.add_parser("audit", help="audit trail: verify, seal, export, purge")
    audit.add_argument("rest", nargs=argparse.REMAINDER)
    audit.set_defaults(handler=command_audit)
    bulk = sub.add_parser("import", help="import persons or legal entities from a CSV or Excel (.xlsx) file")
    bulk.add_argument("kind", choices=["persons", "entities"])
    bulk.add_argument("file", help="a .csv (UTF-8) or .xlsx file whose first row names the columns")
    bulk.add_argument("--strict", action="store_true", help="import nothing if any row is rejected")
    bulk.add_argument("--errors", metavar="PATH", help="where to write the error report (default: FILE.errors.csv)")
    bulk.set_defaults(handler=command_import)
    openapi = sub.add_parser("openapi", help="the OpenAPI document of /api/v1/")
    group = openapi.add_mutually_exclusive_group()
    group.add_argument("--check", metavar="FILE", help="fail if FILE differs from the API")
    group.add_argument("--write", metavar="FILE", help="write the document to FILE")
    openapi.set_defaults(handler=command_openapi)
    totp_command = sub.add_parser("totp", help="print the current TOTP code of a demo staff account (demo only)")
    totp_command.add_argument("username")
    totp_command.set_defaults(handler=command_totp)
    worker = sub.add_parser("worker", help="run the background job worker (its own process in production)")
    worker.add_argument("--once", action="store_true", help="run the jobs that are due now, then stop")
    worker.set_defaults(handler=command_worker)
    backup = sub.add_parser("backup", help="encrypted backup of the database and the data directory's keys")
    backup.add_argument("--output", metavar="DIR", help="where to write it (default RONGCHENG_BACKUP_DIR)")
    backup.add_argument("--key-file", metavar="FILE", help="the backup key (else RONGCHENG_BACKUP_KEY)")
    backup.set_defaults(handler=command_backup)
    restore = sub.add_parser("restore", help="restore a backup into an empty database and data directory")
    restore.add_argument("file")
    restore.add_argument("--key-file", metavar="FILE", help="the backup key (else RONGCHENG_BACKUP_KEY)")
    restore.set_defaults(handler=command_restore)
    manage = sub.add_parser("manage", help="Django's manage.py commands")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    manage.set_defaults(handler=command_manage)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from django.db.utils import OperationalError

    try:
        return int(args.handler(args))
    except CommandFailed as exc:
        print(f"rongcheng: {exc}", file=sys.stderr)
        return exc.status
    except OperationalError as exc:
        print(f"rongcheng: the database failed: {str(exc).strip().splitlines()[0]}.", file=sys.stderr)
        return EXIT_CONFIGURATION
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
