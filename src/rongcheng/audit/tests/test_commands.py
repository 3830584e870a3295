from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from rongcheng.audit.management.commands.audit import Command
from rongcheng.audit.models import AuditChainLink, AuditPending, AuditRecord
from rongcheng.audit.services import audit_seal
from rongcheng.audit.tests.helpers import a_moment_later, append, raw_sql

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("audit", *args, stdout=out)
    return out.getvalue()


def test_verify_intact():
    append(3)
    audit_seal()
    head = AuditChainLink.objects.get(sequence=3)
    assert (
        run("verify") == f"audit chain intact: 3 records checked, head 3:{bytes(head.mac).hex()}, 0 awaiting sealing\n"
    )


def test_verify_names_the_first_bad_record_and_exits_1():
    records = append(4)
    audit_seal()
    if connection.vendor == "postgresql":
        raw_sql("SET LOCAL session_replication_role = replica")
    raw_sql("UPDATE audit_record SET target_id = 'other' WHERE id = %s", [records[1].pk])
    with pytest.raises(CommandError) as raised:
        run("verify")
    assert str(raised.value) == f"audit chain broken at record {records[1].pk}: content changed"
    assert raised.value.returncode == 1


def test_verify_exit_status_from_the_command_line(capsys):
    """What `rongcheng audit verify` and cron see: the status and one line on stderr."""
    records = append(2)
    audit_seal()
    if connection.vendor == "postgresql":
        raw_sql("SET LOCAL session_replication_role = replica")
    raw_sql("UPDATE audit_record SET outcome = 'failure' WHERE id = %s", [records[0].pk])
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "audit", "verify"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == f"CommandError: audit chain broken at record {records[0].pk}: content changed\n"


def test_verify_expect():
    append(2)
    result = audit_seal()
    assert run("verify", "--expect", f"2:{result.head_mac}").startswith("audit chain intact")
    with pytest.raises(CommandError, match="differs from the expected head"):
        run("verify", "--expect", f"2:{'00' * 32}")
    with pytest.raises(CommandError, match="SEQUENCE:MAC_HEX"):
        run("verify", "--expect", "two")


def test_seal():
    append(3)
    assert run("seal") == "sealed 3 records\n"
    assert AuditPending.objects.count() == 0
    assert run("seal") == "sealed 0 records\n"


def test_export(tmp_path):
    records = append(2)
    audit_seal()
    target = tmp_path / "trail.jsonl"
    output = run("export", str(target))
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["record"]["id"] for line in lines[1:]] == [r.pk for r in records]
    assert output == f"exported 2 records to {target} (SM3 {AuditRecord.objects.latest('id').detail['sm3']})\n"
    assert AuditRecord.objects.latest("id").actor_kind == "system"


def test_purge_refuses_within_retention(tmp_path):
    append(2)
    audit_seal()
    day = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
    with pytest.raises(CommandError, match="Records must be kept 180 days"):
        run("purge", "--before", day, "--export", str(tmp_path / "p.jsonl"))
    assert AuditRecord.objects.count() == 2
    assert list(tmp_path.iterdir()) == []


def test_purge_nothing_old_enough(tmp_path):
    append(1)
    audit_seal()
    day = (timezone.localdate() - dt.timedelta(days=200)).isoformat()
    assert run("purge", "--before", day, "--export", str(tmp_path / "p.jsonl")) == f"nothing to purge before {day}\n"


def test_purge(settings, tmp_path):
    settings.AUDIT_RETENTION_DAYS = 0
    append(2)
    audit_seal()
    a_moment_later()
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(CommandError, match="Records must be kept 0 days"):
        run("purge", "--before", tomorrow, "--export", str(tmp_path / "p.jsonl"))
    # The command takes whole days and records carry the database's time, so only a negative retention lets a test
    # purge what it just wrote.
    settings.AUDIT_RETENTION_DAYS = -2
    output = run("purge", "--before", tomorrow, "--export", str(tmp_path / "p.jsonl"))
    assert output.startswith("purged 2 records (links 1–2); exported to ")
    assert AuditRecord.objects.values_list("action", flat=True).get() == "audit.purge"


def test_bad_date():
    with pytest.raises(CommandError, match="not a date"):
        run("purge", "--before", "2024-13-01", "--export", "x.jsonl")
