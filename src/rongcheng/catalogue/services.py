"""Write use-cases of the catalogue, sharing and open data.

Each service checks the actor's right for the department concerned (rongcheng.catalogue.permissions), writes its
rows and its audit record in one transaction; a refusal changes nothing and leaves a `denied` record.

- catalogue: `data_resource_create`, `data_resource_update` (every change a new `DataResourceVersion`),
  `resource_rows_upload` (CSV/XLSX checked row by row against the data items: all rows or none);
- sharing: `sharing_request_submit`, `sharing_request_transition` (the table in `catalogue.sharing`),
  `sharing_overdue_escalate` (the job), `exchange_read` (a department system reading through its grant);
- open data: `dataset_create`, `dataset_update`, `dataset_resource_add`, `publication_request`,
  `publication_approve` (the data steward; never the one who asked), `publication_return`, `api_token_issue`,
  `api_token_authenticate`, `data_request_submit`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from rongcheng.accounts.models import Department, User
from rongcheng.audit.services import (
    Actor,
    PageAlongside,
    PageGate,
    PageGateClosed,
    actor_from_user,
    audit_record,
    audit_record_counted_sql,
    audit_record_many,
    read_record_transaction,
)
from rongcheng.catalogue import exchange_pages, permissions, providers, sharing
from rongcheng.catalogue.errors import (
    ApiTokenInvalid,
    CatalogueActionDenied,
    DataResourceInvalid,
    DataResourceNotFound,
    DatasetInvalid,
    DatasetNotFound,
    GrantNotValid,
    PublicationRefused,
    SharingRefused,
    SharingRequestInvalid,
    SharingRequestNotFound,
    UploadRejected,
)
from rongcheng.catalogue.events import PersonalItemsChanged
from rongcheng.catalogue.models import (
    CATEGORY_DIGIT,
    Approval,
    Category,
    DataRequest,
    DataResource,
    DataResourceVersion,
    Dataset,
    DatasetGroup,
    DatasetResource,
    DatasetRevision,
    DatasetState,
    DatasetTag,
    DatastoreRow,
    DepartmentApiToken,
    ExchangeUse,
    ItemType,
    OpenType,
    ResourceFormat,
    ResourceRow,
    SharingGrant,
    SharingMethod,
    SharingRequest,
    SharingState,
    SharingType,
    UpdateCycle,
    item_value,
    masked_form,
)
from rongcheng.hall.selectors import city_today, working_days_add
from rongcheng.kernel.context import current_address
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.events import publish
from rongcheng.kernel.masking import mask_by_shape
from rongcheng.kernel.prepared import kept_plan
from rongcheng.kernel.rows import model_from_row

SHARING_ANSWER_DAYS = 10  # 有条件共享: the provider replies within 10 working days (国发〔2016〕51号)
MAX_UPLOAD_ROWS = 100_000
MAX_GRANT_DAYS = 3 * 366
DATASET_FORMATS = ("CSV", "JSON", "XLSX", "GeoJSON")
LICENCES = ("cc-by-4.0", "cc-zero", "odc-by", "odc-odbl", "other-open", "other-closed")
NAME_PATTERN = re.compile(r"^[a-z0-9_-]{2,100}$")
ROW_BATCH = 5000
RECORDS_PAGE = 1000  # rows of individual records asked of their registry at once


def _actor(actor: User | Actor | DepartmentApiToken) -> Actor:
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, DepartmentApiToken):
        return Actor("api_client", f"token:{actor.prefix}", f"{actor.department.code} token {actor.name}"[:150])
    return actor_from_user(actor)


def _label(actor: User | Actor | DepartmentApiToken) -> str:
    return _actor(actor).label[:150]


@contextmanager
def _refusal_audited(
    action: str, actor: User | Actor | DepartmentApiToken, *, target_type: str, target_id: Any = "",
    detail: dict[str, Any] | None = None,
) -> Iterator[None]:  # fmt: skip
    """Let a domain error through after recording it as denied, outside the atomic block that rolled back."""
    try:
        yield
    except DomainError as exc:
        audit_record(
            action=action, actor=_actor(actor), outcome="denied", target_type=target_type,
            target_id=str(target_id)[:64], source_address=current_address(),
            detail={**(detail or {}), "problem": exc.type_slug, "reason": exc.detail[:300]},
        )  # fmt: skip
        raise


def _invalid(error: type[DomainError], field: str, rule: str, message: str) -> DomainError:
    return error(message, errors=[{"loc": [field], "rule": rule, "msg": message}])


# --- the catalogue ---------------------------------------------------------------------------------------------------

RESOURCE_FIELDS = (
    "name", "category", "classification", "summary", "items", "format", "sharing_type", "sharing_condition",
    "sharing_method", "open_type", "open_condition", "update_cycle", "related_codes", "backing", "backing_params",
)  # fmt: skip


def _choice(errors: list[dict[str, Any]], data: dict[str, Any], field: str, choices: Iterable[str]) -> None:
    if data.get(field) not in set(choices):
        errors.append({"loc": [field], "rule": "choice", "msg": f"{field} must be one of {', '.join(choices)}."})


def _resource_validate(data: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a resource, checked against the compilation guide's rules; every broken rule listed."""
    errors: list[dict[str, Any]] = []
    clean = {key: data.get(key) for key in RESOURCE_FIELDS}
    for field in ("name", "summary"):
        clean[field] = str(data.get(field) or "").strip()
        if not clean[field]:
            errors.append({"loc": [field], "rule": "required", "msg": f"{field} is required."})
    _choice(errors, data, "category", Category.values)
    _choice(errors, data, "format", ResourceFormat.values)
    _choice(errors, data, "sharing_type", SharingType.values)
    _choice(errors, data, "sharing_method", SharingMethod.values)
    _choice(errors, data, "open_type", OpenType.values)
    try:
        clean["update_cycle"] = int(data.get("update_cycle", -1))
    except (TypeError, ValueError):
        clean["update_cycle"] = -1
    if clean["update_cycle"] not in UpdateCycle.values:
        errors.append({"loc": ["update_cycle"], "rule": "choice", "msg": "Choose an update cycle."})
    classification = str(data.get("classification") or "")
    if not re.fullmatch(r"\d{2}\d{3}\d{0,6}", classification):
        errors.append({"loc": ["classification"], "rule": "classification.format",
                       "msg": "The classification is 项 (2 digits), 目 (3 digits) and an optional 细目."})  # fmt: skip
    clean["classification"] = CATEGORY_DIGIT.get(data.get("category"), "") + classification  # type: ignore[arg-type]
    clean["sharing_condition"] = str(data.get("sharing_condition") or "").strip()
    clean["open_condition"] = str(data.get("open_condition") or "").strip()
    if data.get("sharing_type") in (SharingType.CONDITIONAL, SharingType.NOT_SHARED) and not clean["sharing_condition"]:
        errors.append({"loc": ["sharing_condition"], "rule": "sharing.basis",
                       "msg": "有条件共享 names its condition; 不予共享 names its legal or policy basis."})  # fmt: skip
    if data.get("category") == Category.BASE and data.get("sharing_type") != SharingType.UNCONDITIONAL:
        errors.append({"loc": ["sharing_type"], "rule": "sharing.base",
                       "msg": "Base resources (population, entities, spatial, credit, licences) are shared "
                              "unconditionally."})  # fmt: skip
    if data.get("open_type") in (OpenType.CONDITIONAL, OpenType.NOT_OPEN) and not clean["open_condition"]:
        errors.append({"loc": ["open_condition"], "rule": "open.reason",
                       "msg": "A resource not opened without conditions names its condition or reason."})  # fmt: skip
    clean["items"] = _items_validate(data.get("items"), errors)
    clean["related_codes"] = [str(c) for c in (data.get("related_codes") or [])]
    clean["backing"] = str(data.get("backing") or "")
    clean["backing_params"] = dict(data.get("backing_params") or {})
    if clean["backing"] and providers.provider_get(clean["backing"]) is None:
        errors.append({"loc": ["backing"], "rule": "backing.known", "msg": "No such provider of platform data."})
    if errors:
        raise DataResourceInvalid("The resource's metadata breaks the catalogue's rules.", errors=errors)
    return clean


