"""The online service hall (网上办事大厅): the service catalogue (事项), applications (办件) and what happens to them.

An application's lifecycle is declared once, in `hall.workflow`; these models hold the state and the record of each
step. Deadlines are dates counted in working days on the `CalendarDay` table (public holidays and the weekend days
worked in exchange, 调休).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import AssuranceLevel, Department


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("法定节假日")
    WORKDAY = "workday", _("调休上班")


class CalendarDay(models.Model):
    """An exception to the Monday-to-Friday week: a weekday off (holiday) or a weekend day worked (调休)."""

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=40, blank=True)

    class Meta:
        ordering = ["date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")

    def __str__(self) -> str:
        return f"{self.date} {self.kind}"


class CalendarStamp(models.Model):
    """The calendar's last change: one row (id 1) whose token every change of `CalendarDay` rewrites in its own
    transaction (hall.calendar.calendar_changed). A process keeps the calendar it read under the stamp it read, and
    reads it again when the stamp it reads next differs: a change made by any process shows at the next deadline."""

    token = models.CharField(_("token"), max_length=32)

    class Meta:
        verbose_name = _("calendar stamp")
        verbose_name_plural = _("calendar stamps")

    def __str__(self) -> str:
        return self.token


class ServiceKind(models.TextChoices):
    LICENSING = "licensing", _("行政许可")
    PUBLIC_SERVICE = "public_service", _("公共服务")
    CONFIRMATION = "confirmation", _("行政确认")
    PAYMENT = "payment", _("行政给付")
    OTHER = "other", _("其他行政权力")


class ApplicantKind(models.TextChoices):
    PERSON = "person", _("自然人")
    ENTITY = "entity", _("法人")
    ANY = "any", _("自然人或法人")


class ServiceItem(models.Model):
    """A government service that can be applied for (事项), as listed in the catalogue.

    `materials` is the declared list of what an application needs (see `hall.catalogue.materials_validate`): each
    from a licence type, from registry fields, or an upload with its allowed formats and size.
    """

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="service_items"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ServiceKind.choices)
    # Who applies: a person for themself, a legal entity through its representative (法人代表 or 经办人), or either.
    applicant_kind = models.CharField(
        _("applicant kind"), max_length=10, choices=ApplicantKind.choices, default=ApplicantKind.PERSON
    )
    legal_basis = models.TextField(_("legal basis"))
    conditions = models.TextField(_("conditions"), blank=True)
    materials = models.JSONField(_("materials"), default=list)
    statutory_days = models.PositiveSmallIntegerField(_("statutory time limit (working days)"))
    promised_days = models.PositiveSmallIntegerField(_("promised time limit (working days)"))
    fees = models.CharField(_("fees"), max_length=200, default="不收费")
    min_assurance = models.PositiveSmallIntegerField(
        _("minimum assurance level"), choices=AssuranceLevel.choices, default=AssuranceLevel.L2
    )
    any_window = models.BooleanField(_("accepted at any window"), default=False)
    online_only = models.BooleanField(_("online-only path"), default=False)
    issues_licence_type = models.CharField(_("licence type issued on approval"), max_length=40, blank=True)
    # The issued licence's face fields from the application's materials: {"field": "material:value key" or "=text"}.
    result_face = models.JSONField(_("face of the issued licence"), default=dict, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("service item")
        verbose_name_plural = _("service items")
        permissions = [("manage_catalogue", "Can maintain the service catalogue")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(promised_days__lte=models.F("statutory_days")),
                name="hall_service_promised_within_statutory",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class State(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已提交")
    ACCEPTED = "accepted", _("已受理")
    NOT_ACCEPTED = "not_accepted", _("不予受理")
    UNDER_REVIEW = "under_review", _("审查中")
    CORRECTION = "correction", _("待补正")
    COUNTERSIGNING = "countersigning", _("会签中")
    SUSPENDED = "suspended", _("挂起")
    APPROVED = "approved", _("准予许可")
    REFUSED = "refused", _("不予许可")
    CONCLUDED = "concluded", _("办结")


class Flag(models.TextChoices):
    NONE = "", _("正常")
    NEAR = "near", _("临近期限")
    OVERDUE = "overdue", _("已超期")


class Application(models.Model):
    """An application (办件) for one service by one applicant; a draft until it is submitted and numbered."""

    number = models.CharField(_("application number"), max_length=40, unique=True, null=True, blank=True)
    service = models.ForeignKey(ServiceItem, verbose_name=_("service"), on_delete=models.PROTECT, related_name="+")
    # The service's department, copied so the department's queue is one index range.
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="+")
    window = models.ForeignKey(
        Department, verbose_name=_("accepting window"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("applicant"), on_delete=models.PROTECT, related_name="+"
    )
    # The applicant party when the account applies on behalf of a legal entity it represents (null: the person).
    legal_entity = models.ForeignKey(
        "registries.LegalEntity", verbose_name=_("applicant legal entity"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )  # fmt: skip
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT)
    statement = models.TextField(_("statement"), blank=True)
    licence_authorized = models.BooleanField(_("licence use authorized by the applicant"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    accepted_on = models.DateField(_("accepted on"), null=True, blank=True)
    deadline = models.DateField(_("statutory deadline"), null=True, blank=True)
    promised_deadline = models.DateField(_("promised deadline"), null=True, blank=True)
    clock_stopped_on = models.DateField(_("clock stopped on"), null=True, blank=True)
    flag = models.CharField(_("flag"), max_length=10, choices=Flag.choices, default=Flag.NONE, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    issued_licence = models.CharField(_("issued licence identifier"), max_length=120, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        permissions = [("decide_application", "Can accept, review and decide applications")]
        indexes = [
            models.Index(fields=["department", "state", "id"], name="hall_app_dept_state"),
            # The default queue (every open state, oldest first): one ordered range of a partial index.
            models.Index(
                fields=["department", "id"],
                name="hall_app_dept_open",
                condition=models.Q(
                    state__in=[
                        "submitted",
                        "accepted",
                        "under_review",
                        "correction",
                        "countersigning",
                        "suspended",
                        "approved",
                        "refused",
                    ]
                ),
            ),
            models.Index(fields=["window", "state", "id"], name="hall_app_window_state"),
            models.Index(fields=["applicant", "id"], name="hall_app_applicant"),
            models.Index(fields=["state", "deadline"], name="hall_app_state_deadline"),
            models.Index(fields=["state", "id"], name="hall_app_state"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="draft") | models.Q(number__isnull=False), name="hall_app_numbered"
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.pk}"


class MaterialSource(models.TextChoices):
    LICENCE = "licence", _("电子证照")
    REGISTRY = "registry", _("基础数据库")
    UPLOAD = "upload", _("上传")


class ApplicationMaterial(models.Model):
    """One material of an application as provided: its values and where each came from, or an uploaded file."""

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="provided"
    )
    code = models.CharField(_("material code"), max_length=40)
    source = models.CharField(_("source"), max_length=10, choices=MaterialSource.choices)
    values = models.JSONField(_("values"), default=dict)  # {field: {"value": ..., "source": ...}}
    licence_identifier = models.CharField(_("licence identifier"), max_length=120, blank=True)
    file = models.CharField(_("stored file"), max_length=200, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_format = models.CharField(_("file format"), max_length=10, blank=True)
    file_size = models.PositiveIntegerField(_("file size"), null=True, blank=True)
    sm3 = models.CharField(_("SM3 digest"), max_length=64, blank=True)
    provided_at = models.DateTimeField(_("provided at"), auto_now=True)

    class Meta:
        verbose_name = _("application material")
        verbose_name_plural = _("application materials")
        constraints = [models.UniqueConstraint(fields=["application", "code"], name="hall_material_once")]

    def __str__(self) -> str:
        return f"{self.application_id}:{self.code}"


class ApplicationEvent(models.Model):
    """One step of an application's timeline: a transition with the acting person, or another noted event."""

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="events"
    )
    transition = models.CharField(_("transition"), max_length=30)
    from_state = models.CharField(_("from state"), max_length=20, blank=True)
    to_state = models.CharField(_("to state"), max_length=20, blank=True)
    actor_id = models.CharField(_("actor"), max_length=64, blank=True)
    actor_label = models.CharField(_("actor label"), max_length=150, blank=True)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("application event")
        verbose_name_plural = _("application events")

    def __str__(self) -> str:
        return f"{self.application_id} {self.transition}"


