"""The government data resource catalogue (政务信息资源目录, GB/T 21063 and the 2017 compilation guide), sharing
between departments (国发〔2016〕51号) and the open data portal (a CKAN-compatible model).

Catalogue side: `DataResource` with its core metadata, every change kept as a `DataResourceVersion`; rows uploaded
by the provider in `ResourceRow`; `SharingRequest` → `SharingGrant` (field level, with an expiry) → `ExchangeUse`
(every read by a department system, with its purpose).

Open data side (CKAN's model): organizations are departments; `Dataset` (CKAN package) with `DatasetResource`s,
`DatasetTag`s and themes (`DatasetGroup`); every published state an immutable `DatasetRevision` whose tabular rows
are kept in `DatastoreRow` (resource, revision, row number, the row as JSON), so downloads and previews can be had
as of any published version. `DepartmentApiToken`s (stored as digests) let department systems write through the
Action API; `DataRequest`s are the public's requests for data.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Concat, Upper
from django.utils.translation import gettext_lazy as _

from rongcheng.accounts.models import Department
from rongcheng.kernel.masking import mask_by_shape


class Category(models.TextChoices):
    """资源属性分类: the three kinds of catalogue (the 类 of the classification code is 1, 2 or 3)."""

    BASE = "base", _("基础信息资源")
    THEMATIC = "thematic", _("主题信息资源")
    DEPARTMENTAL = "departmental", _("部门信息资源")


CATEGORY_DIGIT = {Category.BASE: "1", Category.THEMATIC: "2", Category.DEPARTMENTAL: "3"}


class ResourceFormat(models.TextChoices):
    """信息资源格式 (the guide's families of formats)."""

    DATABASE = "database", _("数据库")
    SPREADSHEET = "spreadsheet", _("电子表格")
    DOCUMENT = "document", _("电子文件")
    GEOSPATIAL = "geospatial", _("地理空间数据")
    SERVICE = "service", _("服务接口")


class SharingType(models.TextChoices):
    UNCONDITIONAL = "unconditional", _("无条件共享")
    CONDITIONAL = "conditional", _("有条件共享")
    NOT_SHARED = "not_shared", _("不予共享")


class SharingMethod(models.TextChoices):
    API = "api", _("接口")
    FILE = "file", _("文件")


class OpenType(models.TextChoices):
    OPEN = "open", _("无条件开放")
    CONDITIONAL = "conditional", _("有条件开放")
    NOT_OPEN = "not_open", _("不予开放")


class UpdateCycle(models.IntegerChoices):
    """更新周期, in days; 0 for irregular (no next update due)."""

    IRREGULAR = 0, _("不定期")
    DAILY = 1, _("每日")
    WEEKLY = 7, _("每周")
    MONTHLY = 30, _("每月")
    QUARTERLY = 91, _("每季度")
    YEARLY = 365, _("每年")


class ItemType(models.TextChoices):
    """数据类型 of a data item (信息项)."""

    TEXT = "text", _("字符型")
    INTEGER = "integer", _("整数型")
    NUMBER = "number", _("数值型")
    DATE = "date", _("日期型")
    BOOLEAN = "boolean", _("布尔型")
    GEOMETRY = "geometry", _("空间型")


def masked_form(data: dict[str, Any], personal: list[str]) -> dict[str, Any]:
    """The personal items `personal` of an uploaded row `data`, each masked by its shape (kernel.masking.mask_by_shape),
    as `ResourceRow.masked` keeps them; an item the row lacks is null, as the exchange projects it.

    An item is left out (a page holding that row is then masked in Python, from the value read back) when the value
    read back from the database may not be the value written: a number whose JSON text has an exponent (1e+16: a
    PostgreSQL numeric, read back as 10000000000000000), negative zero, a value that is not finite, or a value of a type
    an uploaded row never holds. A row read back from the database has none of them, except non-finite numbers."""
    form: dict[str, Any] = {}
    for name in personal:
        value = data.get(name)
        if isinstance(value, float) and (not math.isfinite(value) or "e" in repr(value) or str(value) == "-0.0"):
            continue
        if value is None or isinstance(value, str | bool | int | float):
            form[name] = mask_by_shape(value)
    return form


def item_value(value: Any, kind: str) -> Any:
    """One value converted to a data item's type (an uploaded cell, a datastore filter); ValueError when it does not
    fit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if kind == ItemType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("not an integer")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(str(value).strip())
    if kind == ItemType.NUMBER:
        try:
            return float(Decimal(str(value).strip()))
        except InvalidOperation:
            raise ValueError("not a number") from None
    if kind == ItemType.DATE:
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    if kind == ItemType.BOOLEAN:
        text = str(value).strip().lower()
        if text in ("true", "1", "是", "yes"):
            return True
        if text in ("false", "0", "否", "no"):
            return False
        raise ValueError("not a yes or no")
    return str(value).strip()


def item_title(description: str, name: str) -> str:
    """A data item's or column's name for people: its description's words before the brackets (民族 of
    民族（GB/T 3304 代码）), or its field name when it has no description."""
    return (description or name).partition("（")[0] or name


def item_note(description: str) -> str:
    """What a description says beyond the name: the code list or the standard in its brackets, else a dash."""
    return (description or "").partition("（")[2].removesuffix("）") or "—"


class DataResource(models.Model):
    """One government data resource of the catalogue, with the core metadata of the compilation guide.

    `items` lists the data items (信息项): {"name", "type", "description", "personal"}. `backing` names the provider
    of its rows on the platform (rongcheng.catalogue.providers) or is empty for rows the department uploads.
    """

    code = models.CharField(_("resource code"), max_length=40, unique=True)
    classification = models.CharField(_("classification code"), max_length=16)
    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    provider = models.ForeignKey(
        Department, verbose_name=_("provider"), on_delete=models.PROTECT, related_name="data_resources"
    )
    summary = models.TextField(_("summary"))
    items = models.JSONField(_("data items"), default=list)
    format = models.CharField(_("format"), max_length=16, choices=ResourceFormat.choices)
    sharing_type = models.CharField(_("sharing type"), max_length=16, choices=SharingType.choices)
    sharing_condition = models.TextField(_("sharing condition or legal basis for not sharing"), blank=True)
    sharing_method = models.CharField(_("sharing method"), max_length=8, choices=SharingMethod.choices)
    open_type = models.CharField(_("open type"), max_length=16, choices=OpenType.choices)
    open_condition = models.TextField(_("open condition or reason"), blank=True)
    update_cycle = models.PositiveSmallIntegerField(_("update cycle"), choices=UpdateCycle.choices)
    next_update_due = models.DateField(_("next update due"), null=True, blank=True)
    published_on = models.DateField(_("publish date"))
    related_codes = models.JSONField(_("related resource codes"), default=list, blank=True)
    backing = models.CharField(_("backing provider"), max_length=60, blank=True)
    backing_params = models.JSONField(_("backing parameters"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("data resource")
        verbose_name_plural = _("data resources")
        permissions = [
            ("edit_dataresource", "Catalogue and publish a department's data resources and datasets (editor)"),
            ("steward_dataresource", "Approve publication and answer sharing requests for a department"),
            ("request_sharing", "Ask other departments for their data resources"),
            ("manage_catalogue", "Run the city's catalogue: disputes, revocations, every department"),
        ]
        indexes = [models.Index(fields=["provider", "code"], name="catalogue_resource_provider")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(sharing_type="not_shared") | ~models.Q(sharing_condition=""),
                name="catalogue_not_shared_has_basis",
            ),
            models.CheckConstraint(
                condition=~models.Q(category="base") | models.Q(sharing_type="unconditional"),
                name="catalogue_base_unconditional",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def sequence(self) -> str:
        """The 顺序码, the part of the code after the classification."""
        return self.code.rpartition("/")[2]

    @property
    def item_names(self) -> list[str]:
        return [item["name"] for item in self.items]

    @property
    def personal_items(self) -> list[str]:
        return [item["name"] for item in self.items if item.get("personal")]

    def item_titles(self, names: list[str]) -> list[str]:
        """The data items `names` as people read them: each item's description (its title, 统一社会信用代码), or its
        name when it has none or is no longer declared."""
        titles = {item["name"]: item.get("description") or item["name"] for item in self.items}
        return [titles.get(name, name) for name in names]


class DataResourceVersion(models.Model):
    """The metadata of a resource as one change left it; the highest number is the current state."""

    resource = models.ForeignKey(DataResource, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    snapshot = models.JSONField(_("metadata"))
    changed_at = models.DateTimeField(_("changed at"))
    changed_by = models.CharField(_("changed by"), max_length=150)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["resource", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "version"], name="catalogue_resource_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} v{self.version}"


class ResourceRow(models.Model):
    """A row uploaded by the provider (CSV or XLSX), validated against the resource's data items."""

    resource = models.ForeignKey(DataResource, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField()
    data = models.JSONField()
    # The row's personal data items as the exchange shows them to a consumer not granted them in clear (`masked_form`),
    # kept at upload so that a page is not masked at every read (ADR 0021); null: not worked out (a page holding such
    # a row is masked in Python).
    masked = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource", "row_number"], name="catalogue_resource_row_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} #{self.row_number}"


