"""Staff pages of the data catalogue at /catalogue/: the resources with search and facets, their metadata, versions
and uploads; sharing requests to answer, asked for and disputed; who used the department's data; the department's
open datasets and their publication. The same services and selectors as the APIs; a domain error comes back as a
message or, for a form, as its errors."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.catalogue import permissions, selectors, services
from rongcheng.catalogue.errors import DataResourceNotFound, SharingRequestNotFound
from rongcheng.catalogue.models import (
    Category,
    DataResource,
    Dataset,
    DatasetState,
    ItemType,
    OpenType,
    ResourceFormat,
    SharingMethod,
    SharingState,
    SharingType,
    UpdateCycle,
    item_note,
    item_title,
)
from rongcheng.catalogue.sharing import TRANSITIONS
from rongcheng.hall.selectors import city_today
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import DomainError

MAX_UPLOAD_BYTES = 20 * 2**20
FACETS = {
    "category": (gettext_lazy("资源分类"), dict(Category.choices)),
    "provider__code": (gettext_lazy("提供方"), None),
    "sharing_type": (gettext_lazy("共享类型"), dict(SharingType.choices)),
    "open_type": (gettext_lazy("开放类型"), dict(OpenType.choices)),
}
FILTER_NAMES = {"category": "category", "provider__code": "provider", "sharing_type": "sharing", "open_type": "open"}
FIELD_LABELS = {
    "name": gettext_lazy("资源名称"), "summary": gettext_lazy("资源摘要"), "category": gettext_lazy("资源分类"),
    "classification": gettext_lazy("分类码"), "items": gettext_lazy("信息项"), "format": gettext_lazy("资源格式"),
    "sharing_type": gettext_lazy("共享类型"), "sharing_condition": gettext_lazy("共享条件或不予共享依据"),
    "sharing_method": gettext_lazy("共享方式"), "open_type": gettext_lazy("开放类型"),
    "open_condition": gettext_lazy("开放条件或不开放理由"), "update_cycle": gettext_lazy("更新周期"),
    "file": gettext_lazy("文件"), "header": gettext_lazy("表头"), "row": gettext_lazy("整行"),
    "purpose": gettext_lazy("用途"), "scenario": gettext_lazy("应用场景"), "period_until": gettext_lazy("使用期限"),
    "resource": gettext_lazy("资源"), "reason": gettext_lazy("理由"), "expires_on": gettext_lazy("授权有效期"),
    "backing": gettext_lazy("数据来源"), "provider": gettext_lazy("提供方"),
}  # fmt: skip
STATE_LABELS = dict(SharingState.choices)
# The services write a version's note in their own words ("created", "upload FILE: N rows", "changed: a, b"); the page
# says them in its language. A note an editor typed is shown as typed.
_UPLOAD_NOTE = re.compile(r"^upload (?P<file>.+): (?P<rows>\d+) rows$")
_NOTE_FIELDS = {
    **FIELD_LABELS, "related_codes": gettext_lazy("关联资源"), "backing_params": gettext_lazy("数据来源参数"),
}  # fmt: skip


def _version_note(note: str) -> str:
    if note == "created":
        return _("编目")
    upload = _UPLOAD_NOTE.match(note)
    if upload is not None:
        return _("上传 %(file)s：%(rows)s 行") % {"file": upload["file"], "rows": upload["rows"]}
    fields = note.removeprefix("changed: ").split(", ") if note.startswith("changed: ") else []
    if fields and all(f in _NOTE_FIELDS for f in fields):
        return _("修改了：%(fields)s") % {"fields": _("、").join(str(_NOTE_FIELDS[f]) for f in fields)}
    return note


def _staff(request: HttpRequest) -> Any:
    user = request.user
    note_actor(user)
    if not permissions.can_view_catalogue(user):
        raise PermissionDenied
    return user


def _errors(exc: DomainError) -> list[tuple[str, str]]:
    """A domain error as (field label, message) lines for the summary at the top of a form."""
    if not exc.errors:
        return [("", _message(exc))]
    lines = []
    for error in exc.errors:
        loc = error.get("loc") or [""]
        label = FIELD_LABELS.get(str(loc[0]), str(loc[0]))
        row = error.get("row")
        lines.append((f"{_('第 %(row)s 行') % {'row': row} if row else ''} {label}".strip(), _rule_message(error)))
    return lines


RULE_MESSAGES = {
    "required": gettext_lazy("必须填写。"),
    "choice": gettext_lazy("请从列表中选择。"),
    "classification.format": gettext_lazy("分类码由项（2 位）、目（3 位）和可选的细目组成。"),
    "sharing.basis": gettext_lazy("有条件共享须写明条件，不予共享须写明法律或政策依据。"),
    "sharing.base": gettext_lazy("基础信息资源必须无条件共享。"),
    "open.reason": gettext_lazy("非无条件开放的资源须写明条件或理由。"),
    "item.name": gettext_lazy("每个信息项须有不重复的名称。"),
    "item.type": gettext_lazy("请为信息项选择数据类型。"),
    "header.items": gettext_lazy("表头必须与声明的信息项一致。"),
    "row.width": gettext_lazy("这一行的单元格数量与表头不一致。"),
    "type.integer": gettext_lazy("应为整数。"),
    "type.number": gettext_lazy("应为数值。"),
    "type.date": gettext_lazy("应为日期（如 2017-03-01）。"),
    "type.boolean": gettext_lazy("应为“是”或“否”。"),
    "file.format": gettext_lazy("请上传 CSV 或 XLSX 文件。"),
    "file.encoding": gettext_lazy("CSV 文件须为 UTF-8 编码。"),
    "file.xlsx": gettext_lazy("文件不是有效的 XLSX 工作簿。"),
    "rows.max": gettext_lazy("行数超过上限。"),
    "items.declared": gettext_lazy("申请了该资源没有的信息项。"),
    "period.order": gettext_lazy("使用期限须晚于开始日期和今天。"),
    "period.max": gettext_lazy("使用期限最长三年。"),
    "resource.own": gettext_lazy("本部门的资源无须申请。"),
    "items.subset": gettext_lazy("授权的信息项须在申请范围内。"),
    "date.future": gettext_lazy("有效期不能早于今天。"),
    "backing": gettext_lazy("该资源的数据来自平台，不能上传。"),
}


def _rule_message(error: dict[str, Any]) -> str:
    return str(RULE_MESSAGES.get(str(error.get("rule", "")), _("输入不符合要求，请检查后再试。")))


def _message(exc: DomainError) -> str:
    if exc.status == 403:
        return _("您的账户不能执行这个操作。")
    if exc.status == 404:
        return _("没有找到该记录。")
    if exc.type_slug == "sharing-refused":
        return _("该资源不予共享，申请未被受理。")
    if exc.type_slug == "sharing-transition-refused":
        return _("申请的状态已经变化，这个操作现在不能进行。")
    if exc.type_slug == "publication-refused":
        return _("现在不能发布：须由编目员提交申请，再由本部门的数据管理员（不能是提交人本人）审核。")
    return _("输入不符合要求，请检查后再试。")


# --- resources ------------------------------------------------------------------------------------------------------


@login_required
def resources(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    q = request.GET.get("q", "").strip()[:100]
    chosen = {field: request.GET.get(name, "") for field, name in FILTER_NAMES.items()}
    today = city_today()
    overdue_only = request.GET.get("overdue") == "1"
    qs = selectors.data_resources_search(
        q=q, category=chosen["category"], provider=chosen["provider__code"], sharing_type=chosen["sharing_type"],
        open_type=chosen["open_type"], overdue_on=today if overdue_only else None,
    )  # fmt: skip
    departments = {d.code: d.name for d, _n in selectors.organizations_with_counts()}
    facets = []
    for field, items in selectors.data_resource_facets(qs).items():
        label, names = FACETS[field]
        entries = []
        for value, n in items:
            query = {"q": q, **{FILTER_NAMES[k]: v for k, v in chosen.items() if v}}
            query[FILTER_NAMES[field]] = "" if chosen[field] == value else value
            entries.append({"label": (names or departments).get(value, value), "count": n,
                            "chosen": chosen[field] == value,
                            "url": "?" + urlencode({k: v for k, v in query.items() if v})})  # fmt: skip
        facets.append({"label": label, "items": entries})
    editable = [d for d in _departments() if permissions.can_edit(user, d)]
    kept = {"q": q, **{FILTER_NAMES[k]: v for k, v in chosen.items() if v}}
    overdue_toggle = "?" + urlencode({k: v for k, v in {**kept, "overdue": "" if overdue_only else "1"}.items() if v})
    return render(request, "catalogue/resources.html", {
        "q": q, "count": qs.count(), "facets": facets, "may_create": bool(editable),
        "rows": [{"resource": r, "update": selectors.update_status(r, today)} for r in qs[:200]],
        "overdue_count": selectors.data_resources_search(overdue_on=today).count(), "overdue_only": overdue_only,
        "overdue_toggle": overdue_toggle,
    })  # fmt: skip


def _departments() -> list[Any]:
    return [d for d, _n in selectors.organizations_with_counts()]


def _resource(cls: str, seq: str) -> DataResource:
    try:
        return selectors.data_resource_get(f"{cls}/{seq}")
    except DataResourceNotFound:
        raise Http404 from None


def _items_from_text(text: str) -> list[dict[str, Any]]:
    """Data items typed one a line: 名称|类型|说明|是否个人信息 (类型 a code of ItemType or its label)."""
    labels = {str(label): value for value, label in ItemType.choices}
    yes = {"是", "yes", "true", "1", "y", str(_("是")).casefold()}  # _items_as_text writes the page's own word
    items = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")] + ["", "", "", ""]
        items.append({"name": parts[0], "type": labels.get(parts[1], parts[1]), "description": parts[2],
                      "personal": parts[3].casefold() in yes})  # fmt: skip
    return items


def _items_as_text(items: list[dict[str, Any]]) -> str:
    labels = dict(ItemType.choices)
    return "\n".join(
        "|".join(
            [
                i["name"],
                str(labels.get(i["type"], i["type"])),
                i.get("description", ""),
                _("是") if i.get("personal") else _("否"),
            ]
        )
        for i in items
    )


def _form_data(request: HttpRequest) -> dict[str, Any]:
    data: dict[str, Any] = {k: request.POST.get(k, "") for k in (
        "name", "summary", "category", "classification", "format", "sharing_type", "sharing_condition",
        "sharing_method", "open_type", "open_condition", "update_cycle")}  # fmt: skip
    data["items"] = _items_from_text(request.POST.get("items", ""))
    return data


def _form_context(**extra: Any) -> dict[str, Any]:
    return {
        "categories": Category.choices, "formats": ResourceFormat.choices, "sharing_types": SharingType.choices,
        "sharing_methods": SharingMethod.choices, "open_types": OpenType.choices, "cycles": UpdateCycle.choices,
        "item_types": ItemType.choices, **extra,
    }  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def resource_new(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    departments = [d for d in _departments() if permissions.can_edit(user, d)]
    if not departments:
        raise PermissionDenied
    values: dict[str, Any] = {"provider": user.department.code if user.department else ""}
    if request.method == "POST":
        values = {**_form_data(request), "provider": request.POST.get("provider", ""),
                  "items_text": request.POST.get("items", "")}  # fmt: skip
        try:
            resource = services.data_resource_create(provider_code=values["provider"], data=values, actor=user)
        except DomainError as exc:
            return render(request, "catalogue/resource_form.html", _form_context(
                values=values, errors=_errors(exc), departments=departments, creating=True), status=422)  # fmt: skip
        messages.success(request, _("资源已编目，代码 %(code)s。") % {"code": resource.code})
        return HttpResponseRedirect(_detail_url(resource))
    return render(request, "catalogue/resource_form.html",
                  _form_context(values=values, errors=[], departments=departments, creating=True))  # fmt: skip


def _detail_url(resource: DataResource) -> str:
    cls, _sep, seq = resource.code.partition("/")
    return reverse("catalogue:resource", args=[cls, seq])


@login_required
@require_http_methods(["GET", "POST"])
def resource_edit(request: HttpRequest, cls: str, seq: str) -> HttpResponse:
    user = _staff(request)
    resource = _resource(cls, seq)
    if not permissions.can_edit(user, resource.provider):
        raise PermissionDenied
    values: dict[str, Any] = {
        **{k: getattr(resource, k) for k in ("name", "summary", "category", "format", "sharing_type",
                                              "sharing_condition", "sharing_method", "open_type", "open_condition",
                                              "update_cycle")},
        "classification": resource.classification[1:], "items_text": _items_as_text(resource.items),
    }  # fmt: skip
    if request.method == "POST":
        values = {**_form_data(request), "classification": resource.classification[1:],
                  "items_text": request.POST.get("items", "")}  # fmt: skip
        try:
            services.data_resource_update(code=resource.code, changes=values, actor=user)
        except DomainError as exc:
            return render(request, "catalogue/resource_form.html", _form_context(
                values=values, errors=_errors(exc), resource=resource), status=422)  # fmt: skip
        messages.success(request, _("资源已更新，旧版本已保留。"))
        return HttpResponseRedirect(_detail_url(resource))
    return render(request, "catalogue/resource_form.html", _form_context(values=values, errors=[], resource=resource))


@login_required
def resource_detail(request: HttpRequest, cls: str, seq: str, *, report: Any = None, status: int = 200) -> HttpResponse:
    user = _staff(request)
    resource = _resource(cls, seq)
    item_labels = dict(ItemType.choices)
    may_request = (
        permissions.can_request_sharing(user) and resource.provider_id != user.department_id
        and resource.sharing_type != SharingType.NOT_SHARED
    )  # fmt: skip
    versions = list(resource.versions.order_by("-version")[:50])
    authors = selectors.version_authors({v.changed_by for v in versions})
    return render(request, "catalogue/resource_detail.html", {
        "resource": resource, "versions": [
            {"version": v.version, "changed_at": v.changed_at, "changed_by": authors[v.changed_by],
             "note": _version_note(v.note)}
            for v in versions
        ],
        "items": [{**i, "title": item_title(i.get("description", ""), i["name"]),
                   "note": item_note(i.get("description", "")),
                   "type_label": item_labels.get(i["type"], i["type"])} for i in resource.items],
        "rows": resource.rows.count(), "cycle": dict(UpdateCycle.choices).get(resource.update_cycle, ""),
        "update": selectors.update_status(resource, city_today()),
        "may_edit": permissions.can_edit(user, resource.provider),
        "may_upload": permissions.can_edit(user, resource.provider) and not resource.backing,
        "may_request": may_request, "report": report,
    }, status=status)  # fmt: skip


@login_required
@require_POST
def resource_upload(request: HttpRequest, cls: str, seq: str) -> HttpResponse:
    user = _staff(request)
    resource = _resource(cls, seq)
    upload = request.FILES.get("file")
    if upload is None or (upload.size or 0) > MAX_UPLOAD_BYTES:
        messages.error(request, _("请选择不超过 20 MB 的 CSV 或 XLSX 文件。"))
        return HttpResponseRedirect(_detail_url(resource))
    try:
        result = services.resource_rows_upload(code=resource.code, file_name=upload.name or "", content=upload.read(),
                                               actor=user)  # fmt: skip
    except DomainError as exc:
        return resource_detail(request, cls, seq, report=_errors(exc), status=422)
    messages.success(request, _("已导入 %(rows)s 行。") % {"rows": result.rows})
    return HttpResponseRedirect(_detail_url(resource))


@login_required
@require_http_methods(["GET", "POST"])
def sharing_new(request: HttpRequest, cls: str, seq: str) -> HttpResponse:
    user = _staff(request)
    resource = _resource(cls, seq)
    if not permissions.can_request_sharing(user):
        raise PermissionDenied
    today = city_today()
    values: dict[str, Any] = {"items": resource.item_names, "period_from": today.isoformat(),
                              "period_until": (today + dt.timedelta(days=365)).isoformat()}  # fmt: skip
    if request.method == "POST":
        values = {"items": request.POST.getlist("items"), "clear_items": request.POST.getlist("clear_items"),
                  "purpose": request.POST.get("purpose", ""),
                  "scenario": request.POST.get("scenario", ""), "period_from": request.POST.get("period_from", ""),
                  "period_until": request.POST.get("period_until", "")}  # fmt: skip
        try:
            period_from = dt.date.fromisoformat(values["period_from"])
            period_until = dt.date.fromisoformat(values["period_until"])
        except ValueError:
            errors = [(str(FIELD_LABELS["period_until"]), _("请填写有效的日期。"))]
        else:
            try:
                request_row = services.sharing_request_submit(
                    resource_code=resource.code, items=values["items"], clear_items=values["clear_items"],
                    purpose=values["purpose"],
                    scenario=values["scenario"], period_from=period_from, period_until=period_until, actor=user,
                )  # fmt: skip
            except DomainError as exc:
                errors = _errors(exc)
            else:
                if request_row.state == SharingState.GRANTED:
                    messages.success(
                        request, _("申请 %(number)s 已通过符合性检查并即时授权。") % {"number": request_row.number}
                    )
                else:
                    messages.success(request, _("申请 %(number)s 已提交提供方，答复期限 %(deadline)s。") % {
                        "number": request_row.number, "deadline": request_row.deadline})  # fmt: skip
                return HttpResponseRedirect(reverse("catalogue:sharing-detail", args=[request_row.number]))
        return render(request, "catalogue/sharing_form.html",
                      {"resource": resource, "values": values, "errors": errors}, status=422)  # fmt: skip
    return render(request, "catalogue/sharing_form.html", {"resource": resource, "values": values, "errors": []})


# --- sharing --------------------------------------------------------------------------------------------------------


def _rows(qs: Any, today: dt.date) -> list[dict[str, Any]]:
    return [{"request": r, "state": STATE_LABELS.get(r.state, r.state), "overdue": selectors.is_overdue(r, today)}
            for r in qs[:200]]  # fmt: skip


@login_required
def sharing(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    today = city_today()
    department = user.department
    to_answer = selectors.sharing_requests_for_provider(department) if department and permissions.can_steward(
        user, department) else None  # fmt: skip
    return render(request, "catalogue/sharing.html", {
        "to_answer": _rows(to_answer, today) if to_answer is not None else None,
        "asked": _rows(selectors.sharing_requests_of(department), today) if department else [],
        "disputes": _rows(selectors.sharing_requests_disputed(), today) if permissions.is_office(user) else None,
        "usage": selectors.usage_for_provider(department) if department and permissions.can_steward(
            user, department) else None,
        "grants": list(selectors.grants_of(department)) if department else [],
        "today": today,
    })  # fmt: skip


def _visible_request(user: Any, number: str) -> Any:
    try:
        request_row = selectors.sharing_request_get(number)
    except SharingRequestNotFound:
        raise Http404 from None
    if not (
        request_row.requester_id == user.department_id
        or permissions.can_steward(user, request_row.resource.provider)
        or permissions.is_office(user)
    ):
        raise Http404
    return request_row


@login_required
def sharing_detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _staff(request)
    request_row = _visible_request(user, number)
    grant = getattr(request_row, "grant", None) if request_row.state in (SharingState.GRANTED,
                                                                        SharingState.REVOKED) else None  # fmt: skip
    actions = []
    for transition in TRANSITIONS.allowed_from(request_row.state):
        if transition.who == "system":
            continue
        allowed = {
            "provider": permissions.can_steward(user, request_row.resource.provider),
            "requester": request_row.requester_id == user.department_id and permissions.can_request_sharing(user),
            "office": permissions.is_office(user),
            "provider_or_office": permissions.can_steward(user, request_row.resource.provider)
            or permissions.is_office(user),
        }[transition.who]
        if allowed:
            actions.append(transition)
    return render(request, "catalogue/sharing_detail.html", {
        "request_row": request_row, "state": STATE_LABELS.get(request_row.state, request_row.state),
        "overdue": selectors.is_overdue(request_row, city_today()), "grant": grant, "actions": actions,
    })  # fmt: skip


@login_required
@require_POST
def sharing_transition(request: HttpRequest, number: str, name: str) -> HttpResponse:
    user = _staff(request)
    _visible_request(user, number)
    items = request.POST.getlist("items") or None
    # The clear items are those ticked; none ticked on a form that offered them means none in clear.
    clear_items = request.POST.getlist("clear_items") if request.POST.get("clear_answered") else None
    expires = request.POST.get("expires_on", "")
    try:
        services.sharing_request_transition(
            number=number, name=name, actor=user, reason=request.POST.get("reason", ""), items=items,
            clear_items=clear_items, expires_on=dt.date.fromisoformat(expires) if expires else None,
        )  # fmt: skip
    except ValueError:
        messages.error(request, _("请填写有效的日期。"))
    except DomainError as exc:
        for label, message in _errors(exc):
            messages.error(request, f"{label} {message}".strip())
    else:
        messages.success(request, _("已办理。"))
    return HttpResponseRedirect(reverse("catalogue:sharing-detail", args=[number]))


# --- the department's open datasets -----------------------------------------------------------------------------------


@login_required
def datasets(request: HttpRequest) -> HttpResponse:
    user = _staff(request)
    own = [d for d in _departments() if permissions.can_edit(user, d) or permissions.can_steward(user, d)]
    rows = []
    for dataset in Dataset.objects.filter(organization__in=own).exclude(state=DatasetState.DELETED).select_related(
        "organization"
    ).order_by("organization__code", "name")[:500]:  # fmt: skip
        rows.append({
            "dataset": dataset, "state": dataset.get_state_display(),
            # no review asked for: a dash, not the word 无 ("None" in English, read as a missing value)
            "approval": dataset.get_approval_display() if dataset.approval else "—",
            "may_request": permissions.can_edit(user, dataset.organization) and dataset.approval != "pending",
            "may_approve": permissions.can_steward(user, dataset.organization) and dataset.approval == "pending"
            and dataset.approval_requested_by != user.get_username(),
        })  # fmt: skip
    return render(request, "catalogue/datasets.html", {
        "rows": rows, "data_requests": selectors.data_requests_for(user, own),
    })  # fmt: skip


@login_required
@require_POST
def dataset_publication(request: HttpRequest, name: str, step: str) -> HttpResponse:
    user = _staff(request)
    try:
        if step == "request":
            services.publication_request(name=name, actor=user)
            messages.success(request, _("已提交本部门的数据管理员审核。"))
        elif step == "approve":
            revision = services.publication_approve(name=name, actor=user)
            messages.success(request, _("已发布第 %(number)s 版。") % {"number": revision.number})
        elif step == "return":
            services.publication_return(name=name, actor=user, note=request.POST.get("note", ""))
            messages.success(request, _("已退回编目员。"))
        else:
            raise Http404
    except DomainError as exc:
        messages.error(request, _message(exc))
    return HttpResponseRedirect(reverse("catalogue:datasets"))


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The department's API tokens for the CKAN Action API: issued (shown once) and revoked by its data steward."""
    user = _staff(request)
    department = user.department
    if department is None or not permissions.can_steward(user, department):
        raise PermissionDenied
    issued = ""
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                services.api_token_revoke(prefix=request.POST["revoke"], actor=user)
                messages.success(request, _("令牌已撤销。"))
            else:
                _token, issued = services.api_token_issue(
                    department_code=department.code, name=request.POST.get("name", ""), actor=user
                )
        except DomainError as exc:
            messages.error(request, _message(exc))
    rows = selectors.api_tokens_of(department)
    return render(request, "catalogue/tokens.html", {"rows": rows, "issued": issued, "department": department})