def _items_validate(items: Any, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        errors.append({"loc": ["items"], "rule": "required", "msg": "Declare at least one data item."})
        return []
    clean: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(items):
        name = str((item or {}).get("name") or "").strip() if isinstance(item, dict) else ""
        kind = item.get("type") if isinstance(item, dict) else None
        if not name or name in seen:
            errors.append({"loc": ["items", number, "name"], "rule": "item.name",
                           "msg": "Each data item has a name of its own."})  # fmt: skip
        if kind not in ItemType.values:
            errors.append({"loc": ["items", number, "type"], "rule": "item.type", "msg": "Choose a data type."})
        seen.add(name)
        if isinstance(item, dict):
            clean.append({"name": name, "type": kind, "description": str(item.get("description") or "").strip(),
                          "personal": bool(item.get("personal"))})  # fmt: skip
    return clean


def _snapshot(resource: DataResource) -> dict[str, Any]:
    return {
        "code": resource.code, "provider": resource.provider.code,
        **{field: getattr(resource, field) for field in RESOURCE_FIELDS},
        "next_update_due": resource.next_update_due.isoformat() if resource.next_update_due else None,
        "published_on": resource.published_on.isoformat(),
    }  # fmt: skip


def _version_write(resource: DataResource, actor: User | Actor, note: str) -> None:
    DataResourceVersion.objects.create(
        resource=resource, version=resource.version, snapshot=_snapshot(resource), changed_at=resource.updated_at,
        changed_by=_label(actor), note=note[:200],
    )  # fmt: skip


def _next_code(classification: str) -> str:
    prefix = f"{classification}/"
    last = (
        DataResource.objects.select_for_update()
        .filter(code__startswith=prefix)
        .order_by("-code")
        .values_list("code", flat=True)
        .first()
    )
    sequence = int(last.rpartition("/")[2]) + 1 if last else 1
    return f"{prefix}{sequence:06d}"


def _due(start: dt.date, cycle: int) -> dt.date | None:
    return start + dt.timedelta(days=cycle) if cycle else None


def data_resource_create(*, provider_code: str, data: dict[str, Any], actor: User | Actor) -> DataResource:
    """Catalogue a resource of the provider department; `actor` a User (an editor of that department, or the digital
    office) or the system (seeding). Its code is the classification code and a sequence number (资源代码 =
    分类码/顺序码)."""
    with _refusal_audited("catalogue.resource.create", actor, target_type="catalogue.dataresource",
                          detail={"provider": provider_code[:32]}):  # fmt: skip
        department = Department.objects.filter(code=provider_code).first()
        if department is None:
            raise _invalid(DataResourceInvalid, "provider", "provider.known", "No such department.")
        if not isinstance(actor, Actor) and not permissions.can_edit(actor, department):
            raise CatalogueActionDenied("This account may not catalogue this department's resources.")
        clean = _resource_validate(data)
        with transaction.atomic():
            today = city_today()
            resource = DataResource.objects.create(
                code=_next_code(clean["classification"]), provider=department, published_on=today,
                next_update_due=_due(today, clean["update_cycle"]), updated_at=timezone.now(), **clean,
            )  # fmt: skip
            _version_write(resource, actor, "created")
            audit_record(action="catalogue.resource.create", actor=_actor(actor), target_type="catalogue.dataresource",
                         target_id=resource.code, source_address=current_address())  # fmt: skip
            return resource


def _resource_locked(code: str) -> DataResource:
    resource = DataResource.objects.select_for_update().select_related("provider").filter(code=code).first()
    if resource is None:
        raise DataResourceNotFound(f"No data resource {code}.")
    return resource


def data_resource_update(*, code: str, changes: dict[str, Any], actor: User, note: str = "") -> DataResource:
    """Change a resource's metadata: a new version, the previous one kept."""
    with (
        _refusal_audited("catalogue.resource.update", actor, target_type="catalogue.dataresource", target_id=code),
        transaction.atomic(),
    ):
        resource = _resource_locked(code)
        if not permissions.can_edit(actor, resource.provider):
            raise CatalogueActionDenied("This account may not change this department's resources.")
        current = {field: getattr(resource, field) for field in RESOURCE_FIELDS}
        current["classification"] = resource.classification[1:]
        merged = {**current, **{k: v for k, v in changes.items() if k in RESOURCE_FIELDS}}
        clean = _resource_validate(merged)
        if clean["classification"] != resource.classification:
            raise _invalid(DataResourceInvalid, "classification", "classification.fixed",
                           "A resource keeps its classification; catalogue a new one instead.")  # fmt: skip
        changed = sorted(k for k in RESOURCE_FIELDS if clean[k] != getattr(resource, k))
        if not changed:
            return resource
        personal = set(resource.personal_items)
        for key in changed:
            setattr(resource, key, clean[key])
        resource.version += 1
        resource.updated_at = timezone.now()
        resource.save()
        if set(resource.personal_items) != personal:  # the rows' kept masked forms follow, in the worker
            publish(PersonalItemsChanged(resource_code=resource.code, version=resource.version))
        _version_write(resource, actor, note or "changed: " + ", ".join(changed))
        audit_record(action="catalogue.resource.update", actor=_actor(actor), target_type="catalogue.dataresource",
                     target_id=code, source_address=current_address(), detail={"changed": changed})  # fmt: skip
        return resource


def masked_forms_renew(*, resource_code: str) -> int:
    """Every uploaded row of the resource keeps the masked form of the resource's personal items as they are now
    (`ResourceRow.masked`, ADR 0021): worked out again from the rows as the database gives them back, in batches of
    their own, after an editor changed which items are personal (the `catalogue.masked_forms` job, started by
    `PersonalItemsChanged` once the editor's change is committed). Returns how many rows it wrote.

    Readers never wait for it and are never wrong meanwhile: a page whose rows lack a form it needs is masked in
    Python (exchange_pages), and a form of an item no longer personal is never read. A form is the masking of the
    row's own value, so one worked out before another change of the items is still right after it; a second change
    while this runs starts a job of its own, which finishes the work with the items of its time."""
    resource = DataResource.objects.filter(code=resource_code).first()
    if resource is None:
        return 0
    personal = resource.personal_items
    written = 0
    last = 0
    while True:
        rows = list(ResourceRow.objects.filter(resource=resource, pk__gt=last).order_by("pk")
                    .values_list("pk", "data")[:ROW_BATCH])  # fmt: skip
        if not rows:
            return written
        with transaction.atomic():
            _masked_forms_write([(pk, masked_form(data, personal)) for pk, data in rows])
        written += len(rows)
        last = rows[-1][0]


def _masked_forms_write(forms: list[tuple[int, dict[str, Any]]]) -> None:
    if connection.vendor != "postgresql":
        ResourceRow.objects.bulk_update([ResourceRow(pk=pk, masked=form) for pk, form in forms], ["masked"],
                                        batch_size=1000)  # fmt: skip
        return
    with connection.cursor() as cursor:  # one statement a batch (bulk_update's CASE of 5,000 arms costs seconds)
        cursor.execute(
            f"UPDATE {ResourceRow._meta.db_table} AS r SET masked = f.form::jsonb "  # noqa: S608 - the model's table
            "FROM unnest(%s::bigint[], %s::text[]) AS f(id, form) WHERE r.id = f.id",
            [[pk for pk, _form in forms], [json.dumps(form, ensure_ascii=False) for _pk, form in forms]],
        )


@dataclass
class UploadReport:
    rows: int
    errors: list[dict[str, Any]]


def _table_read(file_name: str, content: bytes) -> tuple[list[str], Iterator[list[Any]]]:
    if file_name.lower().endswith(".xlsx"):
        import openpyxl  # type: ignore[import-untyped]  # no stubs installed

        try:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds for a file that is not a workbook
            raise _invalid(UploadRejected, "file", "file.xlsx", "The file is not an XLSX workbook.") from None
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(c or "").strip() for c in next(rows, ())]
        return header, (list(r) for r in rows)
    if not file_name.lower().endswith(".csv"):
        raise _invalid(UploadRejected, "file", "file.format", "Upload a CSV or XLSX file.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid(UploadRejected, "file", "file.encoding", "The CSV file is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text))
    header = [c.strip() for c in next(reader, [])]
    return header, (list(r) for r in reader)


def upload_check(resource: DataResource, file_name: str, content: bytes) -> tuple[list[dict[str, Any]], UploadReport]:
    """The rows of an upload converted to the items' types, and the report of every row that does not fit."""
    header, rows = _table_read(file_name, content)
    names = resource.item_names
    errors: list[dict[str, Any]] = []
    if sorted(header) != sorted(names):
        missing = [n for n in names if n not in header]
        extra = [n for n in header if n not in names]
        errors.append({"row": 1, "loc": ["header"], "rule": "header.items",
                       "msg": f"columns must be the data items; missing: {', '.join(missing) or '-'}; "
                              f"unknown: {', '.join(extra) or '-'}"})  # fmt: skip
        return [], UploadReport(0, errors)
    types = {item["name"]: item["type"] for item in resource.items}
    clean: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=2):
        if not any(c not in (None, "") for c in row):
            continue
        if len(row) != len(header):
            errors.append({"row": number, "loc": ["row"], "rule": "row.width",
                           "msg": f"{len(row)} cells, expected {len(header)}"})  # fmt: skip
            continue
        record: dict[str, Any] = {}
        for name, value in zip(header, row, strict=True):
            try:
                record[name] = item_value(value, types[name])
            except (TypeError, ValueError):
                errors.append({"row": number, "loc": [name], "rule": f"type.{types[name]}",
                               "msg": f"“{str(value)[:40]}” is not of the type {types[name]}"})  # fmt: skip
        clean.append(record)
        if len(clean) > MAX_UPLOAD_ROWS:
            errors.append({"row": number, "loc": ["file"], "rule": "rows.max", "msg": f"at most {MAX_UPLOAD_ROWS}"})
            break
    return clean, UploadReport(len(clean), errors)


