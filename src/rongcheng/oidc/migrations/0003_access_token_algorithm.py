# Registrations made before ES256 access tokens keep RS256 (their resource servers verify it); new ones get ES256.

from django.db import migrations, models

CHOICES = [("ES256", "ES256 (P-256)"), ("RS256", "RS256 (RSA 2048)")]


class Migration(migrations.Migration):

    dependencies = [
        ("oidc", "0002_redeemed_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="clientregistration",
            name="access_token_algorithm",
            field=models.CharField(
                choices=CHOICES, default="RS256", max_length=5, verbose_name="access token algorithm"
            ),
        ),
        migrations.AlterField(
            model_name="clientregistration",
            name="access_token_algorithm",
            field=models.CharField(
                choices=CHOICES, default="ES256", max_length=5, verbose_name="access token algorithm"
            ),
        ),
    ]
