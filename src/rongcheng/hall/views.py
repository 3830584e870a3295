"""Pages of the online service hall: the public catalogue, the applicant's applications, the officers' workbench and
the holiday calendar. The same services and selectors as the API; a domain error comes back as a message.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.hall import selectors, services
from rongcheng.hall.catalogue import REGISTRY_FIELDS
from rongcheng.hall.errors import (
    AssuranceTooLow,
    DraftQuotaReached,
    RepresentationInactive,
    TransitionGuardFailed,
    UploadQuotaExceeded,
)
from rongcheng.hall.models import ApplicantKind, Application, CalendarDay, DayKind, ServiceItem, ServiceKind, State
from rongcheng.hall.permissions import CALENDAR_PERMISSION, assurance_step_up, is_applicant, is_officer, may_act
from rongcheng.hall.workflow import TRANSITIONS, transitions_from
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.kernel import pagecache
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from rongcheng.kernel.errors import PermissionDenied as DomainPermissionDenied
from rongcheng.kernel.ratelimit import rate_limit_request, rate_limited
from rongcheng.licences.models import LicenceType
from rongcheng.registries.models import LegalEntity

STATE_LABELS = dict(State.choices)
KIND_LABELS = dict(ServiceKind.choices)
# The cached catalogue cards are keyed on a digest of what they show, so they never outlive a change; this only bounds
# how long an old version occupies the cache.
CATALOGUE_CACHE_SECONDS = 3600
SOURCE_LABELS = {
    "licence": gettext_lazy("电子证照"),
    "registry": gettext_lazy("基础数据库"),
    "upload": gettext_lazy("上传材料"),
}
REGISTRY_LABEL = gettext_lazy("人口基础信息库")


def _user(request: HttpRequest) -> Any:
    user = request.user
    note_actor(user)
    return user


CJK = re.compile(r"[\u3400-\u9fff]")
RULE_MESSAGES = {
    "material.required": gettext_lazy("请先提供所有必需的材料。"),
    "upload.empty": gettext_lazy("文件为空，请重新选择。"),
    "upload.size": gettext_lazy("文件过大，超过了本材料允许的大小。"),
    "upload.format": gettext_lazy("文件格式不符合本材料的要求。"),
    "upload.extension": gettext_lazy("文件扩展名与文件内容不符。"),
    "reason.required": gettext_lazy("请填写理由。"),
    "countersign.departments": gettext_lazy("请填写一个或多个其他部门的编码。"),
    "applicant_kind.entity": gettext_lazy("该事项由企业申请：请选择您代表的企业。"),
    "applicant_kind.person": gettext_lazy("该事项只能由个人申请。"),
    "check.unrecorded": gettext_lazy("请先逐项记录联合奖惩措施的执行情况。"),
}

# Rules whose message the service writes with gettext and fills with names from the city's data: on an English page
# the sentence is English around a Chinese name, and is shown as it is rather than replaced by a vaguer one.
SERVICE_SENTENCES = frozenset({"licence.one_valid"})


def page_message(exc: DomainError) -> str:
    """A domain error as a sentence in the reader's language: the service's own message when it is already one
    (written with gettext), else the sentence for the broken rule or for the kind of error, never the English detail
    meant for API callers."""
    if CJK.search(exc.detail) and get_language() != "en":
        return exc.detail
    if any(error.get("rule") in SERVICE_SENTENCES for error in exc.errors):
        return exc.detail  # translated by the service, with a name from the city's data (居住证) that stays Chinese
    if get_language() == "en" and not CJK.search(exc.detail):
        return exc.detail
    names = [e.get("msg") or e["loc"][-1] for e in exc.errors if e.get("rule") == "material.required" and e.get("loc")]
    if names and isinstance(exc, TransitionGuardFailed):
        return _("请先提供以下材料：%(materials)s。") % {"materials": _("、").join(str(n) for n in names)}
    unpaid = [str(e.get("msg", "")) for e in exc.errors if e.get("rule") == "fee.unpaid"]
    if unpaid and unpaid[0].isdigit():  # the guard names the bill's payment code
        return _("申请人尚未缴纳本事项的费用（缴款码 %(code)s），缴费后才能办结。") % {"code": unpaid[0]}
    if unpaid:
        return _("申请人尚未缴纳本事项的费用，缴费后才能办结。")
    for error in exc.errors:
        if error.get("rule") in RULE_MESSAGES:
            return str(RULE_MESSAGES[error["rule"]])
    if isinstance(exc, RepresentationInactive):
        return _("您的账户已不再代表该企业，无法办理该企业的申请。")
    if isinstance(exc, DomainPermissionDenied):
        return _("您的账户不能执行这个操作。")
    if isinstance(exc, Conflict):
        return _("办件的状态已经变化，这个操作现在不能进行。请刷新页面后再试。")
    if isinstance(exc, ValidationFailed):
        return _("输入不符合要求，请检查后再试。")
    return _("操作没有完成，请稍后再试。")


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str, back: str) -> HttpResponse:
    """Run a service; a domain error becomes a message on the page the form came from."""
    try:
        action()
    except AssuranceTooLow as exc:
        messages.info(request, _("该事项要求更高的实名认证等级，请先提升认证等级。"))
        return HttpResponseRedirect(assurance_step_up(int(exc.extra["required_level"]), back))
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except DraftQuotaReached as exc:
        messages.error(request, _("您已有%(quota)s份该事项未提交的草稿，请在“我的办件”中继续办理。") % exc.extra)
        return HttpResponseRedirect(back)
    except UploadQuotaExceeded as exc:
        quota = {"megabytes": int(exc.extra["quota"]) // 2**20}
        messages.error(request, _("本申请上传的材料合计不能超过 %(megabytes)s MB。") % quota)
        return HttpResponseRedirect(back)
    except DomainError as exc:
        messages.error(request, page_message(exc))
        return HttpResponseRedirect(back)
    if success:
        messages.success(request, success)
    return HttpResponseRedirect(back)


# ── public catalogue ──────────────────────────────────────────────────────────────────────────────────────────────


@require_http_methods(["GET", "HEAD"])
def catalogue(request: HttpRequest) -> HttpResponse:
    """The public catalogue. Unfiltered, its cards are a cached fragment keyed on the catalogue's stamp (one aggregate
    query), so a view loads and renders the services only after one of them changed; a search renders afresh."""
    query = request.GET.get("q", "").strip()[:50]
    department = request.GET.get("department", "")[:32]

    def rows() -> list[dict[str, Any]]:
        items = selectors.service_items_search(query=query, department=department)
        return [{"item": item, "kind": KIND_LABELS.get(item.kind, item.kind)} for item in items]

    stamp = "" if query or department else selectors.service_catalogue_stamp()

    def page(extra: dict[str, str]) -> HttpResponse:
        return render(
            request,
            "hall/catalogue.html",
            {"rows": SimpleLazyObject(rows), "query": query, "stamp": stamp, "cache_seconds": CATALOGUE_CACHE_SECONDS,
             **extra},
        )  # fmt: skip

    if stamp and pagecache.cacheable(request):  # anonymous: the whole page is kept until a service changes
        return pagecache.anonymous_page(request, stamp, page)
    return page({})


@require_http_methods(["GET", "HEAD"])
def service_detail(request: HttpRequest, code: str) -> HttpResponse:
    try:
        item = selectors.service_item_get(code=code)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    names = licence_type_names([item.issues_licence_type, *[m.get("licence_type", "") for m in item.materials]])
    materials = [
        {**spec, "source_label": SOURCE_LABELS.get(spec["source"], spec["source"]),
         "field_labels": [REGISTRY_FIELDS[f][0] for f in spec.get("fields", [])],
         "licence_type_name": names.get(spec.get("licence_type", ""), "")}
        for spec in item.materials
    ]  # fmt: skip
    return render(
        request, "hall/service_detail.html",
        {"item": item, "kind": KIND_LABELS.get(item.kind, item.kind), "materials": materials,
         "result_name": names.get(item.issues_licence_type, ""),
         "can_apply": is_applicant(request.user), "entities": _represented(request.user, item)},
    )  # fmt: skip


def _represented(user: Any, item: ServiceItem) -> list[LegalEntity]:
    """The legal entities the account may apply for (active representations), for a service open to entities."""
    if item.applicant_kind == ApplicantKind.PERSON or not is_applicant(user):
        return []
    return [r.legal_entity for r in representation_list_for_user(user=user) if r.user_id == user.pk]


@login_required
@require_POST
@rate_limited("hall.draft")
def apply(request: HttpRequest, code: str) -> HttpResponse:
    started: list[Application] = []

    def start() -> None:
        credit_code = str(request.POST.get("legal_entity", ""))[:40]
        started.append(
            services.application_continue_or_start(user=_user(request), service_code=code, credit_code=credit_code)
        )

    response = _attempt(request, start, "", reverse("hall:service", args=[code]))
    if started:
        return HttpResponseRedirect(reverse("hall:application", args=[started[0].pk]))
    return response


# ── the applicant's applications ──────────────────────────────────────────────────────────────────────────────────


@login_required
@require_http_methods(["GET", "HEAD"])
def my_applications(request: HttpRequest) -> HttpResponse:
    page = selectors.applications_of_applicant(user=request.user, cursor=request.GET.get("cursor") or None)
    rows = [{"application": a, "state": STATE_LABELS.get(a.state, a.state)} for a in page.items]
    inbox = selectors.messages_of(user=request.user, limit=10)
    return render(request, "hall/my_applications.html", {"rows": rows, "next_cursor": page.next_cursor, "inbox": inbox})


def licence_type_names(codes: list[str]) -> dict[str, str]:
    """The names of licence types by code, to show a person the name (居住证), never the code."""
    return dict(LicenceType.objects.filter(code__in=[c for c in codes if c]).values_list("code", "name"))


def display_value(value: Any) -> str:
    """A material's value as a person reads it: 是/否 for a truth value, nothing shown as "—"."""
    if isinstance(value, bool) or value in ("True", "False"):
        return str(_("是") if value in (True, "True") else _("否"))
    if value is None or value in ("", "None"):
        return "—"
    return str(value)


