"""Base registries (基础数据资源库): persons keyed by ID number, legal entities keyed by credit code.

This is the foundation's first cut, enough for the demo city; the base-registries work adds encryption at rest,
versioning and masking by entitlement.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class PersonStatus(models.TextChoices):
    LIVING = "living", _("在世")
    DECEASED = "deceased", _("死亡")
    DEREGISTERED = "deregistered", _("注销")


class Person(models.Model):
    """A natural person (自然人), identified by the GB 11643 citizen ID number."""

    id_number = models.CharField(_("ID number"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=50)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    division_code = models.CharField(_("registered-residence division"), max_length=6, db_index=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=PersonStatus.choices, default=PersonStatus.LIVING)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    def __str__(self) -> str:
        return self.name


class EntityStatus(models.TextChoices):
    ACTIVE = "active", _("存续")
    REVOKED = "revoked", _("吊销")
    DEREGISTERED = "deregistered", _("注销")


class LegalEntity(models.Model):
    """A legal entity (法人) or other registered organisation, identified by its GB 32100 credit code."""

    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=120)
    registration_department = models.CharField(_("registration department code"), max_length=1)
    category = models.CharField(_("category code"), max_length=1)
    division_code = models.CharField(_("registration division"), max_length=6, db_index=True)
    legal_representative = models.ForeignKey(
        Person, verbose_name=_("legal representative"), null=True, blank=True, on_delete=models.PROTECT
    )
    established_on = models.DateField(_("established on"))
    status = models.CharField(_("status"), max_length=12, choices=EntityStatus.choices, default=EntityStatus.ACTIVE)

    class Meta:
        verbose_name = _("legal entity")
        verbose_name_plural = _("legal entities")

    def __str__(self) -> str:
        return self.name
