"""Set-based booking of offline tap batches (ADR 0012, "Offline tap batches, set-based").

The card row keeps the highest transaction counter of its taps booked so far (`tap_counter`), filled here from the
taps already booked, so a batch finds its gaps without reading the cards' histories. Four single-column indexes that
a composite index already serves are dropped (transfer debit and credit, entry account, tap card): every index is
written once per row, and a tap batch writes thousands of transfers, entries and taps.
"""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = "UPDATE card_card SET tap_counter = COALESCE((SELECT MAX(t.counter) FROM card_tap t WHERE t.card_id = card_card.id), 0)"


class Migration(migrations.Migration):
    dependencies = [
        ("card", "0005_card_status_active_label"),
    ]

    operations = [
        migrations.AddField(
            model_name="card",
            name="tap_counter",
            field=models.PositiveIntegerField(default=0, verbose_name="highest tap counter booked"),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
        migrations.AlterField(
            model_name="entry",
            name="account",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entries",
                to="card.ledgeraccount",
            ),
        ),
        migrations.AlterField(
            model_name="tap",
            name="card",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name="taps", to="card.card"
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="credit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="card.ledgeraccount",
                verbose_name="credit",
            ),
        ),
        migrations.AlterField(
            model_name="transfer",
            name="debit",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="card.ledgeraccount",
                verbose_name="debit",
            ),
        ),
    ]