# Values that are a word of the platform's vocabulary (stored in Chinese, as licences write them), shown in the
# reader's language; every other value (names, addresses, numbers) is shown as written.
WORDS_OF_THE_PLATFORM = frozenset({"person.sex"})


def _material_rows(application: Application) -> list[dict[str, Any]]:
    """Each material with its values for people: the value's name and value, and where it came from by name (the
    population registry, an electronic licence), never the internal source key."""
    provided = {m.code: m for m in application.provided.all()}
    rows = []
    for spec in application.service.materials:
        material = provided.get(spec["code"])
        values = [
            {"label": _(str(v.get("label", key))),
             "value": _(str(v["value"])) if key in WORDS_OF_THE_PLATFORM else display_value(v.get("value")),
             "source": REGISTRY_LABEL if str(v.get("source", "")).startswith("registries:") else ""}
            for key, v in (material.values.items() if material else ())
            if isinstance(v, dict)
        ]  # fmt: skip
        rows.append({"spec": spec, "source_label": SOURCE_LABELS.get(spec["source"], spec["source"]),
                     "provided": material, "values": values})  # fmt: skip
    return rows


def _timeline(application: Application) -> list[dict[str, Any]]:
    labels = {name: t.label for name, t in TRANSITIONS.items()}
    labels.update(start=_("创建草稿"), countersign=_("会签意见"), escalate_near=_("临近期限预警"),
                  escalate_overdue=_("超期督办"), check_record=_("记录联合奖惩措施"),
                  check_refresh=_("信用名单变化，重新核查"), fee_paid=_("缴纳费用"))  # fmt: skip
    return [{"event": e, "label": labels.get(e.transition, e.transition)} for e in application.events.all()]


