"""Accounts: the one user model of the platform, and the departments staff belong to.

The identity platform (real-name assurance, OpenID Connect) extends this model; it starts with the kind of account
and, for staff, the department.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Department(models.Model):
    """A government unit (部门), e.g. 福州市数字福州建设领导小组办公室 (市数字办)."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    short_name = models.CharField(_("short name"), max_length=30, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    division_code = models.CharField(_("division code"), max_length=6, default="350100")

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.short_name or self.name


class AccountKind(models.TextChoices):
    RESIDENT = "resident", _("resident")
    COMPANY_REPRESENTATIVE = "company_representative", _("company representative")
    STAFF = "staff", _("staff")
    API_CLIENT = "api_client", _("API client")


class AssuranceLevel(models.IntegerChoices):
    """How well the platform knows that an account belongs to the real person it names (实名认证等级).

    L1: self-declared, format checks only. L2: name, ID number and phone verified against the population registry.
    L3: verified in person at a counter by staff, or by a certificate. Tokens carry it as `acr`; a service declares
    the minimum level it needs and a lower account is asked to step up.
    """

    L1 = 1, _("L1 self-declared")
    L2 = 2, _("L2 verified against the population registry")
    L3 = 3, _("L3 verified in person or by certificate")


class User(AbstractUser):
    kind = models.CharField(_("kind"), max_length=32, choices=AccountKind.choices, default=AccountKind.RESIDENT)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    # The keyed blind index of the resident's ID number: binds the account to a person of the population registry
    # without this lower tier importing the registries or holding the number in clear.
    id_number_index = models.CharField(_("ID number blind index"), max_length=64, blank=True, db_index=True)
    assurance_level = models.PositiveSmallIntegerField(
        _("assurance level"), choices=AssuranceLevel.choices, default=AssuranceLevel.L1
    )
    # An initial or reset password must be changed at the next sign-in; staff passwords also expire (GB/T 22239).
    must_change_password = models.BooleanField(_("must change password"), default=False)
    password_changed_at = models.DateTimeField(_("password changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="staff") | models.Q(department__isnull=False),
                name="accounts_staff_has_department",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username