@login_required
def statistics(request: HttpRequest) -> HttpResponse:
    """The catalogue's figures per department, for every member of staff who uses the catalogue."""
    _staff(request)
    today = city_today()
    lines = selectors.catalogue_statistics(today)
    totals = {name: sum(getattr(line, name) for line in lines) for name in (
        "resources", "overdue", "datasets", "requests_received", "requests_made", "granted", "answered",
        "answered_on_time", "unanswered_late", "calls", "rows_read")}  # fmt: skip
    totals["on_time_percent"] = (
        round(100 * totals["answered_on_time"] / totals["answered"]) if totals["answered"] else None
    )
    return render(request, "catalogue/statistics.html", {"lines": lines, "totals": totals, "today": today})


urlpatterns = [
    path("", resources, name="resources"),
    path("new/", resource_new, name="resource-new"),
    path("r/<str:cls>/<str:seq>/", resource_detail, name="resource"),
    path("r/<str:cls>/<str:seq>/edit/", resource_edit, name="resource-edit"),
    path("r/<str:cls>/<str:seq>/upload/", resource_upload, name="resource-upload"),
    path("r/<str:cls>/<str:seq>/request/", sharing_new, name="sharing-new"),
    path("statistics/", statistics, name="statistics"),
    path("sharing/", sharing, name="sharing"),
    path("sharing/<str:number>/", sharing_detail, name="sharing-detail"),
    path("sharing/<str:number>/<str:name>/", sharing_transition, name="sharing-transition"),
    path("datasets/", datasets, name="datasets"),
    path("tokens/", tokens, name="tokens"),
    path("datasets/<slug:name>/<str:step>/", dataset_publication, name="dataset-publication"),
]
