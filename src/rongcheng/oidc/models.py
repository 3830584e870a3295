"""The OpenID Connect provider's own records, beside django-oauth-toolkit's applications and tokens.

`ClientRegistration` adds what the platform needs to know about a department system's client: its department, the
sector its pairwise subjects are computed for, who registered it, whether it is disabled. `Consent` remembers that a
person allowed a client the listed scopes, so the consent screen is not shown again until they revoke it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from oauth2_provider.models import Application

ACCESS_TOKEN_ALGORITHMS = [("ES256", "ES256 (P-256)"), ("RS256", "RS256 (RSA 2048)")]


class ClientRegistration(models.Model):
    application = models.OneToOneField(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="registration"
    )
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    # Clients of one sector (e.g. the systems of one department) see the same `sub` for a person; empty: the client
    # is its own sector.
    sector_identifier = models.CharField(_("sector identifier"), max_length=200, blank=True)
    registered_by = models.CharField(_("registered by"), max_length=150)
    registered_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    secret_rotated_at = models.DateTimeField(_("secret rotated at"), null=True, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    # The algorithm of the client's access tokens (RFC 9068): ES256 unless its resource servers need RS256, which
    # RFC 9068 §2.1 makes the one every resource server supports. Registrations older than ES256 keep RS256.
    access_token_algorithm = models.CharField(
        _("access token algorithm"), max_length=5, choices=ACCESS_TOKEN_ALGORITHMS, default="ES256"
    )

    class Meta:
        verbose_name = _("client registration")
        verbose_name_plural = _("client registrations")
        permissions = [("manage_client", "Can register, rotate the secret of and disable OpenID Connect clients")]

    def __str__(self) -> str:
        return str(self.application.name)


class Consent(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE,
                             related_name="+")  # fmt: skip
    application = models.ForeignKey(Application, verbose_name=_("application"), on_delete=models.CASCADE,
                                    related_name="+")  # fmt: skip
    scope = models.TextField(_("scope"))
    granted_at = models.DateTimeField(_("granted at"))

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="oidc_consent_one_per_client")]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}"

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())


class RedeemedCode(models.Model):
    """An authorization code once exchanged (its SHA-256, never the code) and what the exchange issued: a second
    presentation of the code revokes those tokens (RFC 6749 §4.1.2). Kept as long as a refresh token lives."""

    code_checksum = models.CharField(_("code checksum"), max_length=64, unique=True)
    application = models.ForeignKey(Application, verbose_name=_("application"), on_delete=models.CASCADE,
                                    related_name="+")  # fmt: skip
    access_token_checksum = models.CharField(_("access token checksum"), max_length=64)
    token_family = models.UUIDField(_("token family"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), db_index=True)

    class Meta:
        verbose_name = _("redeemed authorization code")
        verbose_name_plural = _("redeemed authorization codes")

    def __str__(self) -> str:
        return f"{self.application_id}:{self.code_checksum[:12]}"


class ClientStamp(models.Model):
    """One row whose `value` goes up with every change to what a token grant reads of a client: its application
    (secret, grant type, owner, deletion), its registration (disabled, algorithm), an owner account's `is_active` or
    `is_superuser`. Database triggers bump it (migration 0004), so a change through any path counts, a service, the
    admin, a queryset update or a tool. A process keeps clients it has read, each with the stamp read alongside; a
    cached client serves a grant only while the stamp is unchanged (oidc.selectors.application_for_token_endpoint)."""

    value = models.BigIntegerField(_("value"), default=0)

    class Meta:
        verbose_name = _("client stamp")
        verbose_name_plural = _("client stamps")

    def __str__(self) -> str:
        return str(self.value)