@login_required
@require_http_methods(["GET", "HEAD"])
def application_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        application = selectors.application_for_applicant(user=request.user, application_id=pk)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    editable = application.state in (State.DRAFT, State.CORRECTION)
    rated = getattr(application, "rating", None) if application.state == State.CONCLUDED else None
    return render(
        request, "hall/application_detail.html",
        {"application": application, "state": STATE_LABELS.get(application.state, application.state),
         "materials": _material_rows(application), "timeline": _timeline(application), "editable": editable,
         "remedy": _(services.REMEDY) if application.state in (State.REFUSED, State.CONCLUDED)
         and application.decision_reason and not application.issued_licence else "",
         "can_rate": application.state == State.CONCLUDED and rated is None, "rating": rated,
         "levels": [5, 4, 3, 2, 1]},
    )  # fmt: skip


@login_required
@require_POST
def application_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    user = _user(request)
    back = reverse("hall:application", args=[pk])
    post = request.POST
    statement = post.get("statement", "")

    def prefill() -> Any:
        return services.application_prefill(
            user=user, application_id=pk, authorize_licences=post.get("authorize") == "on"
        )

    def save() -> Any:
        return services.application_save(user=user, application_id=pk, statement=statement)

    def submit() -> Any:
        with transaction.atomic():
            save()
            return services.application_submit(user=user, application_id=pk)

    def resubmit() -> Any:
        return services.application_resubmit(user=user, application_id=pk, statement=statement)

    def rate() -> Any:
        level = int(post.get("level") or 0)
        return services.application_rate(user=user, application_id=pk, level=level, comment=post.get("comment", ""))

    actions: dict[str, tuple[Callable[[], Any], str]] = {
        "prefill": (prefill, _("已从电子证照和基础数据库填入材料。")),
        "save": (save, _("草稿已保存。")),
        "submit": (submit, _("申请已提交。")),
        "resubmit": (resubmit, _("补正材料已提交。")),
        "rate": (rate, _("感谢您的评价。")),
    }
    if action == "upload":
        rate_limit_request("hall.upload", request)
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("请选择要上传的文件。"))
            return HttpResponseRedirect(back)
        if upload.size and upload.size > 20 * 1024 * 1024:
            messages.error(request, _("文件过大。"))
            return HttpResponseRedirect(back)
        return _attempt(
            request,
            lambda: services.application_upload(
                user=user,
                application_id=pk,
                material_code=post.get("material", ""),
                file_name=upload.name or "",
                content=upload.read(),
            ),
            _("材料已上传。"),
            back,
        )
    if action == "discard":
        response = _attempt(
            request, lambda: services.application_draft_discard(user=user, application_id=pk), _("草稿已删除。"), back
        )
        if not Application.objects.filter(pk=pk).exists():
            return HttpResponseRedirect(reverse("hall:my-applications"))
        return response
    if action not in actions:
        raise Http404("unknown action")
    if action == "rate" and not (post.get("level") or "").isdigit():
        messages.error(request, _("请选择评价等级。"))
        return HttpResponseRedirect(back)
    call, success = actions[action]
    return _attempt(request, call, success, back)


