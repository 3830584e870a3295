"""Fewer index entries written per transfer (ADR 0012, "Offline tap batches, set-based"): the client key is unique
by a plain constraint (Django's unique=True also built a varchar_pattern_ops index for LIKE queries nobody makes),
and the index of reversals holds only the transfers that reverse one (refunds), not a NULL for every tap."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('card', '0007_card_pay_function'),
    ]

    operations = [
        migrations.AlterField(
            model_name='transfer',
            name='key',
            field=models.CharField(max_length=100, verbose_name='client key'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='reverses',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversals', to='card.transfer', verbose_name='reverses'),
        ),
        migrations.AddIndex(
            model_name='transfer',
            index=models.Index(condition=models.Q(('reverses__isnull', False)), fields=['reverses'], name='card_transfer_reverses'),
        ),
        migrations.AddConstraint(
            model_name='transfer',
            constraint=models.UniqueConstraint(fields=('key',), name='card_transfer_key_unique'),
        ),
    ]
