"""Roles (a duty class and a description on top of Django's `auth.Group`) and their grants to staff in departments.

A `RoleAssignment` is the record of one grant: who holds which role for which department, who granted it and when,
and who revoked it. Permissions come from active assignments (`rongcheng.staff.backends`); the account's group
membership is kept in step with them so that what keys on groups (the registries' field entitlements) still works.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import Department


class Duty(models.TextChoices):
    """The duty class of a role: one of the three administrator duties of GB/T 22239 8.1.4.2 d), or business."""

    SYSTEM = "system", _("system administrator")
    SECURITY = "security", _("security administrator")
    AUDIT = "audit", _("audit administrator")
    BUSINESS = "business", _("business")


ADMINISTRATOR_DUTIES = (Duty.SYSTEM, Duty.SECURITY, Duty.AUDIT)


class Role(models.Model):
    group = models.OneToOneField(Group, verbose_name=_("group"), on_delete=models.PROTECT, related_name="staff_role")
    duty = models.CharField(_("duty"), max_length=16, choices=Duty.choices, default=Duty.BUSINESS)
    description = models.TextField(_("description"), blank=True)
    # A city-wide role may be granted for any department or for the whole city; any other role only for the
    # department of the account that receives it.
    city_wide = models.BooleanField(_("city-wide"), default=False)

    class Meta:
        ordering = ["group__name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        permissions = [
            ("manage_staff_accounts", "Create, disable, re-enable staff accounts and reset their passwords"),
            ("assign_role", "Grant and revoke roles in departments"),
            ("view_duty_overview", "See who holds the administrator duties and any conflict"),
        ]

    def __str__(self) -> str:
        return self.group.name

    @property
    def name(self) -> str:
        return self.group.name


class RoleAssignment(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("account"), on_delete=models.PROTECT, related_name="role_assignments"
    )
    role = models.ForeignKey(Role, verbose_name=_("role"), on_delete=models.PROTECT, related_name="assignments")
    # None: the whole city (city-wide roles only).
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("granted by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    granted_by_label = models.CharField(_("granted by (label)"), max_length=150)
    granted_at = models.DateTimeField(_("granted at"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("revoked by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "department"],
                condition=models.Q(revoked_at__isnull=True, department__isnull=False),
                name="staff_assignment_active_unique",
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(revoked_at__isnull=True, department__isnull=True),
                name="staff_assignment_city_active_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | models.Q(revoked_at__gte=models.F("granted_at")),
                name="staff_assignment_revoked_after_granted",
            ),
        ]
        indexes = [
            models.Index(fields=["user"], condition=models.Q(revoked_at__isnull=True), name="staff_assignment_active")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.role} · {self.department or '全市'}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