# ── the officers' workbench ───────────────────────────────────────────────────────────────────────────────────────


def _officer(request: HttpRequest) -> Any:
    if not is_officer(request.user):
        raise PermissionDenied
    return _user(request)


@login_required
@require_http_methods(["GET", "HEAD"])
def workbench(request: HttpRequest) -> HttpResponse:
    user = _officer(request)
    scope, state = request.GET.get("scope", "todo"), request.GET.get("state", "")
    service, overdue = request.GET.get("service", "")[:40], request.GET.get("overdue") == "1"
    filters = {"scope": scope, "state": state, "service": service, "overdue": overdue}
    try:
        page = selectors.workbench_queue(
            user=user, scope=scope, state=state, service=service, overdue=overdue,
            cursor=request.GET.get("cursor") or None,
        )  # fmt: skip
    except DomainError as exc:
        messages.error(request, page_message(exc))
        return HttpResponseRedirect(reverse("hall:workbench"))
    rows = [{"application": a, "state": STATE_LABELS.get(a.state, a.state)} for a in page.items]
    query = request.GET.copy()
    if page.next_cursor:
        query["cursor"] = page.next_cursor
    return render(
        request, "hall/workbench.html",
        {"rows": rows, "filters": filters, "states": State.choices, "next_query": query.urlencode()
         if page.next_cursor else "", "follow_ups": selectors.follow_ups_open(user=user),
         "scopes": [("todo", _("待我处理")),
                    ("department", _("本部门办件")), ("intake", _("待受理（含全城通办）")), ("window", _("本窗口受理")),
                    ("countersign", _("待会签"))]},
    )  # fmt: skip


@login_required
@require_http_methods(["GET", "HEAD"])
def workbench_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    try:
        application = selectors.application_for_officer(user=user, application_id=pk)
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    # Only the buttons this officer may press now: the predicate the transition service enforces.
    actions = [t for t in transitions_from(application.state, "officer")
               if may_act(user, application, any_window=t.any_window)]  # fmt: skip
    pending = [c for c in selectors.countersigns_pending(application=application)
               if c.department_id == user.department_id]  # fmt: skip
    checks = services.application_checks(user=user, application_id=pk) if actions else []
    return render(
        request, "hall/workbench_detail.html",
        {"application": application, "state": STATE_LABELS.get(application.state, application.state),
         "materials": _material_rows(application), "timeline": _timeline(application), "actions": actions,
         "countersign_pending": bool(pending), "checks": checks,
         "checks_open": any(c.recorded_at is None for c in checks)},
    )  # fmt: skip


