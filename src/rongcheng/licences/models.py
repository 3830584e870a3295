"""Electronic licences (电子证照): types with their face-field schemas, department signing keys, licences, their
status changes, the holders' authorizations to reuse them and every use made of them.

A licence's signed content is rebuilt from its columns at each verification, so a row edited behind the platform's
back no longer matches its signature. Holders are found by one indexed column, `holder_index`: the keyed blind index
of a person's ID number (the same value as `registries.Person.id_number_index`) or an entity's credit code.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class HolderKind(models.TextChoices):
    PERSON = "person", _("自然人")
    ENTITY = "entity", _("法人")


class LicenceStatus(models.TextChoices):
    VALID = "valid", _("有效")
    SUSPENDED = "suspended", _("暂扣")
    REVOKED = "revoked", _("撤销")
    CANCELLED = "cancelled", _("注销")
    EXPIRED = "expired", _("失效")
    REPLACED = "replaced", _("已换发")  # a renewal or replacement was issued: the new licence is the valid one


class LicenceType(models.Model):
    """A kind of licence (证照类型), defined by a national authority and issued locally by one department.

    `face_schema` declares the face (照面) fields: a list of {"name", "label", "type", "required", "personal"},
    `type` one of string, date, integer, boolean, enum (with "choices"); `personal` fields are masked for the public.
    """

    code = models.CharField(_("licence type code"), max_length=21, unique=True, help_text="definer's USCC + 3 digits")
    name = models.CharField(_("name"), max_length=60)
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("issuing department"), on_delete=models.PROTECT, related_name="+"
    )
    holder_kind = models.CharField(_("holder kind"), max_length=6, choices=HolderKind.choices)
    face_schema = models.JSONField(_("face fields"), default=list)
    validity_years = models.PositiveSmallIntegerField(
        _("validity in years"), null=True, blank=True, help_text="empty: valid until cancelled"
    )
    active = models.BooleanField(_("active"), default=True)
    # A resident holds one valid identity card, one residence permit; a company one business licence. A second one
    # of such a type is issued only as the renewal or replacement of the first (which it supersedes).
    one_valid_per_holder = models.BooleanField(
        _("one valid licence per holder"), default=False,
        help_text="a new licence of this type for a holder of a valid one must replace it",
    )  # fmt: skip

    class Meta:
        verbose_name = _("licence type")
        verbose_name_plural = _("licence types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class KeyStatus(models.TextChoices):
    ACTIVE = "active", _("在用")
    RETIRED = "retired", _("停用")


class DepartmentKey(models.Model):
    """A department's SM2 signing key. The private key is stored SM4-GCM encrypted under the data key ring, bound
    to its key id; the public key is published. A retired or expired key signs nothing more but still verifies."""

    key_id = models.CharField(_("key id"), max_length=16, unique=True)
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("department"), on_delete=models.PROTECT, related_name="+"
    )
    public_key_pem = models.TextField(_("public key (PEM)"))
    private_key_cipher = models.TextField(_("private key (encrypted)"))
    status = models.CharField(_("status"), max_length=8, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    created_at = models.DateTimeField(_("created at"))
    not_after = models.DateTimeField(_("signs until"))
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("department signing key")
        verbose_name_plural = _("department signing keys")
        indexes = [models.Index(fields=["department", "status"], name="licences_key_department")]

    def __str__(self) -> str:
        return self.key_id


class SerialCounter(models.Model):
    """The next serial (流水号) per licence type, issuer and year; advanced under a row lock."""

    licence_type = models.ForeignKey(LicenceType, on_delete=models.PROTECT, related_name="+")
    issuer_code = models.CharField(max_length=18)
    year = models.PositiveSmallIntegerField()
    next_value = models.PositiveBigIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["licence_type", "issuer_code", "year"], name="licences_serial_unique")
        ]

    def __str__(self) -> str:
        return f"{self.issuer_code} {self.year}: {self.next_value}"


class Licence(models.Model):
    """One electronic licence. The columns named after GB/T 36903 elements are listed in `metadata.py`."""

    identifier = models.CharField(_("identifier"), max_length=120, unique=True)
    licence_type = models.ForeignKey(LicenceType, verbose_name=_("licence type"), on_delete=models.PROTECT)
    title = models.CharField(_("licence name"), max_length=60)
    number = models.CharField(_("licence number"), max_length=40)
    holder_kind = models.CharField(_("holder kind"), max_length=6, choices=HolderKind.choices)
    holder_person = models.ForeignKey(
        "registries.Person", verbose_name=_("holder (person)"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False,
    )  # fmt: skip
    holder_entity = models.ForeignKey(
        "registries.LegalEntity", verbose_name=_("holder (legal entity)"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", db_index=False,
    )  # fmt: skip
    # Blind index of the ID number (as registries.Person.id_number_index) or the credit code: the "一号" lookup.
    holder_index = models.CharField(_("holder index"), max_length=64)
    holder_name = models.CharField(_("holder name"), max_length=120)
    holder_code_cipher = models.TextField(_("holder code (encrypted)"))
    holder_code_masked = models.CharField(_("holder code (masked)"), max_length=18)
    face = models.JSONField(_("face data"), default=dict)
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("issuing department"), on_delete=models.PROTECT, related_name="+"
    )
    issuer_name = models.CharField(_("issuer name"), max_length=100)
    issuer_code = models.CharField(_("issuer code"), max_length=18)
    issued_on = models.DateField(_("issued on"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    key_id = models.CharField(_("signing key id"), max_length=16)
    signed_at = models.DateTimeField(_("signed at"))
    signature = models.BinaryField(_("signature (DER)"))
    status = models.CharField(_("status"), max_length=10, choices=LicenceStatus.choices, default=LicenceStatus.VALID)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=40, blank=True, help_text="page, api, bulk:<file digest>, …")
    source_reference = models.CharField(_("source reference"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        indexes = [
            models.Index(fields=["holder_index", "licence_type"], name="licences_licence_holder"),
            models.Index(fields=["department", "issued_on"], name="licences_licence_department"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(holder_kind="person", holder_person__isnull=False, holder_entity__isnull=True)
                | models.Q(holder_kind="entity", holder_entity__isnull=False, holder_person__isnull=True),
                name="licences_licence_one_holder",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__isnull=True) | models.Q(valid_until__gte=models.F("valid_from")),
                name="licences_licence_validity_ordered",
            ),
            # A bulk file row issued once: re-running the file finds it.
            models.UniqueConstraint(
                fields=["department", "source_reference"],
                condition=~models.Q(source_reference=""),
                name="licences_licence_source_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.identifier


class StatusChange(models.Model):
    """One transition of a licence's status, with its reason, the date it takes effect and the acting officer."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="status_changes")
    action = models.CharField(_("action"), max_length=12)
    from_status = models.CharField(_("from"), max_length=10, choices=LicenceStatus.choices)
    to_status = models.CharField(_("to"), max_length=10, choices=LicenceStatus.choices)
    reason = models.CharField(_("reason"), max_length=200)
    effective_on = models.DateField(_("effective on"))
    at = models.DateTimeField(_("recorded at"))
    actor_id = models.CharField(_("officer id"), max_length=64, blank=True)
    actor_label = models.CharField(_("officer"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["licence", "at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_status} -> {self.to_status}"


class HolderAuthorization(models.Model):
    """A holder's consent that `grantee` (a department system or the service hall) may fetch and use their
    licences for one application (办件)."""

    holder_index = models.CharField(_("holder index"), max_length=64)
    granted_by = models.ForeignKey(
        "accounts.User", verbose_name=_("granted by"), on_delete=models.PROTECT, related_name="+"
    )
    grantee = models.ForeignKey("accounts.User", verbose_name=_("grantee"), on_delete=models.PROTECT, related_name="+")
    application_reference = models.CharField(_("application reference"), max_length=64)
    licence_types = models.ManyToManyField(LicenceType, verbose_name=_("licence types"), blank=True, related_name="+")
    granted_at = models.DateTimeField(_("granted at"))
    expires_at = models.DateTimeField(_("expires at"))
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)

    class Meta:
        verbose_name = _("holder authorization")
        verbose_name_plural = _("holder authorizations")
        indexes = [
            models.Index(
                fields=["holder_index", "grantee", "application_reference"], name="licences_authorization_lookup"
            )
        ]

    def __str__(self) -> str:
        return f"authorization {self.pk} for {self.application_reference}"


class UseKind(models.TextChoices):
    FETCH = "fetch", _("调取")
    USE = "use", _("用于办件")


class LicenceUse(models.Model):
    """Who fetched or used a licence, for which application, when: shown to the holder."""

    licence = models.ForeignKey(Licence, on_delete=models.PROTECT, related_name="uses")
    kind = models.CharField(_("kind"), max_length=6, choices=UseKind.choices)
    application_reference = models.CharField(_("application reference"), max_length=64)
    authorization = models.ForeignKey(
        HolderAuthorization, null=True, blank=True, on_delete=models.PROTECT, related_name="uses"
    )
    actor_id = models.CharField(_("by (id)"), max_length=64)
    actor_label = models.CharField(_("by"), max_length=150)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("licence use")
        verbose_name_plural = _("licence uses")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} for {self.application_reference}"
