"""Pages of city cases: a resident's report and their reports, the grid worker's phone pages, the hotline's intake,
the command centre's queues, the units' queue, a case with its timeline, the monthly bulletin and the Open311 keys.
The same services and selectors as the API; a domain error comes back as a message in the reader's language.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.cases import permissions as perms
from rongcheng.cases import selectors, services
from rongcheng.cases.errors import CaseDenied
from rongcheng.cases.models import Case, CasePhoto, Channel, HotlineKind, RequestKind, State, Theme, UnitRole, Urgency
from rongcheng.cases.photos import MAX_BYTES, MAX_PHOTOS, photo_root
from rongcheng.cases.statistics import GROUPS, Row, hot_spots, indicators, month_bounds
from rongcheng.cases.workflow import TRANSITIONS, transitions_for
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed
from rongcheng.kernel.errors import PermissionDenied as DomainPermissionDenied
from rongcheng.kernel.ratelimit import rate_limited

STATE_LABELS = dict(State.choices)
CHANNEL_LABELS = dict(Channel.choices)
QUEUE_LABELS = {
    "register": gettext_lazy("待立案"),
    "dispatch": gettext_lazy("待派遣"),
    "overdue": gettext_lazy("已超期"),
    "disputed": gettext_lazy("退单待仲裁"),
    "requests": gettext_lazy("延期/缓办申请"),
    "verified": gettext_lazy("待结案"),
}
GROUP_LABELS = {
    "unit": gettext_lazy("责任单位"),
    "street": gettext_lazy("街道"),
    "district": gettext_lazy("区县"),
    "cell": gettext_lazy("单元网格"),
}
SLUG_MESSAGES = {
    "cases-outside-city": gettext_lazy("这个位置不在本市网格范围内，请在地图上重新选择。"),
    "cases-category-unknown": gettext_lazy("请选择问题类别。"),
    "cases-photo-invalid": gettext_lazy("照片必须是 JPEG、PNG 或 WebP 图片，每张不超过 8 MB，最多 6 张。"),
    "cases-transition-not-allowed": gettext_lazy("案卷的状态已经变化，这个操作现在不能进行。请刷新页面后再试。"),
}
RULE_MESSAGES = {
    "required": gettext_lazy("请填写所有必填项（问题描述、理由）。"),
    "evidence.photos": gettext_lazy("处置反馈需要上传处置后的照片。"),
    "rating.range": gettext_lazy("请选择 1 到 5 星的评价。"),
    "location.number": gettext_lazy("请在地图上选择位置，或填写经纬度。"),
    "unit.unknown": gettext_lazy("单位编码不存在。"),
    "days.range": gettext_lazy("延期天数为 1 到 30 个工作日。"),
    "hotline_kind.choice": gettext_lazy("请选择来电类型。"),
}


def page_message(exc: DomainError) -> str:
    if exc.type_slug in SLUG_MESSAGES:
        return str(SLUG_MESSAGES[exc.type_slug])
    for error in exc.errors:
        if error.get("rule") in RULE_MESSAGES:
            return str(RULE_MESSAGES[error["rule"]])
    if isinstance(exc, DomainPermissionDenied):
        return _("您的账户不能执行这个操作。")
    if isinstance(exc, Conflict):
        return _("这个操作的条件还不满足（例如尚未提出申请，或已过可重新办理的期限）。")
    if isinstance(exc, ValidationFailed):
        return _("输入不符合要求，请检查后再试。")
    return _("操作没有完成，请稍后再试。")


def _user(request: HttpRequest) -> Any:
    note_actor(request.user)
    return request.user


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str, back: str) -> HttpResponse:
    try:
        action()
    except NotFound as exc:
        raise Http404(exc.detail) from exc
    except DomainError as exc:
        messages.error(request, page_message(exc))
        return HttpResponseRedirect(back)
    messages.success(request, success)
    return HttpResponseRedirect(back)


def _float(value: str | None) -> float:
    try:
        return float(value or "")
    except ValueError:
        return float("nan")


def _photos(request: HttpRequest) -> list[bytes]:
    """The uploaded photos, each read to one byte more than allowed so an oversized one is refused, not cut."""
    return [f.read(MAX_BYTES + 1) for f in request.FILES.getlist("photos")][: MAX_PHOTOS + 1]


def _report_context(request: HttpRequest, channel: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "categories": list(selectors.categories_active()),
        "urgencies": Urgency.choices,
        "hotline_kinds": HotlineKind.choices,
        "channel": channel,
        "values": values,
    }


def _report(request: HttpRequest, channel: str, template: str) -> HttpResponse:
    user = _user(request)
    values: dict[str, Any] = {"lon": request.GET.get("lon", ""), "lat": request.GET.get("lat", "")}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("category", "description", "lon", "lat", "address", "urgency", "hotline_kind", "caller_phone")
        }
        values["simple_procedure"] = request.POST.get("simple_procedure") == "1"
        lon, lat = _float(values["lon"]), _float(values["lat"])
        try:
            if request.POST.get("confirm") != "1" and channel == Channel.RESIDENT and values["category"]:
                category = services.category_get(values["category"])
                near = services.duplicates_near(category=category, lon=lon, lat=lat) if lon == lon else []
                if near:
                    context = _report_context(request, channel, values)
                    context["duplicates"] = near
                    return render(request, template, context)
            case = services.case_report(
                channel=channel,
                category_code=values["category"],
                description=values["description"],
                lon=lon,
                lat=lat,
                user=user,
                address=values["address"],
                urgency=values["urgency"] or Urgency.NORMAL,
                photos=_photos(request),
                hotline_kind=values["hotline_kind"],
                caller_phone=values["caller_phone"],
                simple_procedure=bool(values["simple_procedure"]),
            )
        except DomainError as exc:
            context = _report_context(request, channel, values)
            context["error"] = page_message(exc)
            return render(request, template, context, status=400 if isinstance(exc, ValidationFailed) else 403)
        messages.success(
            request,
            _("已收到，案卷编号 %(number)s。我们会尽快处理，您可以在“我的上报”中查看进展。") % {"number": case.number},
        )
        if user.is_authenticated:
            return HttpResponseRedirect(reverse("cases:detail", args=[case.number]))
        return HttpResponseRedirect(reverse("cases:report"))
    return render(request, template, _report_context(request, channel, values))


@rate_limited("cases.report")
@require_http_methods(["GET", "HEAD", "POST"])
def report(request: HttpRequest) -> HttpResponse:
    """A resident reports a problem (anonymously where the category allows it)."""
    if request.user.is_authenticated and not perms.is_resident(request.user):
        return HttpResponseRedirect(reverse("cases:home"))
    return _report(request, Channel.RESIDENT, "cases/report.html")


@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    """Where each person starts: the report form for residents, their own page for each staff role."""
    user = request.user
    links = []
    if perms.is_centre(user):
        links.append((reverse("cases:centre"), _("指挥中心工作台")))
    if perms.is_staff_with(user, perms.HANDLE):
        links.append((reverse("cases:unit"), _("本单位待办案卷")))
    if perms.is_staff_with(user, perms.VERIFY):
        links.append((reverse("cases:grid"), _("我的网格")))
    if perms.is_staff_with(user, perms.TAKE_CALL):
        links.append((reverse("cases:hotline"), _("热线受理")))
    if perms.is_staff_with(user, perms.STATISTICS):
        links.append((reverse("cases:statistics"), _("月度通报")))
    if perms.is_centre(user) or perms.is_staff_with(user, perms.ROUTING):
        links.append((reverse("cases:routes"), _("派遣规则")))
        links.append((reverse("cases:grid-workers"), _("网格员与网格")))
    if perms.is_staff_with(user, perms.OPEN311_KEYS):
        links.append((reverse("cases:keys"), _("Open311 接口密钥")))
    if not links:
        return HttpResponseRedirect(reverse("cases:report"))
    return render(request, "cases/home.html", {"links": links})


@require_http_methods(["GET", "HEAD"])
def case_map(request: HttpRequest) -> HttpResponse:
    """Everyone's map of the city's cases (the public `cases` layer); for those who read the statistics, the month's
    hot spots of a category too: the streets shaded by their number of cases, and listed."""
    context: dict[str, Any] = {}
    if perms.is_staff_with(request.user, perms.STATISTICS):
        month, start, end = _month(request)
        category = request.GET.get("category", "")[:8]
        categories = selectors.categories_active()
        if category not in {c.code for c in categories}:
            category = ""
        spots = hot_spots(start=start, end=end, limit=HOT_SPOTS_SHOWN, category=category)
        by_street: dict[str, int] = {}
        for spot in spots:
            by_street[spot.street_code] = by_street.get(spot.street_code, 0) + spot.reported
        hot = {"streets": by_street, "label": str(_("件"))}
        context = {"hot_spots": spots, "hot_counts": hot, "month": month, "category": category,
                   "categories": categories}  # fmt: skip
    return render(request, "cases/map.html", context)


HOT_SPOTS_SHOWN = 30


@login_required
@require_http_methods(["GET", "HEAD"])
def mine(request: HttpRequest) -> HttpResponse:
    rows = selectors.reports_of(user=_user(request))
    return render(request, "cases/mine.html", {"rows": [_row(c) for c in rows]})


def _row(case: Case) -> dict[str, Any]:
    now = timezone.now()
    overdue = case.deadline is not None and case.deadline < now and case.state not in ("closed", "evaluated")
    return {
        "case": case,
        "state": STATE_LABELS.get(case.state, case.state),
        "overdue": overdue,
        "channel": CHANNEL_LABELS.get(case.channel, case.channel),
    }


def _table(cases: list[Case]) -> str:
    """The rows of cases/_table.html (a queue of a hundred cases) written at once, escaped: through the template loop
    (a `{% url %}`, a date filter and a dozen lookups a row) they cost more than finding the cases."""
    if not cases:
        return ""
    now = timezone.now()
    href = reverse("cases:detail", args=["NUMBER"])
    flag = f' <span class="flag-overdue">{html.escape(_("已超期"))}</span>'
    text = html.escape
    out = []
    for case in cases:
        overdue = case.deadline is not None and case.deadline < now and case.state not in ("closed", "evaluated")
        deadline = "—" if case.deadline is None else f"{timezone.localtime(case.deadline):%Y-%m-%d %H:%M}"
        out.append(
            f'<tr><td><a href="{text(href.replace("NUMBER", case.number))}">{text(case.number)}</a></td>'
            f"<td>{text(case.category.name)}</td><td>{text(case.place_name)}</td>"
            f"<td>{text(str(STATE_LABELS.get(case.state, case.state)))}</td>"
            f"<td>{deadline}{flag if overdue else ''}</td></tr>"
        )
    return mark_safe("\n".join(out))  # noqa: S308  (every value escaped above)


@login_required
@require_http_methods(["GET", "HEAD"])
def detail(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    case = selectors.case_get(user=user, number=number)
    actions = transitions_for(user, case)
    pending = selectors.case_pending_request(case)
    return render(
        request,
        "cases/detail.html",
        {
            "row": _row(case),
            "case": case,
            "timeline": [
                {"event": e, "label": TRANSITIONS[e.transition].label if e.transition in TRANSITIONS else _step(e)}
                for e in selectors.case_timeline(case)
            ],
            "photos": selectors.case_photos(case),
            "units": selectors.case_units(case),
            "actions": actions,
            "pending": pending,
            "pending_kind": dict(RequestKind.choices).get(pending.kind) if pending else "",
            "may_request": perms.handles_as_main(user, case) and case.state == State.HANDLING and pending is None,
            "may_refuse_request": pending is not None and perms.is_staff_with(user, perms.DISPATCH),
            "request_kinds": RequestKind.choices,
            "is_owner": perms.owns(user, case),
        },
    )


def _step(event: Any) -> str:
    labels: dict[str, str] = {
        "report": _("上报"),
        "request_extension": _("申请延期"),
        "request_postponement": _("申请缓办"),
        "request_refused": _("申请未批准"),
    }
    return labels.get(str(event.transition), str(event.transition))


@login_required
@require_POST
def transition(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    name = request.POST.get("transition", "")
    back = reverse("cases:detail", args=[number])
    rating = request.POST.get("rating", "")
    units = [u.strip() for u in request.POST.get("units", "").replace("，", ",").split(",") if u.strip()]
    label = TRANSITIONS[name].label if name in TRANSITIONS else name
    return _attempt(
        request,
        lambda: services.case_transition(
            user=user,
            number=number,
            name=name,
            reason=request.POST.get("reason", ""),
            unit_codes=units,
            photos=_photos(request),
            rating=int(rating) if rating.isdigit() else None,
            merge_into=request.POST.get("merge_into", "").strip(),
        ),
        _("已完成：%(step)s。") % {"step": label},
        back,
    )


@login_required
@require_POST
def clock_request(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    back = reverse("cases:detail", args=[number])
    days = request.POST.get("days", "0")
    if request.POST.get("decision") == "refuse":
        return _attempt(
            request,
            lambda: services.clock_request_refuse(
                user=user,
                number=number,
                reason=request.POST.get("reason", ""),
            ),
            _("已退回申请。"),
            back,
        )
    return _attempt(
        request,
        lambda: services.clock_request_submit(
            user=user,
            number=number,
            kind=request.POST.get("kind", ""),
            reason=request.POST.get("reason", ""),
            days=int(days) if days.isdigit() else 0,
        ),
        _("申请已提交，等待指挥中心审批。"),
        back,
    )


@login_required
@require_POST
def join(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    return _attempt(
        request,
        lambda: services.case_join(user=user, number=number),
        _("已关注该案卷，处理进展会显示在“我的上报”中。"),
        reverse("cases:mine"),
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def photo(request: HttpRequest, number: str, photo_id: int) -> FileResponse:
    case = selectors.case_get(user=_user(request), number=number)
    row = CasePhoto.objects.filter(case=case, pk=photo_id).first()
    if row is None:
        raise Http404
    path = Path(photo_root() / row.path)
    if not path.is_file():
        raise Http404
    return FileResponse(path.open("rb"), content_type=row.content_type)


@login_required
@require_http_methods(["GET", "HEAD"])
def centre(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    queue = request.GET.get("queue", "register")
    if queue not in QUEUE_LABELS:
        queue = "register"
    rows = selectors.centre_queue(user=user, queue=queue)
    counts = selectors.centre_queue_counts(user=user)
    tabs = [(key, label, counts[key]) for key, label in QUEUE_LABELS.items()]
    return render(
        request,
        "cases/queue.html",
        {"title": _("指挥中心工作台"), "tabs": tabs, "queue": queue, "rows": _table(rows)},
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def unit(request: HttpRequest) -> HttpResponse:
    rows = selectors.unit_queue(user=_user(request))
    return render(request, "cases/queue.html", {"title": _("本单位待办案卷"), "rows": _table(rows)})


@login_required
@require_http_methods(["GET", "HEAD"])
def grid(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "cases/grid.html",
        {
            "cells": _cell_names(selectors.worker_cells(user=user)),
            "to_verify": _table(selectors.worker_queue(user=user)),
            "open": _table(selectors.worker_cell_cases(user=user)),
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def grid_report(request: HttpRequest) -> HttpResponse:
    if not perms.is_staff_with(request.user, perms.VERIFY):
        raise CaseDenied("Only grid workers report here.")
    return _report(request, Channel.GRID_WORKER, "cases/report.html")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def hotline(request: HttpRequest) -> HttpResponse:
    if not perms.is_staff_with(request.user, perms.TAKE_CALL):
        raise CaseDenied("Only hotline operators take calls.")
    return _report(request, Channel.HOTLINE, "cases/report.html")


def _month(request: HttpRequest) -> tuple[str, Any, Any]:
    month = request.GET.get("month", "") or timezone.localdate().strftime("%Y-%m")
    try:
        start, end = month_bounds(month)
    except ValueError:
        month = timezone.localdate().strftime("%Y-%m")
        start, end = month_bounds(month)
    return month, start, end


def _cell_names(codes: Any) -> list[str]:
    """The grid worker's cells as people name them (区 街道 社区 网格), in code order."""
    ordered = sorted(codes)
    names = selectors.cell_places(ordered)
    return [names.get(code, code) for code in ordered]


