"""Public credit (公共信用): subjects, their 双公示 and other records, the red and black lists with the memoranda that
define their measures, credit repair and signed credit reports.

Subjects are keyed as the other apps key them: a legal entity by its unified social credit code, a person by the
keyed blind index of the ID number (`registries.Person.id_number_index`), never the plain number; the masked number
is kept for display.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class SubjectKind(models.TextChoices):
    ENTITY = "entity", _("法人和其他组织")
    PERSON = "person", _("自然人")


class Subject(models.Model):
    """A credit subject (信用主体): the one row every record and list entry of an entity or a person hangs on."""

    kind = models.CharField(_("kind"), max_length=6, choices=SubjectKind.choices)
    key = models.CharField(_("key"), max_length=64, help_text="credit code, or the ID number's blind index")
    name = models.CharField(_("name"), max_length=120)
    code_masked = models.CharField(_("code (masked for persons)"), max_length=18)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("credit subject")
        verbose_name_plural = _("credit subjects")
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="credit_subject_unique")]
        indexes = [models.Index(fields=["name"], name="credit_subject_name")]

    def __str__(self) -> str:
        return self.name


class RecordKind(models.TextChoices):
    LICENSING = "licensing", _("行政许可")
    PENALTY = "penalty", _("行政处罚")
    HONOUR = "honour", _("表彰荣誉")
    JUDGEMENT = "judgement", _("合同违约判决")
    TAX_RATING = "tax_rating", _("纳税信用等级")


class RecordStatus(models.TextChoices):
    VALID = "valid", _("有效")
    INVALID = "invalid", _("无效")


class Record(models.Model):
    """One credit record as reported by a department. Licensing (XK_*) and penalty (CF_*) records carry the
    national 双公示 fields (docs/standards §9); the other kinds use the common ones and `extra`.

    Published the day it is received (`published_on`), due within PUBLICATION_WORKING_DAYS working days of its
    decision (`due_on`); shown to the public until `public_until`, and never again once repaired (`repaired_at`):
    the row and its history stay for the subject, the credit office and the audit.
    """

    kind = models.CharField(_("kind"), max_length=12, choices=RecordKind.choices)
    subject = models.ForeignKey(Subject, verbose_name=_("subject"), on_delete=models.PROTECT, related_name="records")
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("reporting department"), on_delete=models.PROTECT, related_name="+"
    )
    # 行政相对人: name and kind are the subject's; the legal representative of an entity (XK_FDDB / XK_FR_SFZH).
    legal_representative = models.CharField(_("legal representative"), max_length=50, blank=True)
    legal_representative_index = models.CharField(_("legal representative ID (blind index)"), max_length=64, blank=True)
    legal_representative_masked = models.CharField(_("legal representative ID (masked)"), max_length=18, blank=True)
    document_name = models.CharField(_("decision document name"), max_length=120, blank=True)  # XK_XKWS
    document_number = models.CharField(_("decision document number"), max_length=100)  # XK_WSH / 处罚决定书文号
    category = models.CharField(_("category"), max_length=40, blank=True)  # XK_XKLB / 处罚类别
    content = models.TextField(_("content"))  # XK_NR / 处罚内容
    licence_name = models.CharField(_("licence name"), max_length=120, blank=True)  # XK_XKZS
    licence_number = models.CharField(_("licence number"), max_length=120, blank=True)  # XK_XKBH
    violation_type = models.CharField(_("violation type"), max_length=120, blank=True)
    violation_facts = models.TextField(_("violation facts"), blank=True)
    basis = models.TextField(_("legal basis"), blank=True)  # 处罚依据
    fine_amount = models.DecimalField(_("fine (10k yuan)"), max_digits=14, decimal_places=6, null=True, blank=True)
    confiscated_amount = models.DecimalField(
        _("confiscated (10k yuan)"), max_digits=14, decimal_places=6, null=True, blank=True
    )
    licence_withheld = models.CharField(_("licence suspended or revoked"), max_length=200, blank=True)
    decided_on = models.DateField(_("decision date"))  # XK_JDRQ / 处罚决定日期
    valid_from = models.DateField(_("valid from"), null=True, blank=True)  # XK_YXQZ
    valid_until = models.DateField(_("valid until"), null=True, blank=True)  # XK_YXQZI / 处罚有效期
    public_until = models.DateField(_("published until"))  # 公示截止期
    authority = models.CharField(_("deciding authority"), max_length=100)  # XK_XKJG / 处罚机关
    authority_code = models.CharField(_("authority credit code"), max_length=18)  # XK_XKJGDM
    source_unit = models.CharField(_("data source unit"), max_length=100)  # XK_LYDW
    source_unit_code = models.CharField(_("data source unit credit code"), max_length=18)  # XK_LYDWDM
    status = models.CharField(_("current status"), max_length=8, choices=RecordStatus.choices, default="valid")
    note = models.TextField(_("note"), blank=True)  # BZ
    extra = models.JSONField(_("further fields"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"))
    published_on = models.DateField(_("published on"))
    due_on = models.DateField(_("publication due by"))
    late = models.BooleanField(_("published late"), default=False)
    repaired_at = models.DateTimeField(_("repaired at"), null=True, blank=True)
    intake = models.CharField(_("intake"), max_length=10)  # form, file, api, licence, hall
    source_reference = models.CharField(_("source reference"), max_length=120)

    class Meta:
        verbose_name = _("credit record")
        verbose_name_plural = _("credit records")
        permissions = [("report_record", "Can report credit records for the department")]
        indexes = [
            models.Index(fields=["subject", "kind", "decided_on"], name="credit_record_subject"),
            models.Index(fields=["department", "published_on"], name="credit_record_department"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["department", "source_reference"], name="credit_record_reference_once"),
            models.CheckConstraint(condition=models.Q(published_on__gte=models.F("decided_on")),
                                   name="credit_record_published_after_decision"),
            models.CheckConstraint(condition=models.Q(public_until__gte=models.F("decided_on")),
                                   name="credit_record_public_until_after_decision"),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.kind} {self.document_number}"


class ProblemState(models.TextChoices):
    OPEN = "open", _("待处理")
    RESOLVED = "resolved", _("已处理")


class ProblemRow(models.Model):
    """A reported record refused by validation (问题数据), returned to its department: the row as sent (ID numbers
    masked), each broken rule, until the department resolves it."""

    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("reporting department"), on_delete=models.PROTECT, related_name="+"
    )
    intake = models.CharField(_("intake"), max_length=10)
    batch = models.CharField(_("batch"), max_length=64, blank=True)
    row_number = models.PositiveIntegerField(_("row"), null=True, blank=True)
    data = models.JSONField(_("data as sent (masked)"), default=dict)
    errors = models.JSONField(_("problems"), default=list)
    state = models.CharField(_("state"), max_length=8, choices=ProblemState.choices, default=ProblemState.OPEN)
    received_at = models.DateTimeField(_("received at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("problem data")
        verbose_name_plural = _("problem data")
        indexes = [models.Index(fields=["department", "state", "id"], name="credit_problem_department")]

    def __str__(self) -> str:
        return f"problem {self.pk}"


class ListType(models.TextChoices):
    RED = "red", _("红名单（守信联合激励）")
    BLACK = "black", _("黑名单（失信联合惩戒）")


class Memorandum(models.Model):
    """A joint reward or punishment memorandum (联合奖惩备忘录) that defines the measures of its list."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    title = models.CharField(_("title"), max_length=200)
    document_number = models.CharField(_("document number"), max_length=60)
    list_type = models.CharField(_("list type"), max_length=5, choices=ListType.choices)
    signed_on = models.DateField(_("signed on"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("memorandum")
        verbose_name_plural = _("memoranda")
        permissions = [("manage_lists", "Can keep the red and black lists and the memoranda")]

    def __str__(self) -> str:
        return self.title


class Measure(models.Model):
    """One measure of a memorandum's catalogue (措施清单), applied by the departments named."""

    memorandum = models.ForeignKey(Memorandum, verbose_name=_("memorandum"), on_delete=models.CASCADE,
                                   related_name="measures")  # fmt: skip
    code = models.CharField(_("code"), max_length=40)
    text = models.CharField(_("measure"), max_length=300)
    departments = models.CharField(_("implementing departments"), max_length=200, blank=True)

    class Meta:
        ordering = ["memorandum", "code"]
        verbose_name = _("measure")
        verbose_name_plural = _("measures")
        constraints = [models.UniqueConstraint(fields=["memorandum", "code"], name="credit_measure_once")]

    def __str__(self) -> str:
        return self.text


class ListEntry(models.Model):
    """A subject on a red or black list from `listed_on` until `removed_on` (exclusive), recognised (认定) by a
    department on a legal basis under a memorandum. In force on day d: listed_on <= d < removed_on."""

    number = models.CharField(_("entry number"), max_length=40, unique=True)
    list_type = models.CharField(_("list type"), max_length=5, choices=ListType.choices)
    list_name = models.CharField(_("list"), max_length=100)
    subject = models.ForeignKey(Subject, verbose_name=_("subject"), on_delete=models.PROTECT, related_name="entries")
    department = models.ForeignKey(
        "accounts.Department", verbose_name=_("recognising department"), on_delete=models.PROTECT, related_name="+"
    )
    legal_basis = models.TextField(_("legal basis"))
    memorandum = models.ForeignKey(Memorandum, verbose_name=_("memorandum"), on_delete=models.PROTECT,
                                   related_name="entries")  # fmt: skip
    reason = models.TextField(_("facts"), blank=True)
    listed_on = models.DateField(_("listed on"))
    removed_on = models.DateField(_("removed on"), null=True, blank=True)
    removal_reason = models.CharField(_("removal reason"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("list entry")
        verbose_name_plural = _("list entries")
        indexes = [models.Index(fields=["subject", "listed_on"], name="credit_entry_subject")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(removed_on__isnull=True) | models.Q(removed_on__gt=models.F("listed_on")),
                name="credit_entry_removed_after_listed",
            )
        ]

    def __str__(self) -> str:
        return self.number


class RepairState(models.TextChoices):
    SUBMITTED = "submitted", _("待审核")
    APPROVED = "approved", _("修复通过")
    REJECTED = "rejected", _("不予修复")


class RepairRequest(models.Model):
    """A subject's credit repair request (信用修复) for one of its records, reviewed by the credit office."""

    record = models.ForeignKey(Record, verbose_name=_("record"), on_delete=models.PROTECT, related_name="repairs")
    applicant = models.ForeignKey("accounts.User", verbose_name=_("applicant"), on_delete=models.PROTECT,
                                  related_name="+")  # fmt: skip
    statement = models.TextField(_("statement"))
    materials = models.TextField(_("materials"))
    state = models.CharField(_("state"), max_length=10, choices=RepairState.choices, default=RepairState.SUBMITTED)
    submitted_on = models.DateField(_("submitted on"))
    due_on = models.DateField(_("review due by"))
    reviewer_label = models.CharField(_("reviewer"), max_length=150, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("repair request")
        verbose_name_plural = _("repair requests")
        permissions = [("review_repair", "Can review credit repair requests")]
        indexes = [models.Index(fields=["state", "due_on"], name="credit_repair_state")]

    def __str__(self) -> str:
        return f"repair {self.pk}"


class Report(models.Model):
    """A credit report (信用报告) of a subject as of its moment, signed with the credit office's SM2 key: the content
    is kept as signed, so anyone can verify it from its number (the QR code)."""

    number = models.CharField(_("report number"), max_length=40, unique=True)
    subject = models.ForeignKey(Subject, verbose_name=_("subject"), on_delete=models.PROTECT, related_name="+")
    content = models.JSONField(_("content as signed"))
    key_id = models.CharField(_("signing key id"), max_length=16)
    signature = models.BinaryField(_("signature (DER)"))
    generated_at = models.DateTimeField(_("generated at"))
    requested_by = models.ForeignKey("accounts.User", verbose_name=_("requested by"), on_delete=models.PROTECT,
                                     related_name="+")  # fmt: skip

    class Meta:
        verbose_name = _("credit report")
        verbose_name_plural = _("credit reports")

    def __str__(self) -> str:
        return self.number
