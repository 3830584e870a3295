"""City cases (数字城管 / 网格化管理): categories of GB/T 30428, the routing table, grid workers' cells, the cases
themselves with their timeline, photos, requests and subscribers, and the Open311 keys of department systems.

A case's lifecycle is declared once, in `cases.workflow`; these models hold its state and the record of each step.
Locations are kept as the grid codes the city grid gives (cell, community, street, district), not as foreign keys,
so the case outlives a redrawn grid.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import Department


class Kind(models.TextChoices):
    COMPONENT = "component", _("部件")
    EVENT = "event", _("事件")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")


class LimitUnit(models.TextChoices):
    HOURS = "hours", _("工作小时")
    DAYS = "days", _("工作日")


class Category(models.Model):
    """A class of GB/T 30428: 部件 or 事件, a 2-digit 大类 and a 2-digit 小类 (`0101`). Its Open311 service code
    is the kind's letter and the four digits: `C0101` for a component, `E0101` for an event."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    major_code = models.CharField(_("major class code"), max_length=2)
    major_name = models.CharField(_("major class"), max_length=30)
    minor_code = models.CharField(_("minor class code"), max_length=2)
    name = models.CharField(_("name"), max_length=40)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # The unit that handles it when the routing table names none for the place (责任单位规则).
    default_unit = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    normal_limit = models.PositiveIntegerField(_("limit (normal)"), default=3)
    normal_unit = models.CharField(max_length=6, choices=LimitUnit.choices, default=LimitUnit.DAYS)
    urgent_limit = models.PositiveIntegerField(_("limit (urgent)"), default=4)
    urgent_unit = models.CharField(max_length=6, choices=LimitUnit.choices, default=LimitUnit.HOURS)
    # Evidence required to report back: at least this many photos of the result.
    photos_to_close = models.PositiveSmallIntegerField(_("photos required to close"), default=1)
    anonymous_allowed = models.BooleanField(_("anonymous reports allowed"), default=True)
    duplicate_radius_m = models.PositiveIntegerField(_("duplicate radius (m)"), default=50)
    # Sensitive classes (security, violations by persons) are shown to the public with a rounded location.
    sensitive = models.BooleanField(_("sensitive"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        permissions = [("manage_routing", "Can maintain case categories, the routing table and grid workers")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "major_code", "minor_code"], name="cases_category_class_once")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class UnitRole(models.TextChoices):
    MAIN = "main", _("主办")
    ASSIST = "assist", _("协办")


class Route(models.Model):
    """One row of the routing table: for a category in a grid cell, a street or a district (`street_code` holds a
    9-digit street or a 6-digit district code; the whole city when both are blank), the unit that handles it as 主办
    or 协办. The most specific rows win: cell, then street, then district, then city."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="routes")
    cell_code = models.CharField(_("grid cell code"), max_length=20, blank=True)
    street_code = models.CharField(_("street or district code"), max_length=12, blank=True)
    unit = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("role"), max_length=8, choices=UnitRole.choices, default=UnitRole.MAIN)

    class Meta:
        ordering = ["category", "cell_code", "street_code", "role", "unit"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "cell_code", "street_code", "unit"], name="cases_route_unit_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category_id} {self.cell_code or self.street_code or '*'} {self.unit_id} {self.role}"


class Theme(models.TextChoices):
    """The thematic grids mapped onto the one grid: each works the same cells under its own worker."""

    CITY_MANAGEMENT = "city_management", _("数字城管")
    PUBLIC_SECURITY = "public_security", _("综治")
    ENVIRONMENT = "environment", _("环保")


class GridAssignment(models.Model):
    """A grid worker (网格员 / 监督员) responsible for a grid cell: finds problems there and verifies the results."""

    worker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    cell_code = models.CharField(_("grid cell code"), max_length=20, db_index=True)
    # The thematic grid (数字城管, 综治, 环保) this assignment serves: all mapped onto the one grid's cells.
    theme = models.CharField(_("thematic grid"), max_length=20, choices=Theme.choices, default=Theme.CITY_MANAGEMENT)

    class Meta:
        verbose_name = _("grid assignment")
        verbose_name_plural = _("grid assignments")
        constraints = [models.UniqueConstraint(fields=["worker", "cell_code", "theme"], name="cases_assignment_once")]

    def __str__(self) -> str:
        return f"{self.worker_id} {self.cell_code}"


class Channel(models.TextChoices):
    RESIDENT = "resident", _("市民上报")
    GRID_WORKER = "grid_worker", _("网格员上报")
    HOTLINE = "hotline", _("12345热线")
    API = "api", _("系统接入")


class HotlineKind(models.TextChoices):
    CONSULT = "consult", _("咨询")
    HELP = "help", _("求助")
    COMPLAINT = "complaint", _("投诉")
    REPORT = "report", _("举报")
    SUGGESTION = "suggestion", _("建议")


class State(models.TextChoices):
    COLLECTED = "collected", _("信息收集")
    REGISTERED = "registered", _("已立案")
    REJECTED = "rejected", _("不予立案")
    MERGED = "merged", _("已并单")
    DISPATCHED = "dispatched", _("已派遣")
    DISPUTED = "disputed", _("退单待仲裁")
    HANDLING = "handling", _("处置中")
    POSTPONED = "postponed", _("缓办")
    REPORTED_BACK = "reported_back", _("处置反馈待核查")
    VERIFIED = "verified", _("核查通过")
    CLOSED = "closed", _("已结案")
    EVALUATED = "evaluated", _("已评价")


# The open states (workflow.OPEN) as the partial indexes of the open cases name them.
INDEXED_OPEN_STATES = [
    "collected", "registered", "dispatched", "disputed", "handling", "postponed", "reported_back", "verified",
]  # fmt: skip


class Case(models.Model):
    """A case (案卷): one problem at one place, from the report to its closing and evaluation."""

    number = models.CharField(_("case number"), max_length=24, unique=True)
    token = models.CharField(max_length=32, unique=True)  # the Open311 token of the request
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="cases")
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    hotline_kind = models.CharField(_("call kind"), max_length=12, choices=HotlineKind.choices, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.COLLECTED)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.NORMAL)
    description = models.TextField(_("description"), max_length=4000)
    address = models.CharField(_("address"), max_length=200, blank=True)
    longitude = models.FloatField()
    latitude = models.FloatField()
    cell_code = models.CharField(max_length=20, blank=True)
    community_code = models.CharField(max_length=12, blank=True)
    street_code = models.CharField(max_length=12, blank=True)
    district_code = models.CharField(max_length=6, blank=True)
    place_name = models.CharField(_("place"), max_length=120, blank=True)  # 区 街道 社区 as located
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reporter_label = models.CharField(max_length=60, blank=True)  # a department system, or 匿名
    caller_phone_masked = models.CharField(max_length=20, blank=True)  # hotline: only the masked number is kept
    simple_procedure = models.BooleanField(_("simple procedure"), default=False)  # 简易程序: fixed on the spot
    unit = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    clock_stopped_at = models.DateTimeField(null=True, blank=True)
    arbitration_deadline = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_on_time = models.BooleanField(null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(default=0)
    extension_count = models.PositiveSmallIntegerField(default=0)
    postponed_ever = models.BooleanField(default=False)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.CharField(max_length=200, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        permissions = [
            ("register_case", "Can register, reject, merge and close cases (监督中心 受理员)"),
            ("dispatch_case", "Can dispatch cases, arbitrate returns, approve extensions and supervise (派遣员)"),
            ("handle_case", "Can handle cases dispatched to one's unit (专业部门)"),
            ("verify_case", "Can report and verify cases in one's grid cells (网格员)"),
            ("take_call", "Can take hotline calls and call back (12345 话务员)"),
            ("view_statistics", "Can read the statistics and the monthly bulletin"),
            ("manage_open311key", "Can issue and revoke Open311 API keys"),
        ]
        indexes = [
            models.Index(fields=["state", "id"], name="cases_state_id"),
            models.Index(fields=["unit", "state", "id"], name="cases_unit_state"),
            models.Index(fields=["category", "state", "longitude"], name="cases_category_place"),
            models.Index(fields=["reporter", "id"], name="cases_reporter"),
            models.Index(fields=["cell_code", "state"], name="cases_cell_state"),
            models.Index(fields=["created_at"], name="cases_created"),
            # Over millions of cases, the few whose clock runs: the overdue queue and the live overdue count read
            # them in deadline order; the units' queue walks its states in deadline order.
            models.Index(
                fields=["deadline", "id"],
                name="cases_running_deadline",
                condition=models.Q(state__in=["dispatched", "handling", "reported_back", "verified"]),
            ),
            models.Index(
                fields=["deadline", "id"],
                name="cases_unit_work_deadline",
                condition=models.Q(state__in=["dispatched", "handling", "postponed"]),
            ),
            # The Open311 list newest first: by service code, and the open ones alone.
            models.Index(fields=["category", "id"], name="cases_category_id"),
            models.Index(
                fields=["id"],
                name="cases_open_id",
                condition=models.Q(state__in=INDEXED_OPEN_STATES),
            ),
            # The command centre's queues, oldest first: one small index per queue holding only its cases. One index
            # of all the open states by (state, id) lost to `cases_open_id` above: the planner, taking the id order
            # for the heap's order and the collected cases for spread evenly over it, walked the years of old open
            # cases before the newest ids where the collected ones are (a 1.3 s stall when they were not cached).
            models.Index(fields=["id"], name="cases_collected_id", condition=models.Q(state="collected")),
            models.Index(fields=["id"], name="cases_registered_id", condition=models.Q(state="registered")),
            models.Index(fields=["id"], name="cases_verified_id", condition=models.Q(state="verified")),
            models.Index(
                fields=["arbitration_deadline", "id"],
                name="cases_disputed_deadline",
                condition=models.Q(state="disputed"),
            ),
            # The statistics' live count of open cases past their deadline, for one month of reporting: read from
            # this index alone (the running cases of the month with what the count groups by).
            models.Index(
                fields=["created_at", "deadline"],
                name="cases_running_created",
                include=["unit", "cell_code", "street_code", "district_code"],
                condition=models.Q(state__in=["dispatched", "handling", "reported_back", "verified"]),
            ),
            # The map and OGC items: a box on the point's columns.
            models.Index(fields=["longitude", "latitude"], name="cases_point"),
        ]

    def __str__(self) -> str:
        return self.number


class CaseUnit(models.Model):
    """A unit a case was dispatched to, as 主办 or 协办."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="units")
    unit = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=8, choices=UnitRole.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "unit"], name="cases_caseunit_once")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.unit_id} {self.role}"


