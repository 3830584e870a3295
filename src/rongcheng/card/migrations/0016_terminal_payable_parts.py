"""An operator's payable split by terminal (ADR 0012, amendment "An operator's payable split by terminal").

Every batch of an operator's terminals credited the operator's one payable account, so batches of two terminals
uploading at once waited on that account's row lock from the accounts' lock to the commit. Each terminal now has its
own part of its merchant's payable (`Terminal.payable`, an account `terminal:<code>` of the merchant's kind, without
limits) where its taps are credited; the clearing counts the parts as the merchant's and sweeps their balances into
the merchant's payable (`TransferKind.SWEEP`) before the fee and the settlement.

- `Terminal.payable`: a nullable foreign key (ALTER TABLE ADD COLUMN on SQLite, no rebuild of the terminals' table,
  which the ledger's SQLite triggers name; migration 0011), unique where set (a partial unique index);
- every existing terminal is given its part here (taps booked before stay on the merchant's payable, where the
  clearing has always found them);
- `Transfer.kind` gains `sweep` (choices only: no change in the database).
"""

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone


def open_parts(apps, schema_editor):  # type: ignore[no-untyped-def]
    LedgerAccount = apps.get_model("card", "LedgerAccount")
    Terminal = apps.get_model("card", "Terminal")
    for terminal in Terminal.objects.filter(payable__isnull=True).select_related("merchant").order_by("id"):
        account, _created = LedgerAccount.objects.get_or_create(
            code=f"terminal:{terminal.code}",
            defaults={"kind": "merchant", "name": terminal.merchant.name, "created_at": timezone.now()},
        )
        terminal.payable = account
        terminal.save(update_fields=["payable"])


class Migration(migrations.Migration):

    dependencies = [
        ('card', '0015_taps_folded_into_transfers'),
    ]

    operations = [
        migrations.AddField(
            model_name='terminal',
            name='payable',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='terminals', to='card.ledgeraccount', verbose_name='payable sub-account'),
        ),
        migrations.AddConstraint(
            model_name='terminal',
            constraint=models.UniqueConstraint(condition=models.Q(('payable__isnull', False)), fields=('payable',), name='card_terminal_payable_unique'),
        ),
        migrations.AlterField(
            model_name='transfer',
            name='kind',
            field=models.CharField(choices=[('top_up', '充值'), ('payment', '消费'), ('fee', '手续费'), ('refund', '退款'), ('tap', '刷卡乘车'), ('bill', '缴费'), ('card_move', '换卡转余额'), ('card_refund', '退卡退款'), ('settlement', '结算'), ('adjustment', '调账'), ('preauth', '预授权'), ('sweep', '终端应付归集')], max_length=12, verbose_name='kind'),
        ),
        migrations.RunPython(open_parts, migrations.RunPython.noop),
    ]