class SharingState(models.TextChoices):
    NEW = "new", _("新申请")
    SUBMITTED = "submitted", _("待提供方答复")
    GRANTED = "granted", _("已授权")
    REFUSED = "refused", _("已拒绝")
    DISPUTED = "disputed", _("争议协调中")
    CLOSED = "closed", _("协调后维持拒绝")
    WITHDRAWN = "withdrawn", _("已撤回")
    REVOKED = "revoked", _("已撤销授权")


class SharingRequest(models.Model):
    """共享申请: a department asks for a resource, or chosen data items of it, for a purpose, scenario and period."""

    number = models.CharField(_("request number"), max_length=24, unique=True)
    resource = models.ForeignKey(DataResource, verbose_name=_("resource"), on_delete=models.PROTECT, related_name="+")
    requester = models.ForeignKey(
        Department, verbose_name=_("requesting department"), on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    items = models.JSONField(_("data items asked for"), default=list)
    clear_items = models.JSONField(_("personal data items asked for in clear"), default=list, blank=True)
    purpose = models.CharField(_("purpose"), max_length=200)
    scenario = models.TextField(_("scenario"))
    period_from = models.DateField(_("from"))
    period_until = models.DateField(_("until"))
    state = models.CharField(_("state"), max_length=12, choices=SharingState.choices, default=SharingState.NEW)
    submitted_at = models.DateTimeField(_("submitted at"))
    deadline = models.DateField(_("answer due"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    dispute_reason = models.TextField(_("dispute reason"), blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["state", "deadline"], name="catalogue_sharing_state_due"),
            models.Index(fields=["requester", "submitted_at"], name="catalogue_sharing_requester"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def item_titles(self) -> list[str]:
        return self.resource.item_titles(self.items)

    @property
    def clear_item_titles(self) -> list[str]:
        return self.resource.item_titles(self.clear_items)

    @property
    def item_choices(self) -> list[tuple[str, str]]:
        """(name, title) of each data item asked for: the officer's grant form shows titles and sends names."""
        return list(zip(self.items, self.item_titles, strict=True))

    @property
    def clear_item_choices(self) -> list[tuple[str, str]]:
        """(name, title) of each personal data item asked for in clear, for the grant form."""
        return list(zip(self.clear_items, self.clear_item_titles, strict=True))


class SharingGrant(models.Model):
    """What a consumer department may read of a resource: named data items, until an expiry; revocable."""

    request = models.OneToOneField(SharingRequest, on_delete=models.PROTECT, related_name="grant")
    resource = models.ForeignKey(DataResource, on_delete=models.PROTECT, related_name="grants")
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    items = models.JSONField(_("granted data items"))
    clear_items = models.JSONField(_("personal data items granted in clear"), default=list, blank=True)
    granted_at = models.DateTimeField(_("granted at"))
    expires_on = models.DateField(_("expires on"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.TextField(_("revocation reason"), blank=True)

    class Meta:
        indexes = [models.Index(fields=["consumer", "resource"], name="catalogue_grant_consumer")]

    def __str__(self) -> str:
        return f"grant {self.pk}"

    @property
    def item_titles(self) -> list[str]:
        return self.resource.item_titles(self.items)

    @property
    def clear_item_titles(self) -> list[str]:
        return self.resource.item_titles(self.clear_items)


class ExchangeUse(models.Model):
    """One read of shared data through the exchange API: by whom, for what, how much."""

    grant = models.ForeignKey(SharingGrant, on_delete=models.PROTECT, related_name="uses")
    at = models.DateTimeField()
    client = models.CharField(_("client"), max_length=150)
    purpose = models.CharField(_("purpose"), max_length=200)
    rows = models.PositiveIntegerField(_("rows"))
    fields = models.JSONField(_("fields"))
    kind = models.CharField(_("kind"), max_length=8, default="query")

    class Meta:
        indexes = [models.Index(fields=["grant", "at"], name="catalogue_use_grant_at")]

    # --- open data (CKAN's model) ---------------------------------------------------------------------------------

    def __str__(self) -> str:
        return f"use {self.pk}"


class DatasetState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ACTIVE = "active", _("已发布")
    DELETED = "deleted", _("已删除")


class Approval(models.TextChoices):
    NONE = "", _("无")
    PENDING = "pending", _("待审核")
    RETURNED = "returned", _("已退回")


class DatasetGroup(models.Model):
    """A theme (CKAN group) datasets are filed under."""

    name = models.SlugField(_("name"), max_length=100, unique=True)
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title


SEARCH_SEPARATOR = "\x1f"  # between the texts of Dataset.search_text


class Dataset(models.Model):
    """An open dataset (CKAN package). Its columns hold the last published state (or the draft before the first
    publication); unpublished edits of a published dataset wait in `pending` until the data steward approves."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.SlugField(_("name"), max_length=100, unique=True)
    title = models.CharField(_("title"), max_length=200)
    notes = models.TextField(_("description"), blank=True)
    organization = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="datasets")
    groups = models.ManyToManyField(DatasetGroup, related_name="datasets", blank=True)
    licence_id = models.CharField(_("licence"), max_length=40, default="cc-by-4.0")
    private = models.BooleanField(_("private"), default=False)
    state = models.CharField(_("state"), max_length=8, choices=DatasetState.choices, default=DatasetState.DRAFT)
    data_resource = models.ForeignKey(
        DataResource, null=True, blank=True, on_delete=models.PROTECT, related_name="datasets"
    )
    personal_derived = models.BooleanField(_("derived from personal data"), default=False)
    update_cycle = models.PositiveSmallIntegerField(_("update cycle"), choices=UpdateCycle.choices, default=0)
    revision = models.PositiveIntegerField(_("published revision"), default=0)
    pending = models.JSONField(_("changes waiting for approval"), default=dict, blank=True)
    approval = models.CharField(_("approval"), max_length=8, choices=Approval.choices, default="", blank=True)
    approval_requested_by = models.CharField(max_length=150, blank=True)
    approval_note = models.TextField(blank=True)
    metadata_created = models.DateTimeField()
    metadata_modified = models.DateTimeField()
    # What a word of `package_search` is looked for in: title, name and description upper-cased once, when written
    # (ADR 0022), separated by SEARCH_SEPARATOR, a control character, so that a word never matches across two of them
    # (a word holding the separator is tested text by text).
    search_text = models.GeneratedField(
        expression=Upper(
            Concat(
                "title",
                models.Value(SEARCH_SEPARATOR),
                "name",
                models.Value(SEARCH_SEPARATOR),
                "notes",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
        editable=False,
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["state", "private", "metadata_modified"], name="catalogue_dataset_listed"),
            models.Index(fields=["organization", "state"], name="catalogue_dataset_org"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def listed(self) -> bool:
        return self.state == DatasetState.ACTIVE and not self.private


class DatasetTag(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="tag_rows")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="catalogue_tag_unique")]
        indexes = [models.Index(fields=["name", "dataset"], name="catalogue_tag_name")]

    def __str__(self) -> str:
        return self.name


class DatasetResource(models.Model):
    """A resource of a dataset (CKAN resource): a table in one format, backed by a provider of platform data or
    by an external link; `fields` is its data dictionary ({"id", "type", "description"})."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="resources")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    format = models.CharField(_("format"), max_length=10)
    backing = models.CharField(max_length=60, blank=True)
    backing_params = models.JSONField(default=dict, blank=True)
    url = models.URLField(max_length=500, blank=True)
    fields = models.JSONField(default=list, blank=True)
    created = models.DateTimeField()
    last_modified = models.DateTimeField()

    class Meta:
        ordering = ["dataset", "position"]
        # `res_format:csv` matches a format ignoring case (`UPPER(format) = UPPER(%s)`): the index is on that.
        indexes = [models.Index(Upper("format"), "dataset", name="catalogue_res_upper_format")]

    def __str__(self) -> str:
        return self.name


class DatasetRevision(models.Model):
    """One published state of a dataset, never changed: the package as it was published, who asked and who
    approved, and the number of rows of each resource (kept in DatastoreRow under this revision)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    snapshot = models.JSONField()
    published_at = models.DateTimeField()
    requested_by = models.CharField(max_length=150)
    approved_by = models.CharField(max_length=150)
    row_counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="catalogue_revision_unique")]

    def __str__(self) -> str:
        return f"{self.dataset_id} r{self.number}"


class DatastoreRow(models.Model):
    """A row of a tabular resource as published in one revision (CKAN's DataStore)."""

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey(DatasetResource, on_delete=models.CASCADE, related_name="+", db_index=False)
    revision = models.PositiveIntegerField()
    row_number = models.PositiveIntegerField()
    data = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "revision", "row_number"], name="catalogue_datastore_row_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} r{self.revision} #{self.row_number}"


class DepartmentApiToken(models.Model):
    """An API token of a department's system for the CKAN Action API's writes; only its SHA-256 digest is kept."""

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}…"


class DataRequest(models.Model):
    """A request from the public for data not yet open (数据开放需求)."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    organization = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    state = models.CharField(max_length=10, default="open")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title