@login_required
@require_POST
def workbench_check_record(request: HttpRequest, pk: int, check_id: int) -> HttpResponse:
    user = _officer(request)
    applied = request.POST.get("applied", "")
    back = reverse("hall:workbench-detail", args=[pk])
    if applied not in ("1", "0"):
        messages.error(request, _("请选择是否执行该措施。"))
        return HttpResponseRedirect(back)
    return _attempt(
        request,
        lambda: services.application_check_record(
            user=user, application_id=pk, check_id=check_id, applied=applied == "1",
            reason=request.POST.get("reason", ""),
        ),
        _("已记录。"),
        back,
    )  # fmt: skip


@login_required
@require_POST
def workbench_transition(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    name = request.POST.get("transition", "")
    back = reverse("hall:workbench-detail", args=[pk])
    if name in TRANSITIONS and TRANSITIONS[name].role != "officer":
        messages.error(request, _("该操作不能由工作人员执行。"))
        return HttpResponseRedirect(back)
    departments = [d.strip() for d in request.POST.get("departments", "").replace("，", ",").split(",") if d.strip()]
    return _attempt(
        request,
        lambda: services.application_transition(
            user=user,
            application_id=pk,
            transition=name,
            reason=request.POST.get("reason", ""),
            departments=departments,
        ),
        _("操作已完成。"),
        back,
    )


@login_required
@require_POST
def workbench_countersign(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    return _attempt(
        request,
        lambda: services.countersign_answer(
            user=user,
            application_id=pk,
            agree=request.POST.get("agree") == "1",
            opinion=request.POST.get("opinion", ""),
        ),
        _("会签意见已提交。"),
        reverse("hall:workbench"),
    )


@login_required
@require_POST
def follow_up_answer(request: HttpRequest, pk: int) -> HttpResponse:
    user = _officer(request)
    return _attempt(
        request,
        lambda: services.follow_up_answer(user=user, follow_up_id=pk, answer=request.POST.get("answer", "")),
        _("回复已发送。"),
        reverse("hall:workbench"),
    )


# ── the holiday calendar ──────────────────────────────────────────────────────────────────────────────────────────


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def calendar(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(CALENDAR_PERMISSION):
        raise PermissionDenied
    year_text = request.GET.get("year", "")
    year = int(year_text) if year_text.isdigit() and 2000 <= int(year_text) <= 2100 else dt.date.today().year
    back = f"{reverse('hall:calendar')}?year={year}"
    if request.method == "POST":
        try:
            day = dt.date.fromisoformat(request.POST.get("date", ""))
        except ValueError:
            messages.error(request, _("日期格式应为 YYYY-MM-DD。"))
            return HttpResponseRedirect(back)
        user = _user(request)
        if request.POST.get("remove"):
            return _attempt(request, lambda: services.calendar_day_remove(user=user, date=day), _("已删除。"), back)
        return _attempt(
            request,
            lambda: services.calendar_day_set(
                user=user, date=day, kind=request.POST.get("kind", ""), name=request.POST.get("name", "")
            ),
            _("已保存。"),
            back,
        )
    days = CalendarDay.objects.filter(date__year=year).order_by("date")
    return render(
        request, "hall/calendar.html",
        {"days": days, "year": year, "kinds": DayKind.choices, "previous": year - 1, "next": year + 1},
    )  # fmt: skip


urlpatterns: list[URLPattern] = [
    path("", catalogue, name="catalogue"),
    path("services/<str:code>/", service_detail, name="service"),
    path("services/<str:code>/apply/", apply, name="apply"),
    path("applications/", my_applications, name="my-applications"),
    path("applications/<int:pk>/", application_detail, name="application"),
    path("applications/<int:pk>/<str:action>/", application_action, name="application-action"),
    path("workbench/", workbench, name="workbench"),
    path("workbench/<int:pk>/", workbench_detail, name="workbench-detail"),
    path("workbench/<int:pk>/transition/", workbench_transition, name="workbench-transition"),
    path("workbench/<int:pk>/checks/<int:check_id>/", workbench_check_record, name="workbench-check-record"),
    path("workbench/<int:pk>/countersign/", workbench_countersign, name="workbench-countersign"),
    path("workbench/follow-ups/<int:pk>/answer/", follow_up_answer, name="follow-up-answer"),
    path("calendar/", calendar, name="calendar"),
]