def resource_rows_upload(*, code: str, file_name: str, content: bytes, actor: User) -> UploadReport:
    """Replace the rows of a department's resource with an upload; nothing is stored unless every row fits."""
    with _refusal_audited("catalogue.resource.upload", actor, target_type="catalogue.dataresource", target_id=code):
        resource = DataResource.objects.select_related("provider").filter(code=code).first()
        if resource is None:
            raise DataResourceNotFound(f"No data resource {code}.")
        if not permissions.can_edit(actor, resource.provider):
            raise CatalogueActionDenied("This account may not upload this department's rows.")
        if resource.backing:
            raise _invalid(UploadRejected, "file", "backing", "This resource's rows come from the platform itself.")
        rows, report = upload_check(resource, file_name, content)
        if report.errors:
            raise UploadRejected(f"{len(report.errors)} problems in the upload; nothing was stored.",
                                 errors=report.errors[:500])  # fmt: skip
        with transaction.atomic():
            resource = _resource_locked(code)
            ResourceRow.objects.filter(resource=resource).delete()
            personal = resource.personal_items
            for start in range(0, len(rows), ROW_BATCH):
                batch = rows[start : start + ROW_BATCH]
                ResourceRow.objects.bulk_create(
                    ResourceRow(
                        resource=resource, row_number=start + i + 1, data=row, masked=masked_form(row, personal)
                    )
                    for i, row in enumerate(batch)
                )
            resource.next_update_due = _due(city_today(), resource.update_cycle)
            resource.version += 1
            resource.updated_at = timezone.now()
            resource.save(update_fields=["next_update_due", "version", "updated_at"])
            _version_write(resource, actor, f"upload {file_name[:80]}: {len(rows)} rows")
            audit_record(action="catalogue.resource.upload", actor=_actor(actor), target_type="catalogue.dataresource",
                         target_id=code, source_address=current_address(), detail={"rows": len(rows)})  # fmt: skip
        return report


def resource_rows(resource: DataResource) -> Iterator[dict[str, Any]]:
    """The rows of a resource: from its provider on the platform, or as uploaded."""
    if resource.backing:
        yield from providers.rows_for(resource.backing, resource.backing_params)
        return
    yield from ResourceRow.objects.filter(resource=resource).order_by("row_number").values_list("data", flat=True)


# --- sharing ----------------------------------------------------------------------------------------------------------


def _request_number() -> str:
    today = city_today()
    return f"GX{today:%Y%m%d}{secrets.randbelow(10**8):08d}"


def sharing_request_submit(
    *, resource_code: str, items: list[str], purpose: str, scenario: str, period_from: dt.date,
    period_until: dt.date, actor: User, clear_items: list[str] | None = None,
) -> SharingRequest:  # fmt: skip
    """A department asks for a resource (or chosen data items). 无条件: granted at once after the conformance check;
    有条件: to the provider, who answers within SHARING_ANSWER_DAYS working days; 不予共享: refused, nothing stored."""
    with _refusal_audited("catalogue.sharing.submit", actor, target_type="catalogue.sharingrequest",
                          detail={"resource": resource_code[:40]}):  # fmt: skip
        if not permissions.can_request_sharing(actor):
            raise CatalogueActionDenied("This account may not ask for other departments' resources.")
        resource = DataResource.objects.select_related("provider").filter(code=resource_code).first()
        if resource is None:
            raise DataResourceNotFound(f"No data resource {resource_code}.")
        if resource.sharing_type == SharingType.NOT_SHARED:
            raise SharingRefused(
                f"This resource is not shared (不予共享): {resource.sharing_condition}",
                basis=resource.sharing_condition,
            )
        department = actor.department
        if department is None:
            raise CatalogueActionDenied("Only a department asks for other departments' resources.")
        errors = _conformance_errors(resource, actor, items, purpose, scenario, period_from, period_until)
        asked = list(dict.fromkeys(items or resource.item_names))
        clear = list(dict.fromkeys(clear_items or []))
        not_personal = [name for name in clear if name not in resource.personal_items or name not in asked]
        if not_personal:
            errors.append({"loc": ["clear_items"], "rule": "clear.personal",
                           "msg": f"not personal data items asked for: {', '.join(not_personal)}"})  # fmt: skip
        elif clear and resource.sharing_type != SharingType.CONDITIONAL:
            errors.append({"loc": ["clear_items"], "rule": "clear.conditional",
                           "msg": "Personal data in clear is shared only with conditions, on the provider's "
                                  "answer."})  # fmt: skip
        if errors:
            raise SharingRequestInvalid("The request does not pass the conformance check.", errors=errors)
        with transaction.atomic():
            request = SharingRequest.objects.create(
                number=_request_number(), resource=resource, requester=department, requested_by=actor,
                items=asked, clear_items=clear, purpose=purpose.strip(),
                scenario=scenario.strip(), period_from=period_from, period_until=period_until,
                submitted_at=timezone.now(),
            )  # fmt: skip
            audit_record(action="catalogue.sharing.submit", actor=_actor(actor),
                         target_type="catalogue.sharingrequest", target_id=request.number,
                         source_address=current_address(),
                         purpose=purpose[:100],
                         detail={"resource": resource.code, "items": request.items, "clear": clear})  # fmt: skip
            if resource.sharing_type == SharingType.UNCONDITIONAL:
                request = sharing.take("grant_at_once", sharing.Step(user=actor, request=request))
            else:
                request.deadline = working_days_add(city_today(), SHARING_ANSWER_DAYS)
                request = sharing.take("route_to_provider", sharing.Step(user=actor, request=request))
            return request


def _conformance_errors(
    resource: DataResource, actor: User, items: list[str], purpose: str, scenario: str, period_from: dt.date,
    period_until: dt.date,
) -> list[dict[str, Any]]:  # fmt: skip
    errors: list[dict[str, Any]] = []
    unknown = [name for name in items if name not in resource.item_names]
    if unknown:
        errors.append({"loc": ["items"], "rule": "items.declared", "msg": f"unknown data items: {', '.join(unknown)}"})
    if not purpose.strip():
        errors.append({"loc": ["purpose"], "rule": "required", "msg": "State the purpose."})
    if not scenario.strip():
        errors.append({"loc": ["scenario"], "rule": "required", "msg": "Describe the scenario of use."})
    if period_until < period_from or period_until < city_today():
        errors.append({"loc": ["period_until"], "rule": "period.order", "msg": "The period must end after it starts."})
    elif (period_until - period_from).days > MAX_GRANT_DAYS:
        errors.append({"loc": ["period_until"], "rule": "period.max", "msg": "At most three years."})
    if resource.provider_id == actor.department_id:
        errors.append({"loc": ["resource"], "rule": "resource.own", "msg": "A department reads its own resources."})
    return errors


def sharing_request_transition(
    *, number: str, name: str, actor: User, reason: str = "", items: list[str] | None = None,
    expires_on: dt.date | None = None, clear_items: list[str] | None = None,
) -> SharingRequest:  # fmt: skip
    """Take one transition of the sharing table (grant, refuse, withdraw, dispute, office_grant, office_uphold,
    revoke); the table decides who may and from which state."""
    with (
        _refusal_audited(f"catalogue.sharing.{name}" if re.fullmatch(r"[a-z_]+", name) else "catalogue.sharing.unknown",
                         actor, target_type="catalogue.sharingrequest", target_id=number),
        transaction.atomic(),
    ):  # fmt: skip
        request = (
            SharingRequest.objects.select_for_update(of=("self",))
            .select_related("resource__provider")
            .filter(number=number)
            .first()
        )
        if request is None:
            raise SharingRequestNotFound(f"No sharing request {number}.")
        if name in ("grant_at_once", "route_to_provider"):
            raise CatalogueActionDenied("The platform takes this step itself.")
        request = sharing.take(name, sharing.Step(user=actor, request=request, reason=reason, items=items,
                                                  clear_items=clear_items, expires_on=expires_on))  # fmt: skip
        audit_record(action=f"catalogue.sharing.{name}", actor=_actor(actor), target_type="catalogue.sharingrequest",
                     target_id=number, source_address=current_address(), detail={"state": request.state})  # fmt: skip
        return request


def sharing_overdue_escalate(*, today: dt.date | None = None) -> int:
    """Flag the requests whose answer is overdue and escalate them to the digital office (the job); returns how many
    were escalated now."""
    today = today or city_today()
    with transaction.atomic():
        overdue = list(
            SharingRequest.objects.select_for_update()
            .filter(state=SharingState.SUBMITTED, deadline__lt=today, escalated_at__isnull=True)
            .values_list("pk", "number")
        )
        if overdue:
            SharingRequest.objects.filter(pk__in=[pk for pk, _ in overdue]).update(escalated_at=timezone.now())
            for _, number in overdue:
                audit_record(action="catalogue.sharing.escalate", actor=Actor.system("sharing deadlines"),
                             target_type="catalogue.sharingrequest", target_id=number)  # fmt: skip
    return len(overdue)