class CountersignState(models.TextChoices):
    PENDING = "pending", _("待会签")
    AGREED = "agreed", _("同意")
    DISAGREED = "disagreed", _("不同意")


class Countersign(models.Model):
    """A department asked to countersign (会签) an application under review."""

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="countersigns"
    )
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("state"), max_length=10, choices=CountersignState.choices, default="pending")
    opinion = models.TextField(_("opinion"), blank=True)
    officer_label = models.CharField(_("officer"), max_length=150, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("countersign")
        verbose_name_plural = _("countersigns")
        indexes = [models.Index(fields=["department", "state"], name="hall_countersign_dept")]

    def __str__(self) -> str:
        return f"{self.application_id} {self.department_id}"


class Message(models.Model):
    """A message to an applicant about their application (站内消息); also sent by email when they have one."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="+"
    )
    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="messages"
    )
    text = models.TextField(_("text"))  # as sent (in Chinese, the language of the e-mail)
    template = models.TextField(_("template"), blank=True)  # the sentence's msgid, to show it in the reader's language
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["recipient", "id"], name="hall_message_recipient")]

    def __str__(self) -> str:
        return self.text[:40]

    @property
    def shown(self) -> str:
        """The message in the reader's language: its sentence translated, then filled in (the text as sent when the
        sentence is unknown or its parameters do not fit)."""
        if not self.template:
            return self.text
        try:
            return gettext(self.template).format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.text


class Rating(models.Model):
    """The applicant's rating (好差评) of a concluded application, one per application."""

    application = models.OneToOneField(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="rating"
    )
    level = models.PositiveSmallIntegerField(_("level"))
    comment = models.TextField(_("comment"), blank=True)
    rated_at = models.DateTimeField(_("rated at"), auto_now_add=True)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        constraints = [
            models.CheckConstraint(condition=models.Q(level__gte=1, level__lte=5), name="hall_rating_level_range")
        ]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.level}"


