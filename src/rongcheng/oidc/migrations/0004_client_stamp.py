# The stamp of clients (oidc.models.ClientStamp): one row, bumped by triggers on every change to what a token grant
# reads of a client, so each process's cache of clients sees a change at its next grant (ADR 0008, amended).

from typing import Any

from django.db import migrations, models

STAMP = "oidc_clientstamp"
# The row may be missing (a test database flushed between tests deletes it): the bump makes it again.
BUMP = f"INSERT INTO {STAMP} (id, value) VALUES (1, 0) ON CONFLICT (id) DO NOTHING; UPDATE {STAMP} SET value = value + 1 WHERE id = 1"
# (table, the row-level condition for an UPDATE, or None: any change of the table counts)
WATCHED = [
    ("oauth2_provider_application", None),
    ("oidc_clientregistration", None),
    ("accounts_user", "OLD.is_active <> NEW.is_active OR OLD.is_superuser <> NEW.is_superuser"),
]

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION oidc_client_stamp_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {BUMP};
    RETURN NULL;
END $$;
"""


def _postgresql() -> list[str]:
    statements = [POSTGRESQL_FUNCTION]
    for table, condition in WATCHED:
        if condition is None:
            statements.append(
                f"CREATE TRIGGER oidc_client_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION oidc_client_stamp_bump()"
            )
        else:
            statements.append(
                f"CREATE TRIGGER oidc_client_stamp AFTER UPDATE ON {table} FOR EACH ROW WHEN ({condition}) "
                "EXECUTE FUNCTION oidc_client_stamp_bump()"
            )
            statements.append(
                f"CREATE TRIGGER oidc_client_stamp_delete AFTER DELETE ON {table} FOR EACH STATEMENT "
                "EXECUTE FUNCTION oidc_client_stamp_bump()"
            )
    return statements


def _sqlite() -> list[str]:
    statements = []
    for table, condition in WATCHED:
        events = [("insert", "INSERT", None), ("update", "UPDATE", condition), ("delete", "DELETE", None)]
        for name, event, when in events:
            if condition is not None and event == "INSERT":
                continue  # a new account owns no client yet
            clause = f" WHEN {when}" if when else ""
            statements.append(
                f"CREATE TRIGGER oidc_client_stamp_{table}_{name} AFTER {event} ON {table} FOR EACH ROW{clause} "
                f"BEGIN {BUMP}; END"
            )
    return statements


def create(apps: Any, schema_editor: Any) -> None:
    apps.get_model("oidc", "ClientStamp").objects.create(pk=1, value=0)
    vendor = schema_editor.connection.vendor
    if vendor not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"no client-stamp triggers for {vendor}")
    for statement in _postgresql() if vendor == "postgresql" else _sqlite():
        schema_editor.execute(statement)


def drop(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table, condition in WATCHED:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS oidc_client_stamp ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS oidc_client_stamp_delete ON {table}")
        else:
            for name in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS oidc_client_stamp_{table}_{name}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS oidc_client_stamp_bump()")


class Migration(migrations.Migration):

    dependencies = [
        ("oidc", "0003_access_token_algorithm"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        ("accounts", "0004_password_change"),
    ]

    operations = [
        migrations.CreateModel(
            name="ClientStamp",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(default=0, verbose_name="value")),
            ],
            options={"verbose_name": "client stamp", "verbose_name_plural": "client stamps"},
        ),
        migrations.RunPython(create, drop),
    ]