# --- the exchange -----------------------------------------------------------------------------------------------------


def grant_in_force(*, consumer: Department | None, resource: DataResource, on: dt.date | None = None) -> SharingGrant:
    on = on or city_today()
    grants = list(
        SharingGrant.objects.filter(consumer=consumer, resource=resource, revoked_at__isnull=True)
        .select_related("request", "consumer")
        .order_by("-expires_on")[:1]
    )
    if not grants:
        raise GrantNotValid("Your department holds no grant for this resource.")
    grant = grants[0]
    if grant.expires_on < on:
        raise GrantNotValid(f"The grant expired on {grant.expires_on.isoformat()}.", expired_on=grant.expires_on)
    return grant


def _grant_for_read(
    *, consumer_id: int | None, resource_code: str, sent: Any = None
) -> tuple[SharingGrant, str | None]:
    """The grant in force of the consumer for a resource, with the resource, in one query on the way that succeeds
    (the refusals tell a missing resource from a missing or expired grant), and on PostgreSQL the fingerprint of the
    rows it was read from (`_GRANT_FINGERPRINT`, else None). `sent`: a cursor on which `_grant_latest_sql()` was
    already executed for them (in a pipeline, ahead of other statements)."""
    fingerprint: str | None = None
    if connection.vendor == "postgresql" and consumer_id is not None:
        grant, fingerprint = _grant_latest(consumer_id, resource_code, sent) or (None, None)
    else:
        grant = (
            SharingGrant.objects.filter(consumer_id=consumer_id, resource__code=resource_code, revoked_at__isnull=True)
            .select_related("request", "consumer", "resource__provider")
            .order_by("-expires_on")
            .first()
        )
    if grant is not None and grant.expires_on >= city_today():
        return grant, fingerprint
    resource = DataResource.objects.filter(code=resource_code).first()
    if resource is None:
        raise DataResourceNotFound(f"No data resource {resource_code}.")
    consumer = Department.objects.filter(pk=consumer_id).first() if consumer_id is not None else None
    return grant_in_force(consumer=consumer, resource=resource), None


_GRANT_REQUEST, _GRANT_CONSUMER = ("id", "number"), ("id", "name")
# Every value a call judges its grant by, as one text: the grant's row, its resource's row, the request's number and
# the consumer's name (the grant query's aliases). Read with the grant, and compared again by the page's own
# statement (`_grant_gate_sql`): any change to any of them since, and the page is not read on the strength of it.
_GRANT_FINGERPRINT = "encode(sha256(convert_to(ROW(g.*, r.*, q.number, d.name)::text, 'UTF8')), 'hex')"


@functools.cache
def _grant_latest_sql() -> str:
    """The statement of `_grant_latest`, written once from the models (the ORM's select_related query of the same
    rows cost more to compile, at every call, than to run)."""
    grants, resources = SharingGrant._meta, DataResource._meta
    requests, departments = SharingRequest._meta, Department._meta
    columns = [f"g.{f.column}" for f in grants.concrete_fields] + [f"r.{f.column}" for f in resources.concrete_fields]
    columns += [f"q.{f.column}" for f in requests.concrete_fields if f.name in _GRANT_REQUEST]
    columns += [f"d.{f.column}" for f in departments.concrete_fields if f.name in _GRANT_CONSUMER]
    columns.append(_GRANT_FINGERPRINT)
    return (
        f"SELECT {', '.join(columns)} FROM {grants.db_table} g JOIN {resources.db_table} r ON r.id = g.resource_id "  # noqa: S608 - the models' tables and columns
        f"JOIN {requests.db_table} q ON q.id = g.request_id JOIN {departments.db_table} d ON d.id = g.consumer_id "
        "WHERE g.consumer_id = %s AND r.code = %s AND g.revoked_at IS NULL ORDER BY g.expires_on DESC LIMIT 1"
    )


def _grant_latest(consumer_id: int, resource_code: str, sent: Any = None) -> tuple[SharingGrant, str] | None:
    """The latest unrevoked grant of the consumer for the resource of that code, with its resource, its request's
    number and its consumer's name, as the ORM's query with select_related gives them (other fields of the request
    and the consumer are read if asked for), and the fingerprint of those rows. `sent`: the cursor on which its
    statement was executed already."""
    if sent is not None:
        row = sent.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(_grant_latest_sql(), [consumer_id, resource_code])
            row = cursor.fetchone()
    if row is None:
        return None
    grant_fields = [f.name for f in SharingGrant._meta.concrete_fields]
    resource_fields = [f.name for f in DataResource._meta.concrete_fields]
    values = iter(row)
    grant: SharingGrant = model_from_row(SharingGrant, grant_fields, [next(values) for _ in grant_fields])
    resource = model_from_row(DataResource, resource_fields, [next(values) for _ in resource_fields])
    request = model_from_row(SharingRequest, _GRANT_REQUEST, [next(values) for _ in _GRANT_REQUEST])
    consumer = model_from_row(Department, _GRANT_CONSUMER, [next(values) for _ in _GRANT_CONSUMER])
    for name, related in (("resource", resource), ("request", request), ("consumer", consumer)):
        relation: Any = SharingGrant._meta.get_field(name)
        relation.set_cached_value(grant, related)
    return grant, str(next(values))


@functools.cache
def _grant_gate_sql() -> str:
    """True when the grant a call judged in Python (its id, for this consumer and resource code) is still, in the
    statement's own snapshot, the grant `_grant_for_read` would answer, unchanged: unrevoked, not expired on the
    given day, no other unrevoked grant of the consumer for the resource expiring as late or later, and every value
    it was judged by the same (`_GRANT_FINGERPRINT`). Parameters: grant id, consumer id, resource code, day,
    fingerprint."""
    grants, resources = SharingGrant._meta.db_table, DataResource._meta.db_table
    requests, departments = SharingRequest._meta.db_table, Department._meta.db_table
    return (
        f"EXISTS (SELECT FROM {grants} g JOIN {resources} r ON r.id = g.resource_id "  # noqa: S608 - the models' tables
        f"JOIN {requests} q ON q.id = g.request_id JOIN {departments} d ON d.id = g.consumer_id "
        "WHERE g.id = %s AND g.consumer_id = %s AND r.code = %s AND g.revoked_at IS NULL AND g.expires_on >= %s "
        f"AND {_GRANT_FINGERPRINT} = %s AND NOT EXISTS (SELECT FROM {grants} o WHERE o.consumer_id = g.consumer_id "
        "AND o.resource_id = g.resource_id AND o.revoked_at IS NULL AND o.id <> g.id AND o.expires_on >= g.expires_on))"
    )


# Grants this process answered a read of individual records with, by (consumer, resource code): the grant with its
# resource, request and consumer as read, and the fingerprint of those rows. A call that finds its grant here judges
# it in Python as any call does and has its page's one statement check that it is still that grant, unchanged
# (`_grant_gate_sql`); if not, nothing is read nor written and the call reads its grant anew. Never trusted alone.
_GRANTS_SEEN: dict[tuple[int, str], tuple[SharingGrant, str]] = {}
_GRANTS_SEEN_MOST = 256


