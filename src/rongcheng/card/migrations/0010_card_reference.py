"""Cards get a random reference for their addresses (pages, API paths): a card number never travels in a URL."""

import secrets

from django.db import migrations, models

import rongcheng.card.models


def _fill(apps, schema_editor):  # noqa: ANN001, ARG001 - a migration's RunPython signature
    Card = apps.get_model("card", "Card")
    for card in Card.objects.filter(reference__isnull=True).only("pk").iterator(chunk_size=2000):
        Card.objects.filter(pk=card.pk).update(reference=secrets.token_urlsafe(12))


class Migration(migrations.Migration):
    dependencies = [("card", "0009_card_book_key_probe")]

    operations = [
        migrations.AddField(
            model_name="card",
            name="reference",
            field=models.CharField(editable=False, max_length=16, null=True, verbose_name="reference"),
        ),
        migrations.RunPython(_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="card",
            name="reference",
            field=models.CharField(
                default=rongcheng.card.models.card_reference,
                editable=False,
                max_length=16,
                unique=True,
                verbose_name="reference",
            ),
        ),
    ]
