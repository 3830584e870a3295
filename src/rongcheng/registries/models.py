"""Base registries (基础数据资源库): persons, legal entities, addresses and macro-economic indicators.

ID numbers and phone numbers are stored encrypted (SM4-GCM through the kernel key ring), with a keyed SM3 blind index
for exact lookup and the masked form for display, so a stolen database file does not reveal them and a masked read
never decrypts. Records are never deleted, only closed; every change keeps the previous version.
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


class Address(models.Model):
    """A standard address (标准地址) with its county-level division and WGS84 point."""

    text = models.CharField(_("address"), max_length=200)
    division_code = models.CharField(_("division code"), max_length=6, db_index=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(fields=["text", "division_code"], name="registries_address_unique_text"),
            models.CheckConstraint(
                condition=models.Q(longitude__isnull=True, latitude__isnull=True)
                | models.Q(longitude__gte=-180, longitude__lte=180, latitude__gte=-90, latitude__lte=90),
                name="registries_address_point_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.text


class Person(models.Model):
    """A natural person (自然人), identified by the GB 11643 citizen ID number."""

    id_number_cipher = models.TextField(_("ID number (encrypted)"))
    # Uniqueness and lookup through Meta (a unique field would also get a LIKE index on PostgreSQL, useless on a
    # keyed digest and a quarter of the cost of every insert).
    id_number_index = models.CharField(_("ID number blind index"), max_length=64)
    id_number_masked = models.CharField(_("ID number (masked)"), max_length=18)
    name = models.CharField(_("name"), max_length=50, db_index=True)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    ethnicity = models.CharField(_("ethnicity"), max_length=2, blank=True, help_text="GB/T 3304 code, e.g. 01 汉族")
    division_code = models.CharField(_("registered-residence division"), max_length=6)  # (division_code, name) index
    address = models.ForeignKey(
        Address, verbose_name=_("address"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    phone_cipher = models.TextField(_("phone (encrypted)"), blank=True)
    phone_index = models.CharField(_("phone blind index"), max_length=64, blank=True)
    phone_masked = models.CharField(_("phone (masked)"), max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=PersonStatus.choices, default=PersonStatus.LIVING)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    valid_from = models.DateTimeField(_("current version valid from"))

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        indexes = [
            models.Index(fields=["division_code", "name"], name="registries_person_div_name"),
            models.Index(fields=["phone_index"], name="registries_person_phone"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["id_number_index"], name="registries_person_id_number_unique"),
            models.CheckConstraint(
                condition=models.Q(status="living", closed_on__isnull=True) | ~models.Q(status="living"),
                name="registries_person_living_not_closed",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EntityStatus(models.TextChoices):
    ACTIVE = "active", _("存续")
    REVOKED = "revoked", _("吊销")
    DEREGISTERED = "deregistered", _("注销")


class LegalEntity(models.Model):
    """A legal entity (法人) or other registered organisation, identified by its GB 32100 credit code."""

    credit_code = models.CharField(_("unified social credit code"), max_length=18, unique=True)
    name = models.CharField(_("name"), max_length=120, db_index=True)
    registration_department = models.CharField(_("registration department code"), max_length=1)
    category = models.CharField(_("category code"), max_length=1)
    entity_type = models.CharField(_("entity type"), max_length=40, blank=True)
    division_code = models.CharField(_("registration division"), max_length=6, db_index=True)
    legal_representative = models.ForeignKey(
        Person, verbose_name=_("legal representative"), null=True, blank=True, on_delete=models.PROTECT
    )
    address = models.ForeignKey(
        Address, verbose_name=_("registered address"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    registration_authority = models.CharField(_("registration authority"), max_length=100, blank=True)
    established_on = models.DateField(_("established on"))
    status = models.CharField(_("status"), max_length=12, choices=EntityStatus.choices, default=EntityStatus.ACTIVE)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    valid_from = models.DateTimeField(_("current version valid from"))

    class Meta:
        verbose_name = _("legal entity")
        verbose_name_plural = _("legal entities")

    def __str__(self) -> str:
        return self.name


class RecordVersion(models.Model):
    """A superseded state of a registry record, kept when a change replaced it: valid from `valid_from` until
    `valid_to`, replaced by whom and why. The current state lives in the record itself.

    The snapshot is encrypted as a whole: it holds the ID number and phone in clear inside.
    """

    registry = models.CharField(_("registry"), max_length=20)
    record_id = models.BigIntegerField(_("record"))
    version = models.PositiveIntegerField(_("version"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    snapshot_cipher = models.TextField(_("snapshot (encrypted)"))
    change = models.CharField(_("replaced by"), max_length=20)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    actor_id = models.CharField(_("changed by"), max_length=64, blank=True)
    actor_label = models.CharField(_("changed by (name)"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("record version")
        verbose_name_plural = _("record versions")
        constraints = [
            models.UniqueConstraint(fields=["registry", "record_id", "version"], name="registries_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.registry}#{self.record_id} v{self.version}"


class Indicator(models.Model):
    """A value of a macro-economic indicator series (宏观经济数据), e.g. GDP of 2017 in 亿元."""

    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    period = models.CharField(_("period"), max_length=10, help_text="YYYY, YYYY-Qn or YYYY-MM")
    value = models.DecimalField(_("value"), max_digits=20, decimal_places=4)
    unit = models.CharField(_("unit"), max_length=20)
    division_code = models.CharField(_("division code"), max_length=6, default="350100")
    source_department = models.CharField(_("source department"), max_length=32)

    class Meta:
        verbose_name = _("indicator value")
        verbose_name_plural = _("indicator values")
        constraints = [
            models.UniqueConstraint(fields=["code", "division_code", "period"], name="registries_indicator_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.period}"


class Registry(models.TextChoices):
    PERSONS = "persons", _("人口库")
    ENTITIES = "entities", _("法人库")


class FieldEntitlement(models.Model):
    """The right of a role (group of staff) or of an API client to see one field of one registry in clear, for one
    purpose. Without it the field is masked."""

    registry = models.CharField(_("registry"), max_length=20, choices=Registry.choices)
    field = models.CharField(_("field"), max_length=40)
    purpose = models.CharField(_("purpose"), max_length=40)
    role = models.ForeignKey(
        "auth.Group", verbose_name=_("role"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    client = models.ForeignKey(
        "accounts.User", verbose_name=_("API client"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    granted_by = models.CharField(_("granted by"), max_length=150)
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("field entitlement")
        verbose_name_plural = _("field entitlements")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__isnull=False, client__isnull=True)
                | models.Q(role__isnull=True, client__isnull=False),
                name="registries_entitlement_one_grantee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registry}.{self.field} for {self.purpose}"