def _bulletin(request: HttpRequest) -> tuple[str, str, list[Row]]:
    if not perms.is_staff_with(request.user, perms.STATISTICS):
        raise CaseDenied("The statistics are for those who may read them.")
    month = request.GET.get("month", "") or timezone.localdate().strftime("%Y-%m")
    group = request.GET.get("group", "unit")
    if group not in GROUPS:
        group = "unit"
    try:
        start, end = month_bounds(month)
    except ValueError:
        month = timezone.localdate().strftime("%Y-%m")
        start, end = month_bounds(month)
    return month, group, indicators(group=group, start=start, end=end)


# A rate in ten-thousandths (`Row.scaled`) as a percentage with two decimals (1234 → 12.34%), and the composite in
# hundredths (5533 → 55.33): the texts of 0 to 100 % looked up, not formatted five times a row.
_PERCENT_TEXTS: dict[int | None, str] = {None: "—"} | {n: f"{n // 100}.{n % 100:02d}%" for n in range(10001)}
_SCORE_TEXTS: dict[int | None, str] = {n: f"{n // 100}.{n % 100:02d}" for n in range(10001)}


def _percent(scaled: int | None) -> str:
    return _PERCENT_TEXTS.get(scaled) or f"{scaled // 100}.{scaled % 100:02d}%"  # type: ignore[operator]