class FollowUp(models.Model):
    """A poor rating (差评) opens a follow-up the department must answer (整改回复)."""

    rating = models.OneToOneField(Rating, verbose_name=_("rating"), on_delete=models.CASCADE, related_name="follow_up")
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT, related_name="+")
    answer = models.TextField(_("answer"), blank=True)
    answered_by = models.CharField(_("answered by"), max_length=150, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        indexes = [models.Index(fields=["department", "answered_at"], name="hall_followup_dept")]

    def __str__(self) -> str:
        return f"follow-up {self.pk}"


class NumberCounter(models.Model):
    """The last sequence number given out for one department and day; incremented by a guarded single UPDATE."""

    prefix = models.CharField(_("prefix"), max_length=40, unique=True)
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("number counter")
        verbose_name_plural = _("number counters")

    def __str__(self) -> str:
        return f"{self.prefix}:{self.last}"


def material_spec(service: ServiceItem, code: str) -> dict[str, Any] | None:
    for item in service.materials:
        if item.get("code") == code:
            return dict(item)
    return None


class ApplicationCheck(models.Model):
    """One measure of one item a registered decision check put before the officer (hall.checks), and the officer's
    answer: applied, or not applied with the reason. `seen` keeps what the officer was shown."""

    application = models.ForeignKey(
        Application, verbose_name=_("application"), on_delete=models.CASCADE, related_name="checks"
    )
    source = models.CharField(_("check"), max_length=40)
    transition = models.CharField(_("shown at"), max_length=30)
    item_reference = models.CharField(_("item reference"), max_length=64)
    measure_code = models.CharField(_("measure code"), max_length=40)
    seen = models.JSONField(_("what the officer was shown"), default=dict)
    seen_on = models.DateField(_("checked as of"))
    opened_at = models.DateTimeField(_("shown at"))
    applied = models.BooleanField(_("measure applied"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("officer"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip
    officer_label = models.CharField(_("officer"), max_length=150, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("application check")
        verbose_name_plural = _("application checks")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "source", "item_reference", "measure_code"], name="hall_check_once"
            ),
            models.CheckConstraint(
                condition=models.Q(recorded_at__isnull=True) | models.Q(applied__isnull=False),
                name="hall_check_recorded_answered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id} {self.source}:{self.item_reference}/{self.measure_code}"
