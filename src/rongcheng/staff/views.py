"""Staff administration pages: accounts (system administrator), roles and grants (security administrator), and the
overview of the administrator duties. Every action goes through the services, which check the right for the
department concerned and audit the action or its refusal; a refusal comes back as 403 or as a message."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.accounts.models import User
from rongcheng.kernel.errors import DomainError, NotFound
from rongcheng.kernel.errors import PermissionDenied as DomainPermissionDenied
from rongcheng.kernel.form_errors import add_domain_errors
from rongcheng.staff import selectors, services
from rongcheng.staff.forms import GrantForm, StaffCreateForm, StaffSearchForm
from rongcheng.staff.models import Duty
from rongcheng.staff.permissions import (
    VIEW_DUTY_OVERVIEW,
    VIEW_ROLE,
    may_assign_roles,
    may_manage_staff,
    may_view_staff,
)

PAGE_SIZE = 20
DUTY_LABELS: dict[str, Any] = {
    Duty.SYSTEM: _("系统管理员"), Duty.SECURITY: _("安全管理员"), Duty.AUDIT: _("审计管理员"),
    Duty.BUSINESS: _("业务角色"),
}  # fmt: skip


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  # login_required guarantees a signed-in account
    return user


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _detail_url(user_id: int) -> str:
    return reverse("staff:detail", args=[user_id])


def _assignment_row(assignment: Any) -> dict[str, Any]:
    return {"assignment": assignment, "duty": DUTY_LABELS.get(assignment.role.duty, assignment.role.duty)}


@login_required
@require_http_methods(["GET", "HEAD"])
def staff_list_view(request: HttpRequest) -> HttpResponse:
    if not may_view_staff(request.user):
        raise PermissionDenied
    form = StaffSearchForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, "staff/list.html", {"form": form, "rows": []}, status=400)
    data = form.cleaned_data if form.is_bound else {}
    department = data.get("department")
    try:
        page = selectors.staff_list(
            viewer=_user(request), department_id=department.pk if department else None, query=data.get("q") or "",
            cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE
        )  # fmt: skip
    except DomainPermissionDenied as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        form.add_error(None, exc.detail)
        return render(request, "staff/list.html", {"form": form, "rows": []}, status=400)
    next_query = None
    if page.next_cursor:
        query = request.GET.copy()
        query["cursor"] = page.next_cursor
        next_query = query.urlencode()
    rows = [
        {"account": account, "assignments": [_assignment_row(a) for a in account.active_assignments]}  # type: ignore[attr-defined]
        for account in page.items
    ]
    context = {"form": form, "rows": rows, "next_query": next_query, "may_manage": may_manage_staff(request.user)}
    return render(request, "staff/list.html", context)


def _password_page(request: HttpRequest, account: User, password: str, *, created: bool) -> HttpResponse:
    response = render(request, "staff/password.html", {"account": account, "password": password, "created": created})
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def staff_create_view(request: HttpRequest) -> HttpResponse:
    if not may_manage_staff(request.user):
        raise PermissionDenied
    form = StaffCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account, password = services.staff_account_create(
                username=form.cleaned_data["username"], display_name=form.cleaned_data["display_name"],
                department_id=form.cleaned_data["department"].pk, actor=_user(request)
            )  # fmt: skip
        except DomainPermissionDenied as exc:
            raise PermissionDenied from exc
        except DomainError as exc:
            add_domain_errors(form, exc, fields={"department_id": "department"})
        else:
            return _password_page(request, account, password, created=True)
    status = 400 if form.is_bound else 200
    return render(request, "staff/create.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "HEAD"])
def staff_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    if not may_view_staff(request.user):
        raise PermissionDenied
    try:
        account = selectors.staff_get(viewer=_user(request), user_id=user_id)
    except NotFound as exc:
        raise PermissionDenied from exc  # outside the viewer's departments, or no such account: the same answer
    assignments = [_assignment_row(a) for a in account.all_assignments]  # type: ignore[attr-defined]
    context = {
        "account": account,
        "active": [row for row in assignments if row["assignment"].revoked_at is None],
        "past": [row for row in assignments if row["assignment"].revoked_at is not None],
        "may_manage": may_manage_staff(request.user),
        "may_assign": may_assign_roles(request.user),
        "grant_form": GrantForm(),
        "is_self": account.pk == request.user.pk,
    }
    return render(request, "staff/detail.html", context)


def _account_action(request: HttpRequest, user_id: int, action: Any, done: str) -> HttpResponse:
    try:
        action(user_id=user_id, actor=_user(request))
    except DomainPermissionDenied as exc:
        raise PermissionDenied from exc
    except NotFound as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, done)
    return HttpResponseRedirect(_detail_url(user_id))


@login_required
@require_POST
def staff_disable_view(request: HttpRequest, user_id: int) -> HttpResponse:
    return _account_action(request, user_id, services.staff_account_disable, str(_("账号已停用。")))


@login_required
@require_POST
def staff_enable_view(request: HttpRequest, user_id: int) -> HttpResponse:
    return _account_action(request, user_id, services.staff_account_enable, str(_("账号已重新启用。")))


@never_cache
@login_required
@require_POST
def staff_password_reset_view(request: HttpRequest, user_id: int) -> HttpResponse:
    try:
        account, password = services.staff_password_reset(user_id=user_id, actor=_user(request))
    except (DomainPermissionDenied, NotFound) as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(_detail_url(user_id))
    return _password_page(request, account, password, created=False)


@login_required
@require_POST
def assignment_grant_view(request: HttpRequest, user_id: int) -> HttpResponse:
    form = GrantForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择有效的角色和部门。"))
        return HttpResponseRedirect(_detail_url(user_id))
    department = form.cleaned_data["department"]
    try:
        services.role_grant(
            user_id=user_id, role_id=form.cleaned_data["role"].pk, department_id=department.pk if department else None,
            actor=_user(request)
        )  # fmt: skip
    except (DomainPermissionDenied, NotFound) as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("已授予角色。"))
    return HttpResponseRedirect(_detail_url(user_id))


@login_required
@require_POST
def assignment_revoke_view(request: HttpRequest, assignment_id: int) -> HttpResponse:
    try:
        assignment = services.role_revoke(assignment_id=assignment_id, actor=_user(request))
    except (DomainPermissionDenied, NotFound) as exc:
        raise PermissionDenied from exc
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("staff:list"))
    messages.success(request, _("已撤销角色。"))
    return HttpResponseRedirect(_detail_url(assignment.user_id))


@login_required
@require_http_methods(["GET", "HEAD"])
def role_list_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_ROLE)
    rows = [{"role": role, "duty": DUTY_LABELS.get(role.duty, role.duty)} for role in selectors.role_list()]
    return render(request, "staff/roles.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "HEAD"])
def role_detail_view(request: HttpRequest, role_id: int) -> HttpResponse:
    _require(request, VIEW_ROLE)
    try:
        role = selectors.role_get(role_id)
    except NotFound as exc:
        raise Http404 from exc
    permissions = sorted(
        ((selectors.permission_name(p), p.name) for p in role.group.permissions.all()), key=lambda pair: pair[0]
    )
    context = {
        "role": role,
        "duty": DUTY_LABELS.get(role.duty, role.duty),
        "permissions": permissions,
        "holders": role.active_assignments,  # type: ignore[attr-defined]
    }
    return render(request, "staff/role_detail.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def duty_overview_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_DUTY_OVERVIEW)
    holders = [
        {"holder": holder, "duties": [DUTY_LABELS.get(d, d) for d in holder.duties]}
        for holder in selectors.duty_holders()
    ]
    context = {"holders": holders, "violations": selectors.duty_violations()}
    return render(request, "staff/duties.html", context)