def _score(scaled: int | None, none: str) -> str:
    return none if scaled is None else _SCORE_TEXTS.get(scaled) or f"{scaled // 100}.{scaled % 100:02d}"


_BULLETIN_ROW = "<tr>" + "<td>{}</td>" * 9 + "</tr>"


def _bulletin_html(rows: list[Row]) -> str:
    """The bulletin's rows as HTML at once: a thousand grid cells through the template loop (or format_html's
    escaping of every number) cost more than computing them. The name is escaped (once per distinct name: a
    thousand grid cells have a few); the rest are numbers and rates, one format of the whole row each."""
    line, text, percent = _BULLETIN_ROW.format, _PERCENT_TEXTS.get, _percent
    escaped: dict[str, str] = {}
    out = []
    for r in rows:
        s = r.scaled
        name = escaped.get(r.name)
        if name is None:
            name = escaped[r.name] = html.escape(r.name)
        out.append(line(name, r.reported, text(s[0]) or percent(s[0]), text(s[1]) or percent(s[1]),
                        text(s[2]) or percent(s[2]), text(s[3]) or percent(s[3]), text(s[4]) or percent(s[4]),
                        r.simple, _score(s[5], "—")))  # fmt: skip
    return mark_safe("".join(out))  # noqa: S308


@login_required
@require_http_methods(["GET", "HEAD"])
def statistics(request: HttpRequest) -> HttpResponse:
    month, group, rows = _bulletin(request)
    _, start, end = _month(request)
    return render(
        request,
        "cases/statistics.html",
        {
            "month": month,
            "hot_spots": hot_spots(start=start, end=end),
            "group": group,
            "groups": GROUP_LABELS.items(),
            "table": rows,
            # The rows written at once (escaped): a bulletin of a thousand grid cells through the template loop cost
            # more than computing it.
            "table_rows": _bulletin_html(rows),
            "group_label": GROUP_LABELS[group],
        },
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def statistics_csv(request: HttpRequest) -> HttpResponse:
    month, group, rows = _bulletin(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cases-{month}-{group}.csv"'
    response.write("\ufeff")  # Excel reads UTF-8 with a BOM
    writer = csv.writer(response)
    writer.writerows(_bulletin_rows(group, rows))
    return response


def _bulletin_rows(group: str, rows: list[Row]) -> list[list[Any]]:
    header = [str(GROUP_LABELS[group]), _("上报数"), _("立案数"), _("简易程序数"), _("应结案数"), _("缓办数"),
              _("结案数"), _("按期结案数"), _("超期未结案数"), _("立案率"), _("结案率"), _("按期结案率"),
              _("返工率"), _("延期率"), _("综合指标")]  # fmt: skip
    body = [
        [r.name, r.reported, r.registered, r.simple, r.due, r.postponed, r.closed, r.on_time, r.overdue_open,
         *(_percent(v) for v in r.scaled[:5]), _score(r.scaled[5], "")]
        for r in rows
    ]  # fmt: skip
    return [header, *body]


@login_required
@require_http_methods(["GET", "HEAD"])
def statistics_xlsx(request: HttpRequest) -> HttpResponse:
    import openpyxl  # type: ignore[import-untyped]  # no stubs

    month, group, rows = _bulletin(request)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(month)
    for line in _bulletin_rows(group, rows):
        sheet.append(line)
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="cases-{month}-{group}.xlsx"'
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def routes(request: HttpRequest) -> HttpResponse:
    """The routing table (派遣规则): which unit handles a category where. The command centre reads it; the 值班长
    (cases.manage_routing) adds, changes and removes rows."""
    user = _user(request)
    values: dict[str, str] = {}
    if request.method == "POST":
        try:
            if request.POST.get("delete"):
                delete = request.POST["delete"]
                services.route_delete(user=user, route_id=int(delete) if delete.isdigit() else 0)
                messages.success(request, _("已删除这条派遣规则。"))
            else:
                values = {k: request.POST.get(k, "").strip() for k in ("category", "place", "unit", "role")}
                place = values["place"]
                services.route_set(
                    user=user,
                    category_code=values["category"],
                    unit_code=values["unit"],
                    role=values["role"] or UnitRole.MAIN,
                    cell_code=place if len(place) > 12 else "",
                    street_code=place if len(place) <= 12 else "",
                )
                messages.success(request, _("派遣规则已保存。"))
                return HttpResponseRedirect(reverse("cases:routes"))
        except NotFound as exc:
            raise Http404(exc.detail) from exc
        except DomainError as exc:
            if isinstance(exc, DomainPermissionDenied):
                raise
            messages.error(request, ROUTE_MESSAGES.get(_rule(exc), page_message(exc)))
    rows = selectors.routes_list(user=user)
    names = selectors.place_names(r.cell_code or r.street_code for r in rows)
    return render(
        request,
        "cases/routes.html",
        {
            "rows": [
                {"route": r, "place": names.get(r.cell_code or r.street_code, r.cell_code or r.street_code)}
                for r in rows
            ],
            "may_edit": perms.is_staff_with(user, perms.ROUTING),
            "categories": list(selectors.categories_active()),
            "units": selectors.units_for_routing(),
            "roles": UnitRole.choices,
            "values": values,
        },
    )


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def grid_workers(request: HttpRequest) -> HttpResponse:
    """The grid workers' cells (网格员 and their 单元网格, per thematic grid): the command centre reads them; the 值班长
    (cases.manage_routing) assigns a worker to a cell and takes them off it."""
    user = _user(request)
    values: dict[str, str] = {}
    if request.method == "POST":
        try:
            if request.POST.get("remove"):
                remove = request.POST["remove"]
                services.grid_unassign(user=user, assignment_id=int(remove) if remove.isdigit() else 0)
                messages.success(request, _("已取消这名网格员对该网格的负责。"))
            else:
                values = {k: request.POST.get(k, "").strip() for k in ("worker", "cell", "theme")}
                services.grid_assign(
                    user=user, worker=selectors.staff_account(username=values["worker"]), cell_code=values["cell"],
                    theme=values["theme"] or Theme.CITY_MANAGEMENT,
                )  # fmt: skip
                messages.success(request, _("网格员已负责该网格。"))
            return HttpResponseRedirect(reverse("cases:grid-workers"))
        except NotFound as exc:
            raise Http404(exc.detail) from exc
        except DomainError as exc:
            if isinstance(exc, DomainPermissionDenied):
                raise
            messages.error(request, GRID_MESSAGES.get(_rule(exc), page_message(exc)))
    rows = selectors.grid_assignments(user=user)
    places = selectors.cell_places(r.cell_code for r in rows)
    return render(
        request,
        "cases/grid_workers.html",
        {
            "rows": [{"assignment": r, "place": places.get(r.cell_code, r.cell_code)} for r in rows],
            "may_edit": perms.is_staff_with(user, perms.ROUTING),
            "themes": Theme.choices,
            "values": values,
        },
    )


GRID_MESSAGES = {
    "worker.role": gettext_lazy("这个账号不是网格员（需要核查案卷的权限）。"),
    "place.unknown": gettext_lazy("没有这个编码的网格。"),
    "theme.choice": gettext_lazy("请选择专题网格。"),
}

ROUTE_MESSAGES = {
    "unit.unknown": gettext_lazy("请选择责任单位。"),
    "place.unknown": gettext_lazy("没有这个编码的网格、街道或区县。"),
    "place.one": gettext_lazy("只填一个网格、街道或区县编码。"),
}


def _rule(exc: DomainError) -> str:
    return str(exc.errors[0].get("rule", "")) if exc.errors else ""


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    issued = ""
    if request.method == "POST":
        try:
            if request.POST.get("revoke"):
                revoke = request.POST["revoke"]
                services.open311_key_revoke(user=user, key_id=int(revoke) if revoke.isdigit() else 0)
                messages.success(request, _("密钥已吊销。"))
            else:
                _key, issued = services.open311_key_issue(user=user, name=request.POST.get("name", ""))
        except NotFound as exc:
            raise Http404(exc.detail) from exc
        except DomainError as exc:
            if isinstance(exc, DomainPermissionDenied):
                raise
            messages.error(request, page_message(exc))
    return render(request, "cases/keys.html", {"keys": selectors.open311_keys(user=user), "issued": issued})


urlpatterns: list[URLPattern] = [
    path("", home, name="home"),
    path("report/", report, name="report"),
    path("mine/", mine, name="mine"),
    path("map/", case_map, name="map"),
    path("c/<str:number>/", detail, name="detail"),
    path("c/<str:number>/act/", transition, name="transition"),
    path("c/<str:number>/request/", clock_request, name="request"),
    path("c/<str:number>/join/", join, name="join"),
    path("c/<str:number>/photo/<int:photo_id>/", photo, name="photo"),
    path("centre/", centre, name="centre"),
    path("unit/", unit, name="unit"),
    path("grid/", grid, name="grid"),
    path("grid/report/", grid_report, name="grid-report"),
    path("hotline/", hotline, name="hotline"),
    path("statistics/", statistics, name="statistics"),
    path("statistics.csv", statistics_csv, name="statistics-csv"),
    path("statistics.xlsx", statistics_xlsx, name="statistics-xlsx"),
    path("keys/", keys, name="keys"),
    path("routes/", routes, name="routes"),
    path("grid-workers/", grid_workers, name="grid-workers"),
]
