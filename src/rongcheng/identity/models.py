"""Identity state kept beside the accounts: lockout counters, second factors, one-time codes, signed-in sessions,
real-name data, counter verifications and company representations. accounts.User itself is not extended."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SignInGuard(models.Model):
    """Consecutive failed sign-ins of one account and, once they reach the threshold, until when it is locked.

    Changed only by single conditional UPDATE statements (services), so concurrent failures all count.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    last_failure_at = models.DateTimeField(_("last failure at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in guard")
        verbose_name_plural = _("sign-in guards")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.failures}"


class TotpDevice(models.Model):
    """An authenticator app enrolled for one account (RFC 6238). The secret is SM4-encrypted with the data key ring;
    `last_time_step` is the last accepted step, so a code is never accepted twice."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    secret_cipher = models.TextField(_("secret (encrypted)"))
    created_at = models.DateTimeField(_("created at"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    last_time_step = models.BigIntegerField(_("last accepted time step"), default=0)

    class Meta:
        verbose_name = _("authenticator")
        verbose_name_plural = _("authenticators")

    def __str__(self) -> str:
        return f"TOTP {self.user_id}"


class CodePurpose(models.TextChoices):
    SIGN_IN = "sign_in", _("sign-in")
    STEP_UP = "step_up", _("real-name verification")


class OneTimeCode(models.Model):
    """An SMS-style code: only its keyed digest is stored; single use, short-lived, a few attempts."""

    purpose = models.CharField(_("purpose"), max_length=16, choices=CodePurpose.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="+",
    )  # fmt: skip
    phone_index = models.CharField(_("phone blind index"), max_length=64)
    phone_masked = models.CharField(_("phone (masked)"), max_length=20)
    # For a step-up: the blind index of the ID number the code will bind the account to.
    id_number_index = models.CharField(_("ID number blind index"), max_length=64, blank=True)
    digest = models.CharField(_("code digest"), max_length=64)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    attempts = models.PositiveSmallIntegerField(_("failed attempts"), default=0)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        indexes = [models.Index(fields=["phone_index", "created_at"], name="identity_code_phone_time")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.phone_masked}"


class SessionEnd(models.TextChoices):
    SIGNED_OUT = "signed_out", _("signed out")
    ENDED_BY_USER = "ended_by_user", _("ended by the account holder")
    IDLE = "idle", _("idle timeout")


class AccountSession(models.Model):
    """One signed-in session: where from, since when, last seen; ending it deletes Django's session."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    session_key = models.CharField(_("session key"), max_length=40, db_index=True)
    method = models.CharField(_("sign-in method"), max_length=32)
    created_at = models.DateTimeField(_("created at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    source_address = models.GenericIPAddressField(_("source address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=16, choices=SessionEnd.choices, blank=True)

    class Meta:
        verbose_name = _("signed-in session")
        verbose_name_plural = _("signed-in sessions")
        indexes = [models.Index(fields=["user", "ended_at"], name="identity_session_user_ended")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.created_at:%Y-%m-%d %H:%M}"


class ResidentProfile(models.Model):
    """The real-name data of a resident account: as declared at registration (L1), then as verified (L2+).
    The ID number and phone are kept only as their keyed blind index and masked form."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(_("name"), max_length=50)
    id_number_index = models.CharField(_("ID number blind index"), max_length=64)
    id_number_masked = models.CharField(_("ID number (masked)"), max_length=18)
    phone_index = models.CharField(_("phone blind index"), max_length=64, blank=True)
    phone_masked = models.CharField(_("phone (masked)"), max_length=20, blank=True)
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("resident profile")
        verbose_name_plural = _("resident profiles")
        constraints = [
            models.UniqueConstraint(
                fields=["phone_index"], condition=models.Q(phone_verified_at__isnull=False),
                name="identity_profile_verified_phone_unique",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.user_id} {self.id_number_masked}"


class InPersonVerification(models.Model):
    """L3: an officer saw the resident and the identity card at a counter."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+"
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("verified by"), on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("department"), on_delete=models.PROTECT, related_name="+"
    )
    window = models.CharField(_("counter window"), max_length=50)
    verified_at = models.DateTimeField(_("verified at"))

    class Meta:
        verbose_name = _("in-person verification")
        verbose_name_plural = _("in-person verifications")
        permissions = [("verify_in_person", "Can verify residents in person at a counter (L3)")]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.window}"


class RepresentationBasis(models.TextChoices):
    LEGAL_REPRESENTATIVE = "legal_representative", _("legal representative")
    DELEGATED = "delegated", _("delegated by the legal representative")


class Representation(models.Model):
    """An account acting for a legal entity (法人代表 or 经办人), on a recorded basis, until revoked or expired."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+"
    )
    legal_entity = models.ForeignKey(
        "registries.LegalEntity", verbose_name=_("legal entity"), on_delete=models.PROTECT, related_name="+"
    )
    basis = models.CharField(_("basis"), max_length=24, choices=RepresentationBasis.choices)
    delegated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("delegated by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("revoked by"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip

    class Meta:
        verbose_name = _("representation")
        verbose_name_plural = _("representations")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "legal_entity"], condition=models.Q(revoked_at__isnull=True),
                name="identity_representation_one_active",
            ),
            models.CheckConstraint(
                condition=~models.Q(basis="delegated") | models.Q(delegated_by__isnull=False),
                name="identity_representation_delegated_has_delegator",
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.user_id} → {self.legal_entity_id}"
