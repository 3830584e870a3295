"""Pages of public credit: the public search and subject pages, a subject's own record (repair, reports), the report
verification page (the QR code's target), the reporting department's intake and problem queue, the credit office's
lists, repairs and feedback, batch screening and statistics. The same services and selectors as the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.credit import selectors, services
from rongcheng.credit.models import ListType, Memorandum, RecordKind, RecordStatus, SubjectKind
from rongcheng.credit.permissions import is_credit_office, may_report, may_review_repairs, may_screen
from rongcheng.hall.selectors import city_today
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import DomainError, NotFound
from rongcheng.kernel.ratelimit import rate_limit_request

KIND_LABELS = dict(RecordKind.choices)
LIST_LABELS = dict(ListType.choices)
MAX_UPLOAD = 10 * 2**20
RULE_MESSAGES = {
    "decided_on.future": gettext_lazy("决定日期晚于今天：决定作出前不能公示。"),
    "source_reference.unique": gettext_lazy("该文书号已经报送过。"),
    "reason.required": gettext_lazy("请填写理由。"),
}


FIELD_LABELS = {
    "kind": gettext_lazy("信息类别"), "subject_kind": gettext_lazy("行政相对人类别"),
    "subject_name": gettext_lazy("行政相对人名称"), "subject_code": gettext_lazy("统一社会信用代码或身份证号"),
    "legal_representative": gettext_lazy("法定代表人"), "legal_representative_id": gettext_lazy("法定代表人身份证号"),
    "document_name": gettext_lazy("决定文书名称"), "document_number": gettext_lazy("决定文书号"),
    "category": gettext_lazy("许可类别或处罚类别"), "content": gettext_lazy("许可内容或处罚内容"),
    "violation_facts": gettext_lazy("违法事实"), "basis": gettext_lazy("处罚依据"),
    "fine_amount": gettext_lazy("罚款金额（万元）"), "licence_name": gettext_lazy("许可证书名称"),
    "licence_number": gettext_lazy("许可编号"), "decided_on": gettext_lazy("决定日期"),
    "valid_from": gettext_lazy("有效期自"), "valid_until": gettext_lazy("有效期至"),
    "public_until": gettext_lazy("公示截止期"), "authority_code": gettext_lazy("决定机关"),
    "source_reference": gettext_lazy("决定文书号"), "list_name": gettext_lazy("名单名称"),
    "legal_basis": gettext_lazy("认定依据"), "memorandum": gettext_lazy("备忘录"),
    "listed_on": gettext_lazy("列入日期"), "removed_on": gettext_lazy("移出日期"),
    "department": gettext_lazy("认定部门编码"), "file": gettext_lazy("CSV 文件"),
    "statement": gettext_lazy("修复理由"), "materials": gettext_lazy("材料"), "reason": gettext_lazy("理由"),
}  # fmt: skip


def field_label(field: Any) -> str:
    return str(FIELD_LABELS.get(str(field), gettext_lazy("其他字段")))


def _error_text(error: dict[str, Any]) -> str:
    rule = str(RULE_TEXTS.get(error.get("rule", ""), RULE_TEXTS["default"]))
    return f"{field_label((error.get('loc') or [''])[-1])}：{rule}"


def problem_rows(problems: list[Any]) -> list[dict[str, Any]]:
    """Problem rows with each broken rule named in the reader's language (the field and the rule's sentence)."""
    return [{"problem": p, "texts": [_error_text(e) for e in p.errors]} for p in problems]


def _user(request: HttpRequest) -> Any:
    user = request.user
    note_actor(user)
    return user


RULE_TEXTS = {
    "field.required": gettext_lazy("必填"), "date.format": gettext_lazy("日期格式应为 YYYY-MM-DD"),
    "decided_on.future": gettext_lazy("决定日期晚于今天"), "source_reference.unique": gettext_lazy("已经报送过"),
    "amount.range": gettext_lazy("金额超出范围"), "amount.format": gettext_lazy("金额格式不正确"),
    "amount.precision": gettext_lazy("金额最多6位小数"), "category.choice": gettext_lazy("类别不在规定范围内"),
    "default": gettext_lazy("不符合要求（代码、校验位或格式）"),
}  # fmt: skip


def _message(exc: DomainError) -> str:
    rules = [e.get("rule", "") for e in exc.errors]
    for rule in rules:
        if rule in RULE_MESSAGES:
            return str(RULE_MESSAGES[rule])
    if exc.errors:
        fields = _("、").join(sorted({field_label(e["loc"][-1]) for e in exc.errors if e.get("loc")}))
        return _("输入不符合要求，请检查这些字段：%(fields)s。") % {"fields": fields}
    if exc.status == 403:
        return _("您的账户不能执行这个操作。")
    if exc.status == 404:
        return _("没有找到这条信息。")
    if exc.status == 409:
        return _("状态已经变化，这个操作现在不能进行。")
    return _("操作没有完成，请稍后再试。")


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str, back: str) -> HttpResponse:
    try:
        action()
    except DomainError as exc:
        messages.error(request, _message(exc))
        return HttpResponseRedirect(back)
    if success:
        messages.success(request, success)
    return HttpResponseRedirect(back)


def qr_svg(url: str) -> SafeString:
    svg = segno.make(url, error="m").svg_inline(scale=3, title=escape(url), svgclass="qr", lineclass="qr-line")
    return mark_safe(svg)  # noqa: S308 - segno's own SVG with an escaped title


# ── public ──────────────────────────────────────────────────────────────────────────────────────────────────────


@require_http_methods(["GET", "HEAD"])
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:120]
    hits = []
    if query:
        rate_limit_request("credit.query", request)
        hits = selectors.subjects_search(query)
    return render(request, "credit/search.html", {"query": query, "hits": hits, "kinds": dict(SubjectKind.choices)})


@require_http_methods(["GET", "HEAD"])
def subject(request: HttpRequest, pk: int) -> HttpResponse:
    rate_limit_request("credit.query", request)
    try:
        page = selectors.subject_public(pk)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    return render(request, "credit/subject.html", {"page": page, "kinds": KIND_LABELS, "lists": LIST_LABELS})


@require_http_methods(["GET", "HEAD"])
def report(request: HttpRequest, number: str) -> HttpResponse:
    rate_limit_request("credit.query", request)
    verification = selectors.report_verify(number)
    if verification.report is None:
        raise Http404("no such report")
    url = request.build_absolute_uri(reverse("credit:report", args=[verification.report.number]))
    return render(
        request, "credit/report.html",
        {"report": verification.report, "content": verification.report.content, "authentic": verification.authentic,
         "qr": qr_svg(url), "url": url, "kinds": KIND_LABELS, "lists": LIST_LABELS},
    )  # fmt: skip


# ── the subject signed in ──────────────────────────────────────────────────────────────────────────────────────


@login_required
@require_http_methods(["GET", "HEAD"])
def mine(request: HttpRequest) -> HttpResponse:
    own = selectors.subject_own(_user(request))
    return render(request, "credit/mine.html", {"own": own, "kinds": KIND_LABELS, "lists": LIST_LABELS,
                                                "today": city_today()})  # fmt: skip


@login_required
@require_POST
def repair_request(request: HttpRequest, record_id: int) -> HttpResponse:
    user = _user(request)
    return _attempt(
        request,
        lambda: services.repair_request(user=user, record_id=record_id, statement=request.POST.get("statement", ""),
                                        materials=request.POST.get("materials", "")),
        _("信用修复申请已提交，信用办将在10个工作日内审核。"),
        reverse("credit:mine"),
    )  # fmt: skip


@login_required
@require_POST
def report_request(request: HttpRequest, subject_id: int) -> HttpResponse:
    user = _user(request)
    try:
        made = services.report_generate(user=user, subject_id=subject_id)
    except DomainError as exc:
        messages.error(request, _message(exc))
        return HttpResponseRedirect(reverse("credit:mine"))
    return HttpResponseRedirect(reverse("credit:report", args=[made.number]))


# ── reporting departments ──────────────────────────────────────────────────────────────────────────────────────


FORM_FIELDS = (
    "kind", "subject_kind", "subject_name", "subject_code", "legal_representative", "legal_representative_id",
    "document_name", "document_number", "category", "content", "licence_name", "licence_number", "violation_type",
    "violation_facts", "basis", "fine_amount", "confiscated_amount", "decided_on", "valid_from", "valid_until",
    "public_until", "authority_code", "status", "note", "rating", "court",
)  # fmt: skip


def _reporter(request: HttpRequest) -> Any:
    user = _user(request)
    if not may_report(user, getattr(user, "department_id", None)):
        raise PermissionDenied
    return user


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def department(request: HttpRequest) -> HttpResponse:
    user = _reporter(request)
    back = reverse("credit:department")
    if request.method == "POST":
        data = {name: request.POST.get(name, "") for name in FORM_FIELDS if request.POST.get(name, "") != ""}
        return _attempt(request, lambda: services.record_report(user=user, data=data, intake="form"),
                        _("已报送，今日公示。"), back)  # fmt: skip
    return render(
        request, "credit/department.html",
        {"problems": problem_rows(selectors.problems_of_department(user)), "late": selectors.late_records(user),
         "kinds": RecordKind.choices, "statuses": RecordStatus.choices, "subject_kinds": SubjectKind.choices,
         "fields": FORM_FIELDS},
    )  # fmt: skip


@login_required
@require_POST
def department_file(request: HttpRequest) -> HttpResponse:
    user = _reporter(request)
    back = reverse("credit:department")
    upload = request.FILES.get("file")
    if upload is None or upload.size is None or upload.size > MAX_UPLOAD:
        messages.error(request, _("请选择不超过 10 MB 的 CSV 文件。"))
        return HttpResponseRedirect(back)
    try:
        outcome = services.records_report_file(user=user, content=upload.read(), file_name=upload.name or "")
    except DomainError as exc:
        messages.error(request, _message(exc))
        return HttpResponseRedirect(back)
    messages.success(request, _("已接收 %(accepted)s 条，%(refused)s 条问题数据已退回。") % {
        "accepted": outcome.accepted, "refused": outcome.refused})  # fmt: skip
    return HttpResponseRedirect(back)


@login_required
@require_POST
def problem_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    user = _reporter(request)
    return _attempt(request, lambda: services.problem_resolve(user=user, problem_id=pk), _("已标记为已处理。"),
                    reverse("credit:department"))  # fmt: skip


@login_required
@require_http_methods(["GET", "HEAD"])
def statistics(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not (is_credit_office(user) or may_report(user, getattr(user, "department_id", None))):
        raise PermissionDenied
    return render(request, "credit/statistics.html", {"figures": selectors.department_statistics(user)})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def screening(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not may_screen(user):
        raise PermissionDenied
    rows: list[Any] = []
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None or upload.size is None or upload.size > MAX_UPLOAD:
            messages.error(request, _("请选择不超过 10 MB 的 CSV 文件。"))
            return HttpResponseRedirect(reverse("credit:screening"))
        try:
            rows = services.screening_run(user=user, content=upload.read())
        except DomainError as exc:
            messages.error(request, _message(exc))
            return HttpResponseRedirect(reverse("credit:screening"))
    outcomes = {"red": _("红名单"), "black": _("黑名单"), "both": _("红名单和黑名单"), "none": _("未列入"),
                "invalid": _("代码无效")}  # fmt: skip
    return render(request, "credit/screening.html", {"rows": rows, "outcomes": outcomes})


# ── the credit office ──────────────────────────────────────────────────────────────────────────────────────────


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def office(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not is_credit_office(user):
        raise PermissionDenied
    back = reverse("credit:office")
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "add":
            fields = ("list_type", "list_name", "subject_kind", "subject_code", "subject_name", "department",
                      "legal_basis", "memorandum", "reason", "listed_on")  # fmt: skip
            data = {name: request.POST.get(name, "") for name in fields}
            try:
                entry = services.list_entry_add(user=user, data=data)
            except DomainError as exc:
                messages.error(request, _message(exc))
                return HttpResponseRedirect(back)
            rescreen = getattr(entry, "rescreen", [])
            listed = _("已列入名单。该主体有 %(count)s 件在办申请，正在重新核查，承办人员将看到新的名单情况。")
            messages.success(request, listed % {"count": len(rescreen)})
            return HttpResponseRedirect(back)
        if action == "remove":
            try:
                removed_on = dt.date.fromisoformat(request.POST.get("removed_on", ""))
            except ValueError:
                messages.error(request, _("日期格式应为 YYYY-MM-DD。"))
                return HttpResponseRedirect(back)
            return _attempt(
                request,
                lambda: services.list_entry_remove(user=user, number=request.POST.get("number", ""),
                                                   removed_on=removed_on, reason=request.POST.get("reason", "")),
                _("已移出名单。"), back,
            )  # fmt: skip
        messages.error(request, _("未知操作。"))
        return HttpResponseRedirect(back)
    return render(
        request, "credit/office.html",
        {"entries": selectors.list_entries(user), "memoranda": Memorandum.objects.prefetch_related("measures"),
         "repairs": selectors.repairs_for_review(user) if may_review_repairs(user) else [],
         "feedback": selectors.joint_measure_feedback(user), "lists": LIST_LABELS, "kinds": KIND_LABELS,
         "list_types": ListType.choices, "subject_kinds": SubjectKind.choices},
    )  # fmt: skip


@login_required
@require_POST
def repair_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    return _attempt(
        request,
        lambda: services.repair_decide(user=user, request_id=pk, transition=request.POST.get("transition", ""),
                                       reason=request.POST.get("reason", "")),
        _("已作出审核决定。"), reverse("credit:office"),
    )  # fmt: skip


urlpatterns: list[URLPattern] = [
    path("", search, name="search"),
    path("subjects/<int:pk>/", subject, name="subject"),
    path("reports/<str:number>/", report, name="report"),
    path("mine/", mine, name="mine"),
    path("mine/records/<int:record_id>/repair/", repair_request, name="repair-request"),
    path("mine/subjects/<int:subject_id>/report/", report_request, name="report-request"),
    path("department/", department, name="department"),
    path("department/file/", department_file, name="department-file"),
    path("department/problems/<int:pk>/resolve/", problem_resolve, name="problem-resolve"),
    path("statistics/", statistics, name="statistics"),
    path("screening/", screening, name="screening"),
    path("office/", office, name="office"),
    path("office/repairs/<int:pk>/", repair_decide, name="repair-decide"),
]
