"""Room on the page for the updates of cards and ledger accounts (ADR 0012, "Heap-only updates").

A tap batch updates every card it names (`tap_counter`) and every account it names (the balance), and every payment
updates two accounts. None of the columns updated is indexed, so PostgreSQL can write the new version of the row on
the same page without touching any index (a heap-only tuple, HOT), but only if the page has room. Filled to 100 % as
tables are by default, it had none: measured on a batch of 2,000 taps over 200 cards, 17 of 1,200 card updates and
24 of 1,407 account updates were HOT, so each update wrote a new entry into every index of the table (ten on cards,
three on accounts): about 2,600 index entries per batch, and six per payment, for rows whose keys did not change.

Pages of these two tables are now filled to 70 % (cards) and 50 % (accounts, updated by every payment) when rows
are written: on the same batches, 377 of 1,200 card updates and 806 of 1,407 account updates were HOT (40 % for
both gave 789 and 932, at two and a half times the space; the benchmark's 200 cards are all on a few pages and all
updated by every batch, the worst case: a city's batch names a few cards per page, each with room to spare). The setting applies to pages written from now on; an installation with existing cards and accounts
gets the room on its existing pages by rewriting the two tables once, in a quiet hour:
`VACUUM FULL card_card, card_ledgeraccount` (it cannot run inside the migration's transaction). SQLite has no
such setting: nothing to do there.
"""

from django.db import migrations

FORWARD = "ALTER TABLE card_card SET (fillfactor = 70); ALTER TABLE card_ledgeraccount SET (fillfactor = 50)"
BACKWARD = "ALTER TABLE card_card RESET (fillfactor); ALTER TABLE card_ledgeraccount RESET (fillfactor)"


def _forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def _backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("card", "0011_references_checked_per_statement"),
    ]

    operations = [migrations.RunPython(_forward, _backward, elidable=False)]