class ExchangePage:
    """A page read through the exchange: its rows as dicts, or (uploaded rows on PostgreSQL) as the JSON array text
    the database built, decoded only when `rows` is asked for (the API sends `rows_json` as it is)."""

    def __init__(
        self, resource: DataResource, fields: list[str], rows: list[dict[str, Any]] | None, offset: int, limit: int,
        more: bool, *, rows_json: str | None = None, count: int = 0,
    ) -> None:  # fmt: skip
        self.resource, self.fields, self.offset, self.limit, self.more = resource, fields, offset, limit, more
        self._rows, self.rows_json = rows, rows_json
        self.count = len(rows) if rows is not None else count

    @property
    def rows(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = json.loads(self.rows_json) if self.rows_json else []
        return self._rows


def exchange_read(
    *, resource_code: str, fields: list[str] | None, purpose: str, offset: int, limit: int, user: User,
    kind: str = "query", as_json: bool = False,
) -> ExchangePage:  # fmt: skip
    """Exactly the rows and fields a department's grant allows; the read is an `ExchangeUse` and an audit record
    with its purpose. A grant expired or revoked, or a field it does not name: refused (GrantNotValid).

    `as_json`: the caller sends the page on as JSON text (the API). Uploaded rows on PostgreSQL may then come as the
    JSON array the database built, projected and masked (`ExchangePage.rows_json`); without it the page is read as
    stored and masked in Python, which costs a caller that wants the rows less than having PostgreSQL build the JSON
    and decoding it (bench/README.md, issue 17, fifth pass).

    Personal data items are masked unless the grant names them in clear. Rows of individual people (a resource
    backed by a registry's records) are read through that registry's audited selector, each person's read recorded
    with the purpose and the consuming department (on PostgreSQL one record a page, listing the persons: ADR 0004),
    which the person sees in "who read my data"."""
    action = f"catalogue.exchange.{kind}"
    with _refusal_audited(action, user, target_type="catalogue.dataresource", target_id=resource_code,
                          detail={"purpose": purpose[:100]}):  # fmt: skip
        if not purpose.strip():
            raise _invalid(SharingRequestInvalid, "purpose", "required", "State the purpose of this read.")
        postgresql = connection.vendor == "postgresql"
        if postgresql and not connection.in_atomic_block and user.department_id is not None:
            # Individual records under a grant this process has answered with: one statement, its own transaction,
            # gated on that grant being unchanged and still in force (else read as below).
            judged = _records_read_judged(resource_code=resource_code, fields=fields, purpose=purpose, offset=offset,
                                          limit=limit, user=user, kind=kind, action=action)  # fmt: skip
            if judged is not None:
                return judged
        # Its only writes record the read (settings.AUDIT_READ_COMMIT applies). On PostgreSQL the statements travel
        # in psycopg's pipeline mode (_pipelined): BEGIN, the grant's query and the page of uploaded rows, gated in
        # SQL by a grant in force, go in one round trip (the grant's answer first); the records of the read in a
        # second, the COMMIT in a third (the pipeline inside the transaction: outside it, psycopg would sync twice
        # more after the COMMIT, when Django restores autocommit and when the pipeline ends). The page of uploaded
        # rows is built by PostgreSQL as JSON, projected, its masked fields taken from the masked form each row keeps
        # since its upload (exchange_pages, ADR 0021); its SQL depends on the fields and the masking the grant gives,
        # so it goes ahead for the shape this consumer's last read of the resource had, and is used only if the grant
        # gives that shape again (else it is read after the grant's query). A code this process last saw backed by a
        # provider (platform data, a registry's records) has no uploaded rows: nothing is sent ahead for it
        # (exchange_pages.backed_guess).
        guess_key = (user.department_id, resource_code, tuple(fields) if fields else None)
        guess = exchange_pages.shape_guess(guess_key) if postgresql and as_json else None
        # The grant's statement and the page sent ahead keep their plans in the database session (ADR 0020): each is
        # PREPAREd once per session, here, before the pipeline opens, and each call EXECUTEs it with its values.
        grant_sent_sql: str | None = None
        ahead_sent: tuple[str, list[Any]] | None = None
        raw_sent = False
        if postgresql:
            if user.department_id is not None:
                grant_sent_sql = kept_plan(_grant_latest_sql(), 2)
            gate = [resource_code, user.department_id, city_today()]
            if guess is not None:  # the page built for the shape guessed, sent ahead of the grant's query
                sql, params = exchange_pages.page_sql(guess, exchange_pages.gated_resource(), gate, offset, limit)
                ahead_sent = kept_plan(sql, len(params)), params
            elif not exchange_pages.backed_guess(resource_code):
                # no shape known yet: the page as stored, sent ahead, then masked in Python
                ahead_sent = kept_plan(_uploaded_page_gated_sql(), 5), [*gate, offset, limit + 1]
                raw_sent = True
        with read_record_transaction(), _pipelined(), connection.cursor() as ahead, connection.cursor() as first:
            # The grant's query goes first and the page after it: its answer comes back while PostgreSQL still builds
            # the page, so the grant is checked and the records prepared in the meantime.
            grant_sent = None
            if grant_sent_sql is not None:
                grant_sent = first
                grant_sent.execute(grant_sent_sql, [user.department_id, resource_code])
            if ahead_sent is not None:
                ahead.execute(*ahead_sent)
            grant, fingerprint = _grant_for_read(consumer_id=user.department_id, resource_code=resource_code,
                                                 sent=grant_sent)  # fmt: skip
            resource = grant.resource
            exchange_pages.backed_remember(resource_code, bool(resource.backing))
            wanted = list(dict.fromkeys(fields)) if fields else list(grant.items)
            not_granted = [f for f in wanted if f not in grant.items]
            if not_granted:
                raise GrantNotValid(f"The grant does not name: {', '.join(not_granted)}.", fields=not_granted)
            personal = [f for f in wanted if f in resource.personal_items]
            clear = frozenset(f for f in personal if f in grant.clear_items)
            masked = [f for f in personal if f not in clear]
            provider = providers.provider_get(resource.backing) if resource.backing else None
            rows: list[dict[str, Any]] | None = None
            built: tuple[str | None, int, bool] | None = None
            recorded = False
            if provider is not None and provider.records is not None:
                rows, more = _records_read(grant=grant, provider=provider, user=user, purpose=purpose, wanted=wanted,
                                           personal=personal, clear=clear, kind=kind, action=action, offset=offset,
                                           limit=limit)  # fmt: skip
                recorded = True
                if postgresql and fingerprint is not None and user.department_id is not None:
                    if len(_GRANTS_SEEN) >= _GRANTS_SEEN_MOST:
                        _GRANTS_SEEN.clear()
                    _GRANTS_SEEN[(user.department_id, resource_code)] = (grant, fingerprint)
            else:
                shape = (tuple(wanted), frozenset(masked))
                if as_json and postgresql and not resource.backing and len(wanted) <= exchange_pages.MAX_FIELDS:
                    exchange_pages.shape_remember(guess_key, shape)
                    if guess is not None:
                        built = _uploaded_page_built(resource, shape, offset, limit, ahead if guess == shape else None)
                if built is None:  # rows decoded, projected and masked in Python
                    raw_ahead = raw_sent and not resource.backing
                    rows, more = _rows_page(resource, wanted, offset, limit, ahead if raw_ahead else None)
                    for row in rows if masked else ():
                        for name in masked:
                            row[name] = mask_by_shape(row.get(name))
                else:
                    more = built[1] > limit
            count = len(rows) if rows is not None else min(built[1] if built else 0, limit)
            if not recorded:
                _record_read(count, grant=grant, user=user, purpose=purpose, wanted=wanted, personal=personal,
                             clear=clear, kind=kind, action=action)  # fmt: skip
        if built is not None:
            return ExchangePage(resource, wanted, None, offset, limit, more, rows_json=built[0], count=count)
        return ExchangePage(resource, wanted, rows, offset, limit, more)


def _exchange_record(
    *, grant: SharingGrant, user: User, purpose: str, wanted: list[str], personal: list[str], clear: frozenset[str],
    action: str,
) -> dict[str, Any]:  # fmt: skip
    """The arguments of a read's own audit record, but for the number of rows read."""
    return {
        "action": action, "actor": _actor(user), "target_type": "catalogue.dataresource", "purpose": purpose[:100],
        "source_address": current_address(),
        "detail": {"fields": wanted, "grant": grant.request.number, "personal": personal, "clear": sorted(clear)},
    }  # fmt: skip


def _record_read(
    count: int, *, grant: SharingGrant, user: User, purpose: str, wanted: list[str], personal: list[str],
    clear: frozenset[str], kind: str, action: str,
) -> None:  # fmt: skip
    """The read's own records: its `ExchangeUse` and its audit record, with the number of rows read."""
    _use_record(grant=grant, client=_label(user), purpose=purpose[:200], rows=count, fields=wanted, kind=kind)
    record = _exchange_record(grant=grant, user=user, purpose=purpose, wanted=wanted, personal=personal, clear=clear,
                              action=action)  # fmt: skip
    audit_record_many(target_ids=[grant.resource.code], **{**record, "detail": {"rows": count, **record["detail"]}})


def _records_read(
    *, grant: SharingGrant, provider: providers.Provider, user: User, purpose: str, wanted: list[str],
    personal: list[str], clear: frozenset[str], kind: str, action: str, offset: int, limit: int,
    gate: PageGate | None = None,
) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
    """A page of individual records read from their registry with the read's own records (`_record_read`). A page
    the registry reads at once has them written with its own record: on PostgreSQL by the page's statement (ADR 0011,
    amended 2026-12-07), no statement of their own. `gate`: that statement's condition (`_records_read_judged`)."""
    assert provider.records is not None  # noqa: S101 - the caller's branch
    arguments: dict[str, Any] = {"grant": grant, "user": user, "purpose": purpose, "wanted": wanted,
                                 "personal": personal, "clear": clear, "kind": kind, "action": action}  # fmt: skip
    alongside = None
    if limit <= RECORDS_PAGE:
        alongside = PageAlongside(
            sql=[_use_record_sql(grant=grant, client=_label(user), purpose=purpose[:200], fields=wanted, kind=kind),
                 audit_record_counted_sql(target_id=grant.resource.code, count_key="rows",
                                          **_exchange_record(grant=grant, user=user, purpose=purpose, wanted=wanted,
                                                             personal=personal, clear=clear, action=action))],
            write=functools.partial(_record_read, **arguments),
        )  # fmt: skip
    gated = {"gate": gate} if gate is not None else {}
    rows: list[dict[str, Any]] = []
    more = True
    while more and len(rows) < limit:  # the registry's pages are at most RECORDS_PAGE (a bulk file)
        page, more = provider.records(
            actor=_actor(user), department=grant.consumer.name, grant=grant.request.number, purpose=purpose.strip(),
            fields=wanted, clear=clear, offset=offset + len(rows), limit=min(RECORDS_PAGE, limit - len(rows)),
            alongside=alongside, **gated,
        )  # fmt: skip
        rows.extend(page)
    if alongside is None:
        _record_read(len(rows), **arguments)
    return rows, more


def _records_read_judged(
    *, resource_code: str, fields: list[str] | None, purpose: str, offset: int, limit: int, user: User, kind: str,
    action: str,
) -> ExchangePage | None:  # fmt: skip
    """A page of individual records under the grant this process last answered the consumer's reads of the resource
    with (`_GRANTS_SEEN`), judged in Python exactly as `exchange_read` judges a grant it has just read, and read with
    all its records by one statement that is its own transaction, gated in SQL on that grant being, in the
    statement's snapshot, unchanged and still the grant in force (`_grant_gate_sql`). None, having read and written
    nothing, when no such grant is known, when this call would not be answered under it (a field it does not name, a
    page of more than one registry read), or when the gate is closed: the caller then reads the grant and decides, as
    for any call (the refusals are always decided there, on a grant read now)."""
    assert user.department_id is not None  # noqa: S101 - the caller's condition
    key = (user.department_id, resource_code)
    seen = _GRANTS_SEEN.get(key)
    if seen is None or limit > RECORDS_PAGE:
        return None
    grant, fingerprint = seen
    resource = grant.resource
    wanted = list(dict.fromkeys(fields)) if fields else list(grant.items)
    if any(f not in grant.items for f in wanted):
        return None
    provider = providers.provider_get(resource.backing)
    if provider is None or provider.records is None:
        return None
    personal = [f for f in wanted if f in resource.personal_items]
    clear = frozenset(f for f in personal if f in grant.clear_items)
    gate = PageGate(_grant_gate_sql(), [grant.pk, user.department_id, resource_code, city_today(), fingerprint])
    try:
        rows, more = _records_read(grant=grant, provider=provider, user=user, purpose=purpose, wanted=wanted,
                                   personal=personal, clear=clear, kind=kind, action=action, offset=offset,
                                   limit=limit, gate=gate)  # fmt: skip
    except PageGateClosed:
        _GRANTS_SEEN.pop(key, None)
        return None
    return ExchangePage(resource, wanted, rows, offset, limit, more)


@contextmanager
def _pipelined() -> Iterator[None]:
    """On PostgreSQL, psycopg's pipeline mode for the block: a statement whose result is not read (an INSERT without
    RETURNING, BEGIN, a savepoint) does not wait for its answer; a result read, and the end of the block, wait for
    all that went before. Errors surface at the latest at the end of the block, inside the caller's transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.connection.pipeline():
        yield


def _use_record(*, grant: SharingGrant, client: str, purpose: str, rows: int, fields: list[str], kind: str) -> None:
    """An `ExchangeUse`; on PostgreSQL inserted without reading its id back, so that in a pipeline it need not wait."""
    if connection.vendor != "postgresql":
        ExchangeUse.objects.create(grant=grant, at=timezone.now(), client=client, purpose=purpose, rows=rows,
                                   fields=fields, kind=kind)  # fmt: skip
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ExchangeUse._meta.db_table} (grant_id, at, client, purpose, rows, fields, kind) "  # noqa: S608 - the model's table
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
            [grant.pk, timezone.now(), client, purpose, rows, json.dumps(fields), kind],
        )


def _use_record_sql(
    *, grant: SharingGrant, client: str, purpose: str, fields: list[str], kind: str
) -> tuple[str, list[Any]]:
    """`_use_record`'s row as an ``INSERT … SELECT`` for a page of individual records (`PageAlongside`): the rows read
    taken from `page_read(n)` of the page's statement."""
    return (
        f"INSERT INTO {ExchangeUse._meta.db_table} (grant_id, at, client, purpose, rows, fields, kind) "  # noqa: S608 - the model's table
        "SELECT %s::integer, %s::timestamptz, %s, %s, n, %s::jsonb, %s FROM page_read",
        [grant.pk, timezone.now(), client, purpose, json.dumps(fields), kind],
    )


def _uploaded_page_built(
    resource: DataResource, shape: exchange_pages.Shape, offset: int, limit: int, ahead: Any
) -> tuple[str | None, int, bool] | None:
    """A page of uploaded rows built by PostgreSQL (exchange_pages): its JSON text, the rows read (limit + 1 when
    more follow), and True; None when a row of it lacks the kept masked form of a masked field (the caller reads the
    page again and masks it in Python). `ahead`: the cursor on which the page of this shape was sent ahead, gated by a
    grant in force; an empty answer there (past the end, or a grant made between the two statements) is read again."""
    answer = ahead.fetchone() if ahead is not None else None
    if answer is None or answer[0] is None:
        sql, params = exchange_pages.page_sql(shape, "%s", [resource.pk], offset, limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            answer = cursor.fetchone()
    text, read, exact = answer
    if not exact:
        return None
    return text, read, True


# A page of uploaded rows on PostgreSQL, by their row numbers (the unique index), as one JSON array (json_agg, cast
# to text): decoded by one call of the JSON decoder, not one a row (half the Python cost of a page of 1,000).
_UPLOADED_PAGE = (
    "SELECT json_agg(data ORDER BY row_number)::text FROM (SELECT data, row_number FROM "  # noqa: S608 - the model's table
    f"{ResourceRow._meta.db_table} WHERE resource_id = {{resource}} AND row_number > %s ORDER BY row_number LIMIT %s"
    ") AS page"
)


@functools.cache
def _uploaded_page_gated_sql() -> str:
    """_UPLOADED_PAGE of the resource of a code, gated by a grant in force (exchange_pages.gated_resource): five
    parameters, the code, the consumer, today, the offset and the rows."""
    return _UPLOADED_PAGE.format(resource=exchange_pages.gated_resource())


def _rows_page(
    resource: DataResource, wanted: list[str], offset: int, limit: int, ahead: Any = None
) -> tuple[list[dict[str, Any]], bool]:
    """One page of a resource's rows (uploaded rows read by their row number, a provider's rows skipped to the
    offset), the fields wanted only, and whether more follow. `ahead`: a cursor on which the page of uploaded rows
    as stored was sent ahead of the grant's query (`exchange_read`)."""
    if resource.backing:
        source: Iterable[dict[str, Any]] = providers.page_for(
            resource.backing, resource.backing_params, offset, limit + 1
        )
    elif connection.vendor == "postgresql":
        (page,) = ahead.fetchone() if ahead is not None else (None,)
        if page is None:  # not sent ahead; or past the end; or a grant made between the two statements: read again
            with connection.cursor() as cursor:
                cursor.execute(_UPLOADED_PAGE.format(resource="%s"), [resource.pk, offset, limit + 1])
                (page,) = cursor.fetchone()
        source = json.loads(page) if page is not None else []
    else:
        # Each row decoded by the default JSON decoder: the ORM's JSONField would build a decoder per row.
        table = ResourceRow._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT data FROM {table} WHERE resource_id = %s AND row_number > %s "  # noqa: S608 - the model's table
                "ORDER BY row_number LIMIT %s",
                [resource.pk, offset, limit + 1],
            )
            source = [json.loads(data) if isinstance(data, str | bytes) else data for (data,) in cursor.fetchall()]
    # Uploaded rows carry exactly the data items they were checked against: when those are the fields wanted, the
    # decoded rows are the answer as they are (a row uploaded under other items is projected).
    keys = frozenset(wanted)
    rows = [row if row.keys() == keys else {name: row.get(name) for name in wanted} for row in source]
    return rows[:limit], len(rows) > limit


# --- open data ----------------------------------------------------------------------------------------------------


Writer = User | DepartmentApiToken | Actor


def _writer_may_edit(writer: Writer, organization: Department) -> bool:
    if isinstance(writer, Actor):
        return writer.kind == "system"
    if isinstance(writer, DepartmentApiToken):
        return writer.department_id == organization.pk and writer.revoked_at is None
    return permissions.can_edit(writer, organization)


DATASET_FIELDS = ("title", "notes", "tags", "groups", "licence_id", "private", "update_cycle")


def _dataset_validate(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    if "title" in data or not partial:
        clean["title"] = str(data.get("title") or "").strip()
        if not clean["title"]:
            errors.append({"loc": ["title"], "rule": "required", "msg": "Missing value"})
    if "notes" in data:
        clean["notes"] = str(data.get("notes") or "").strip()
    if "tags" in data:
        tags = data.get("tags") or []
        names = (
            [str(t.get("name") if isinstance(t, dict) else t).strip() for t in tags] if isinstance(tags, list) else None
        )
        if names is None or any(not n or len(n) > 100 for n in names):
            errors.append({"loc": ["tags"], "rule": "tags.format", "msg": "Tags are a list of names."})
        else:
            clean["tags"] = list(dict.fromkeys(names))
    if "groups" in data:
        groups = data.get("groups") or []
        names = [str(g.get("name") if isinstance(g, dict) else g) for g in groups] if isinstance(groups, list) else []
        known = set(DatasetGroup.objects.filter(name__in=names).values_list("name", flat=True))
        if set(names) - known:
            errors.append({"loc": ["groups"], "rule": "groups.known", "msg": "Unknown group."})
        clean["groups"] = names
    if "licence_id" in data or "license_id" in data:
        clean["licence_id"] = str(data.get("license_id", data.get("licence_id")) or "")
        if clean["licence_id"] not in LICENCES:
            errors.append({"loc": ["license_id"], "rule": "licence.known", "msg": "Unknown licence."})
    if "private" in data:
        private = data["private"]
        clean["private"] = private if isinstance(private, bool) else str(private).lower() in ("true", "1")
    if "update_cycle" in data:
        try:
            clean["update_cycle"] = int(data["update_cycle"])
        except (TypeError, ValueError):
            clean["update_cycle"] = -1
        if clean["update_cycle"] not in UpdateCycle.values:
            errors.append({"loc": ["update_cycle"], "rule": "choice", "msg": "Unknown update cycle."})
    if errors:
        raise DatasetInvalid("The dataset breaks a rule.", errors=errors)
    return clean


def _apply(dataset: Dataset, clean: dict[str, Any]) -> None:
    for key, value in clean.items():
        if key == "tags":
            DatasetTag.objects.filter(dataset=dataset).exclude(name__in=value).delete()
            present = set(DatasetTag.objects.filter(dataset=dataset).values_list("name", flat=True))
            DatasetTag.objects.bulk_create(DatasetTag(dataset=dataset, name=n) for n in value if n not in present)
        elif key == "groups":
            dataset.groups.set(DatasetGroup.objects.filter(name__in=value))
        else:
            setattr(dataset, key, value)


def dataset_create(*, organization_code: str, name: str, data: dict[str, Any], actor: Writer) -> Dataset:
    """A draft dataset of a department; nobody outside it sees it until its data steward approves publication."""
    with _refusal_audited("catalogue.dataset.create", actor, target_type="catalogue.dataset", target_id=name):
        organization = Department.objects.filter(code__iexact=organization_code).first()
        if organization is None:
            raise _invalid(DatasetInvalid, "owner_org", "organization.known", "Organization does not exist")
        if not _writer_may_edit(actor, organization):
            raise CatalogueActionDenied("Not authorized to create datasets of this organization.")
        if not NAME_PATTERN.fullmatch(name or ""):
            raise _invalid(DatasetInvalid, "name", "name.format",
                           "Must be purely lowercase alphanumeric (ascii) characters and these symbols: -_",
                           )  # fmt: skip
        if Dataset.objects.filter(name=name).exists():
            raise _invalid(DatasetInvalid, "name", "name.unique", "That URL is already in use.")
        clean = _dataset_validate(data, partial=False)
        resource_code = str(data.get("data_resource") or "")
        with transaction.atomic():
            now = timezone.now()
            data_resource = DataResource.objects.filter(code=resource_code).first() if resource_code else None
            dataset = Dataset(
                name=name, organization=organization, metadata_created=now, metadata_modified=now,
                data_resource=data_resource,
            )  # fmt: skip
            _apply(dataset, {k: v for k, v in clean.items() if k not in ("tags", "groups")})
            dataset.save()
            _apply(dataset, {k: v for k, v in clean.items() if k in ("tags", "groups")})
            for resource in data.get("resources") or []:
                _resource_insert(dataset, resource)
            audit_record(action="catalogue.dataset.create", actor=_actor(actor), target_type="catalogue.dataset",
                         target_id=name, source_address=current_address())  # fmt: skip
            return dataset


def _dataset_locked(name_or_id: str) -> Dataset:
    qs = Dataset.objects.select_for_update(of=("self",)).select_related("organization")
    dataset = qs.filter(name=name_or_id).first()
    if dataset is None and re.fullmatch(r"[0-9a-fA-F-]{32,36}", name_or_id or ""):
        dataset = qs.filter(uuid=name_or_id).first()
    if dataset is None or dataset.state == DatasetState.DELETED:
        raise DatasetNotFound("Not found")
    return dataset


def dataset_update(*, name: str, changes: dict[str, Any], actor: Writer) -> Dataset:
    """Edit a dataset. A draft changes at once; a published dataset keeps its published state until the data
    steward approves the changes (held in `pending`)."""
    with (
        _refusal_audited("catalogue.dataset.update", actor, target_type="catalogue.dataset", target_id=name),
        transaction.atomic(),
    ):
        dataset = _dataset_locked(name)
        if not _writer_may_edit(actor, dataset.organization):
            raise (
                DatasetNotFound("Not found")
                if dataset.private or not dataset.listed
                else CatalogueActionDenied("Not authorized to edit this dataset.")
            )
        clean = _dataset_validate(changes, partial=True)
        if dataset.state == DatasetState.DRAFT:
            _apply(dataset, clean)
        else:
            dataset.pending = {**dataset.pending, **clean}
        dataset.metadata_modified = timezone.now()
        dataset.save()
        audit_record(action="catalogue.dataset.update", actor=_actor(actor), target_type="catalogue.dataset",
                     target_id=dataset.name, source_address=current_address(),
                     detail={"fields": sorted(clean)})  # fmt: skip
        return dataset


def _resource_insert(dataset: Dataset, data: dict[str, Any]) -> DatasetResource:
    fmt = str(data.get("format") or "").strip()
    match = {f.lower(): f for f in DATASET_FORMATS}.get(fmt.lower())
    errors = []
    if match is None:
        errors.append(
            {"loc": ["format"], "rule": "format.open", "msg": f"format must be one of {', '.join(DATASET_FORMATS)}"}
        )
    name = str(data.get("name") or "").strip()
    if not name:
        errors.append({"loc": ["name"], "rule": "required", "msg": "Missing value"})
    backing = str(data.get("backing") or "")
    url = str(data.get("url") or "")
    provider = providers.provider_get(backing) if backing else None
    if backing and provider is None:
        errors.append({"loc": ["backing"], "rule": "backing.known", "msg": "No such provider."})
    elif provider is not None and provider.records is not None:
        errors.append({"loc": ["backing"], "rule": "backing.records",
                       "msg": "Individual records of people are never opened; publish an aggregate."})  # fmt: skip
    elif provider is not None and any(column.personal for column in provider.columns):
        errors.append({"loc": ["backing"], "rule": "backing.personal",
                       "msg": "Rows with personal data are shared, never opened; publish an aggregate."})  # fmt: skip
    if url and not re.fullmatch(r"https?://\S{1,490}", url):
        errors.append({"loc": ["url"], "rule": "url.format", "msg": "Please provide a valid URL"})
    if errors:
        raise DatasetInvalid("The resource breaks a rule.", errors=errors)
    now = timezone.now()
    columns = providers.columns_for(backing) if backing else []
    position = dataset.resources.count()
    return DatasetResource.objects.create(
        dataset=dataset, position=position, name=name, description=str(data.get("description") or ""),
        format=match or "", backing=backing, backing_params=dict(data.get("backing_params") or {}), url=url,
        fields=[{"id": c.name, "type": c.type, "description": c.description} for c in columns],
        created=now, last_modified=now,
    )  # fmt: skip


def dataset_resource_add(*, dataset_name: str, data: dict[str, Any], actor: Writer) -> DatasetResource:
    with (
        _refusal_audited("catalogue.dataset.resource_add", actor, target_type="catalogue.dataset",
                         target_id=dataset_name),
        transaction.atomic(),
    ):  # fmt: skip
        dataset = _dataset_locked(dataset_name)
        if not _writer_may_edit(actor, dataset.organization):
            raise (
                DatasetNotFound("Not found")
                if not dataset.listed
                else CatalogueActionDenied("Not authorized to add resources to this dataset.")
            )
        resource = _resource_insert(dataset, data)
        dataset.metadata_modified = timezone.now()
        dataset.save(update_fields=["metadata_modified"])
        audit_record(action="catalogue.dataset.resource_add", actor=_actor(actor), target_type="catalogue.dataset",
                     target_id=dataset.name, source_address=current_address())  # fmt: skip
        return resource


def publication_request(*, name: str, actor: User) -> Dataset:
    """An editor asks the department's data steward to publish the dataset (or its pending changes)."""
    with (
        _refusal_audited("catalogue.dataset.publication_request", actor, target_type="catalogue.dataset",
                         target_id=name),
        transaction.atomic(),
    ):  # fmt: skip
        dataset = _dataset_locked(name)
        if not permissions.can_edit(actor, dataset.organization):
            raise CatalogueActionDenied("This account may not ask for this dataset's publication.")
        if not dataset.resources.exists():
            raise PublicationRefused("A dataset is published with at least one resource.")
        if dataset.state == DatasetState.ACTIVE and not dataset.pending and dataset.approval != Approval.RETURNED:
            raise PublicationRefused("Nothing to publish: the dataset has no changes since its last publication.")
        dataset.approval = Approval.PENDING
        dataset.approval_requested_by = actor.get_username()
        dataset.approval_note = ""
        dataset.save(update_fields=["approval", "approval_requested_by", "approval_note"])
        audit_record(action="catalogue.dataset.publication_request", actor=_actor(actor),
                     target_type="catalogue.dataset", target_id=dataset.name,
                     source_address=current_address())  # fmt: skip
        return dataset


def publication_return(*, name: str, actor: User, note: str) -> Dataset:
    with (
        _refusal_audited("catalogue.dataset.publication_return", actor, target_type="catalogue.dataset",
                         target_id=name),
        transaction.atomic(),
    ):  # fmt: skip
        dataset = _dataset_locked(name)
        if not permissions.can_steward(actor, dataset.organization):
            raise CatalogueActionDenied("Only the department's data steward answers a publication request.")
        if dataset.approval != Approval.PENDING:
            raise PublicationRefused("No publication request is waiting.")
        if not note.strip():
            raise _invalid(DatasetInvalid, "note", "required", "Say what to change.")
        dataset.approval = Approval.RETURNED
        dataset.approval_note = note.strip()
        dataset.save(update_fields=["approval", "approval_note"])
        audit_record(action="catalogue.dataset.publication_return", actor=_actor(actor),
                     target_type="catalogue.dataset", target_id=dataset.name,
                     source_address=current_address())  # fmt: skip
        return dataset


def publication_approve(*, name: str, actor: User) -> DatasetRevision:
    """The data steward publishes: the pending changes applied, the rows of every resource copied from their
    providers (aggregated and suppressed where derived from personal data), and a new immutable revision."""
    with (
        _refusal_audited("catalogue.dataset.publish", actor, target_type="catalogue.dataset", target_id=name),
        transaction.atomic(),
    ):  # fmt: skip
        dataset = _dataset_locked(name)
        if not permissions.can_steward(actor, dataset.organization):
            raise CatalogueActionDenied("Only the department's data steward publishes its datasets.")
        if dataset.approval != Approval.PENDING:
            raise PublicationRefused("Publication needs an editor's request first.")
        if dataset.approval_requested_by == actor.get_username():
            raise PublicationRefused("The data steward approves another person's request, not their own.")
        if dataset.pending:
            _apply(dataset, dataset.pending)
        number = dataset.revision + 1
        counts: dict[str, int] = {}
        personal = False
        for resource in dataset.resources.order_by("position"):
            if resource.backing:
                provider = providers.provider_get(resource.backing)
                personal = personal or bool(provider and provider.personal_derived)
                counts[str(resource.uuid)] = _rows_copy(resource, number)
        now = timezone.now()
        dataset.revision = number
        dataset.state = DatasetState.ACTIVE
        dataset.pending = {}
        dataset.approval = Approval.NONE
        dataset.personal_derived = personal
        dataset.metadata_modified = now
        dataset.save()
        from rongcheng.catalogue.selectors import package_snapshot

        revision = DatasetRevision.objects.create(
            dataset=dataset, number=number, snapshot=package_snapshot(dataset), published_at=now,
            requested_by=dataset.approval_requested_by or "", approved_by=actor.get_username(), row_counts=counts,
        )  # fmt: skip
        audit_record(action="catalogue.dataset.publish", actor=_actor(actor), target_type="catalogue.dataset",
                     target_id=dataset.name, source_address=current_address(), detail={"revision": number})  # fmt: skip
        return revision


def _rows_copy(resource: DatasetResource, revision: int) -> int:
    batch: list[DatastoreRow] = []
    count = 0
    for count, row in enumerate(providers.rows_for(resource.backing, resource.backing_params), start=1):
        batch.append(DatastoreRow(resource=resource, revision=revision, row_number=count, data=row))
        if len(batch) >= ROW_BATCH:
            DatastoreRow.objects.bulk_create(batch)
            batch = []
    if batch:
        DatastoreRow.objects.bulk_create(batch)
    resource.fields = [
        {"id": c.name, "type": c.type, "description": c.description} for c in providers.columns_for(resource.backing)
    ]
    resource.last_modified = timezone.now()
    resource.save(update_fields=["fields", "last_modified"])
    return count


def api_token_issue(*, department_code: str, name: str, actor: User | Actor) -> tuple[DepartmentApiToken, str]:
    """An API token for a department's system: returned once, kept only as its SHA-256 digest."""
    with _refusal_audited("catalogue.token.issue", actor, target_type="catalogue.departmentapitoken"):
        department = Department.objects.filter(code=department_code).first()
        if department is None:
            raise _invalid(DatasetInvalid, "department", "department.known", "No such department.")
        if not isinstance(actor, Actor) and not permissions.can_steward(actor, department):
            raise CatalogueActionDenied("Only the department's data steward issues its API tokens.")
        raw = "rc-ckan-" + secrets.token_urlsafe(32)
        with transaction.atomic():
            token = DepartmentApiToken.objects.create(
                department=department, name=name.strip()[:100] or "system", digest=_digest(raw), prefix=raw[8:16],
                created_by=_label(actor), created_at=timezone.now(),
            )  # fmt: skip
            audit_record(action="catalogue.token.issue", actor=_actor(actor),
                         target_type="catalogue.departmentapitoken",
                         target_id=token.prefix, source_address=current_address(),
                         detail={"department": department.code})  # fmt: skip
        return token, raw


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_authenticate(raw: str) -> DepartmentApiToken:
    """The department token presented, or ApiTokenInvalid (the refusal audited)."""
    token = (
        DepartmentApiToken.objects.select_related("department").filter(digest=_digest(raw.strip())).first()
        if raw.strip()
        else None
    )
    if token is None or token.revoked_at is not None:
        audit_record(action="catalogue.token.use", actor=Actor.anonymous(), outcome="denied",
                     target_type="catalogue.departmentapitoken", source_address=current_address(),
                     detail={"problem": "catalogue-token-invalid"})  # fmt: skip
        raise ApiTokenInvalid("The API token is unknown or revoked.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        DepartmentApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def data_request_submit(*, title: str, description: str, organization_code: str = "") -> DataRequest:
    """A request from the public for data (anonymous; the pages rate-limit it per address)."""
    errors = []
    if not title.strip() or len(title) > 200:
        errors.append({"loc": ["title"], "rule": "required", "msg": "A title of at most 200 characters."})
    if not description.strip() or len(description) > 4000:
        errors.append({"loc": ["description"], "rule": "required", "msg": "A description of at most 4000 characters."})
    organization = Department.objects.filter(code=organization_code).first() if organization_code else None
    if organization_code and organization is None:
        errors.append({"loc": ["organization"], "rule": "organization.known", "msg": "No such organization."})
    if errors:
        raise DatasetInvalid("The data request breaks a rule.", errors=errors)
    with transaction.atomic():
        request = DataRequest.objects.create(title=title.strip(), description=description.strip(),
                                             organization=organization, created_at=timezone.now())  # fmt: skip
        audit_record(action="catalogue.data_request.submit", actor=Actor.anonymous(),
                     target_type="catalogue.datarequest", target_id=request.pk,
                     source_address=current_address())  # fmt: skip
        return request


def group_ensure(*, name: str, title: str, description: str = "") -> DatasetGroup:
    """A theme (CKAN group), made once (seeding and the digital office)."""
    group, _ = DatasetGroup.objects.get_or_create(
        name=slugify(name) or name, defaults={"title": title, "description": description, "created": timezone.now()}
    )
    return group


def publication_request_by_system(*, name: str, requester: User | None) -> Dataset:
    """Seeding: the request made by a real editor when there is one, else by the platform itself (a data steward
    still approves it)."""
    if requester is not None:
        return publication_request(name=name, actor=requester)
    with transaction.atomic():
        dataset = _dataset_locked(name)
        dataset.approval = Approval.PENDING
        dataset.approval_requested_by = "system"
        dataset.save(update_fields=["approval", "approval_requested_by"])
        audit_record(action="catalogue.dataset.publication_request", actor=Actor.system("demo seed"),
                     target_type="catalogue.dataset", target_id=dataset.name)  # fmt: skip
        return dataset


def provider_columns(key: str) -> list[providers.Column]:
    """The data dictionary of a provider of platform data (for callers cataloguing a resource backed by it)."""
    return providers.columns_for(key)


def provider_title(key: str) -> str:
    provider = providers.provider_get(key)
    return provider.title if provider else key


def api_token_revoke(*, prefix: str, actor: User) -> DepartmentApiToken:
    """Revoke a department's API token at once (its data steward, or the digital office)."""
    with (
        _refusal_audited("catalogue.token.revoke", actor, target_type="catalogue.departmentapitoken", target_id=prefix),
        transaction.atomic(),
    ):
        token = (
            DepartmentApiToken.objects.select_for_update(of=("self",))
            .select_related("department")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
        if token is None or not permissions.can_steward(actor, token.department):
            raise CatalogueActionDenied("No such token of a department this account stewards.")
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="catalogue.token.revoke", actor=_actor(actor), target_type="catalogue.departmentapitoken",
                     target_id=prefix, source_address=current_address())  # fmt: skip
        return token