class CaseEvent(models.Model):
    """One step of a case's timeline: which transition, from and to which state, when, by whom, why."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    transition = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.transition}"


class PhotoStage(models.TextChoices):
    REPORT = "report", _("上报照片")
    FEEDBACK = "feedback", _("处置照片")
    VERIFY = "verify", _("核查照片")


class CasePhoto(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    stage = models.CharField(max_length=10, choices=PhotoStage.choices)
    path = models.CharField(max_length=200)  # relative to the data directory
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.path


class CaseSubscription(models.Model):
    """A reporter of a duplicate merged into this case (并单): told of its progress as its own reporter is."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="subscriptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="cases_subscription_once")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.user_id}"


class RequestKind(models.TextChoices):
    EXTENSION = "extension", _("延期")
    POSTPONEMENT = "postponement", _("缓办")


class RequestState(models.TextChoices):
    PENDING = "pending", _("待审批")
    APPROVED = "approved", _("已批准")
    REFUSED = "refused", _("未批准")


class ClockRequest(models.Model):
    """A unit's request to extend (延期) or postpone (缓办) a case: the clock changes only when it is approved."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="clock_requests")
    kind = models.CharField(max_length=14, choices=RequestKind.choices)
    days = models.PositiveSmallIntegerField(default=0)
    reason = models.CharField(max_length=500)
    state = models.CharField(max_length=10, choices=RequestState.choices, default=RequestState.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(state="pending"), name="cases_one_pending_request"
            )
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind} {self.state}"


class Open311Key(models.Model):
    """An API key of a department system or app for Open311 writes. Only its SHA-256 is kept; revoked keys stay."""

    name = models.CharField(_("system"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 key")
        verbose_name_plural = _("Open311 keys")

    def __str__(self) -> str:
        return f"{self.name} {self.prefix}"


class Tally(models.Model):
    """The statistics' counts of the cases reported in one month (local time), per unit, grid cell, street,
    district, and street × category (`hotspot`, key `street|category id`): what `cases.statistics` reads instead of
    counting millions of cases.

    Kept exact by the database itself: triggers on `cases_case` (migration `0002_tally_and_scale_indexes`) add a
    case's contribution when it is inserted, move it when any of its counted fields change, and take it away when it
    is deleted, in the same statement and so in the same transaction as the write, whichever code made it. Only the
    overdue-and-open count depends on the clock, so it is counted live from the running cases."""

    month = models.DateField()
    dimension = models.CharField(max_length=8)
    key = models.CharField(max_length=40)
    reported = models.IntegerField(default=0)
    registered = models.IntegerField(default=0)
    simple = models.IntegerField(default=0)
    due = models.IntegerField(default=0)
    postponed = models.IntegerField(default=0)
    closed = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)
    reworked = models.IntegerField(default=0)
    extended = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "dimension", "key"], name="cases_tally_once")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.dimension} {self.key}"
