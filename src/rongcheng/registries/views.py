"""Staff and resident pages of the base registries.

Every read goes through the selectors (masked by entitlement, audited), every write through the services; a domain
error comes back as a form error or a message. Reading needs the `view_*` permission, correcting and closing the
`change_*` one; a resident only sees who read their own record.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.accounts.selectors import account_signed_in
from rongcheng.audit.services import actor_from_user
from rongcheng.kernel.context import purpose_stated
from rongcheng.kernel.divisions import division_get
from rongcheng.kernel.errors import Conflict, DomainError, ValidationFailed
from rongcheng.kernel.form_errors import add_domain_errors
from rongcheng.kernel.pagination import Page, decode_cursor, encode_cursor
from rongcheng.registries.errors import LegalEntityNotFound, PersonNotFound, RegistryReadDenied
from rongcheng.registries.ethnicities import ETHNICITIES
from rongcheng.registries.forms import (
    PAGE_MESSAGES,
    EntityCloseForm,
    EntityCorrectForm,
    PersonCloseForm,
    PersonCorrectForm,
    PersonSearchForm,
    PurposeForm,
)
from rongcheng.registries.models import EntityStatus, Person, PersonStatus, Sex
from rongcheng.registries.permissions import ENTITY_PERMISSION, PERSON_PERMISSION, Reader, reader_for
from rongcheng.registries.purposes import PURPOSES
from rongcheng.registries.quality import registry_quality_check, registry_quality_latest
from rongcheng.registries.selectors import (
    EntityView,
    PersonReadEntry,
    PersonView,
    legal_entity_read,
    person_history,
    person_read,
    person_read_by_id_number,
    person_reads_for_resident,
    person_search,
)
from rongcheng.registries.services import (
    legal_entity_close,
    legal_entity_correct,
    person_close,
    person_correct,
)

PAGE_SIZE = 20
PERSON_CHANGE_PERMISSION = "registries.change_person"
ENTITY_CHANGE_PERMISSION = "registries.change_legalentity"
# Corrections read the record they change for this purpose: it is what the entitlements and the trail will show.
CORRECTION_PURPOSE = "data_quality"
QUALITY_LISTED = 200

FIELD_LABELS = {
    "id_number": _("身份证号"), "name": _("姓名"), "birth_date": _("出生日期"), "phone": _("电话"),
    "address": _("地址"),
}  # fmt: skip
VIA_LABELS = {
    "search": _("查询结果"), "record": _("查看记录"), "id_number": _("按身份证号查找"), "history": _("查看记录及历史"),
    "as_of": _("查看历史时点"), "legal_representative": _("查看法人（法定代表人）"), "quality": _("数据质量检查"),
    "hall_prefill": _("网上办事大厅为您的申请预填材料"),
    "exchange": _("部门间数据共享（按共享授权）"),
}  # fmt: skip
CHANGE_LABELS = {"correct": _("更正"), "close": _("关闭")}
PERSON_STATUS_LABELS = dict(PersonStatus.choices)
ENTITY_STATUS_LABELS = dict(EntityStatus.choices)
SEX_LABELS = dict(Sex.choices)


def _reader(request: HttpRequest) -> Reader:
    return reader_for(request.user)


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _person_row(view: PersonView) -> dict[str, Any]:
    """A person's view with the labels the template shows (templates cannot look up a dictionary by variable)."""
    division = division_get(view.division_code)
    return {
        "view": view,
        "sex": SEX_LABELS.get(view.sex, view.sex),
        "ethnicity": ETHNICITIES.get(view.ethnicity, view.ethnicity),
        "division": f"{division.name}（{view.division_code}）" if division is not None else view.division_code,
        "status": PERSON_STATUS_LABELS.get(view.status, view.status),
        "clear": [FIELD_LABELS.get(field, field) for field in view.clear],
    }


def _with_query(url: str, **query: str) -> str:
    return f"{url}?{urlencode(query)}"


def _next_search_query(form: PersonSearchForm, cursor: str | None) -> str | None:
    """The next page of a search by name or division (never one by ID number: it has one result)."""
    if not cursor or not form.is_valid():
        return None
    data = form.cleaned_data
    return urlencode({"purpose": data["purpose"], "name": data["name"], "division_code": data["division_code"],
                      "cursor": cursor})  # fmt: skip


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def person_search_view(request: HttpRequest) -> HttpResponse:
    """The search form posts (an ID number never travels in a URL); the next page of a search by name or division
    is a GET with the cursor. A GET carrying an ID number is refused without a read."""
    _require(request, PERSON_PERMISSION)
    data_in = request.POST if request.method == "POST" else request.GET
    form = PersonSearchForm(data_in or None)
    page: Page[PersonView] | None = None
    not_found = False
    status = 200
    if request.method != "POST" and request.GET.get("id_number"):
        form = PersonSearchForm({key: value for key, value in request.GET.items() if key != "id_number"})
        form.is_valid()
        form.add_error("id_number", _("请在查询表单中输入身份证号，不要放在网址中。"))
        status = 400
    elif form.is_bound:
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                with purpose_stated(data["purpose"]):
                    if data["id_number"]:
                        person = person_read_by_id_number(reader=_reader(request), id_number=data["id_number"])
                        page = Page(items=[person], next_cursor=None)
                    else:
                        page = person_search(
                            reader=_reader(request), name=data["name"], division_code=data["division_code"],
                            cursor=data_in.get("cursor") or None, limit=PAGE_SIZE,
                        )  # fmt: skip
                status = 200
            except PersonNotFound:
                page, not_found, status = Page(items=[], next_cursor=None), True, 200
            except RegistryReadDenied as exc:
                raise PermissionDenied from exc
            except DomainError as exc:
                add_domain_errors(form, exc, messages=PAGE_MESSAGES)
    context = {
        "form": form,
        "page": page,
        "rows": [_person_row(view) for view in page.items] if page is not None else [],
        "not_found": not_found,
        "next_query": _next_search_query(form, page.next_cursor if page is not None else None),
        "purpose": form.cleaned_data.get("purpose", "") if page is not None else "",
    }
    return render(request, "registries/person_search.html", context, status=status)


def _purpose(request: HttpRequest) -> tuple[str | None, PurposeForm]:
    """The purpose from the query string; without a valid one the page asks for it instead of reading."""
    form = PurposeForm(request.GET or None)
    return (form.cleaned_data["purpose"] if form.is_valid() else None), form


def _ask_purpose(request: HttpRequest, template: str, pk: int, form: PurposeForm) -> HttpResponse:
    context = {"record_id": pk, "purpose_form": form}
    return render(request, template, context, status=400 if form.is_bound else 200)


@login_required
@require_http_methods(["GET", "HEAD"])
def person_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERSON_PERMISSION)
    purpose, purpose_form = _purpose(request)
    if purpose is None:
        return _ask_purpose(request, "registries/person_detail.html", pk, purpose_form)
    try:
        with purpose_stated(purpose):
            history = person_history(reader=_reader(request), person_id=pk)
    except PersonNotFound as exc:
        raise Http404 from exc
    except RegistryReadDenied as exc:
        raise PermissionDenied from exc
    versions = [
        {"info": info, "change": CHANGE_LABELS.get(info.replaced_by, info.replaced_by), **_person_row(view)}
        for info, view in history
    ]
    context = {
        "record_id": pk,
        "current": versions[-1],
        "versions": versions,
        "purpose": purpose,
        "purpose_label": PURPOSES[purpose],
        "can_correct": request.user.has_perm(PERSON_CHANGE_PERMISSION),
    }
    return render(request, "registries/person_detail.html", context)


def _person_for_correction(request: HttpRequest, pk: int) -> PersonView:
    try:
        with purpose_stated(CORRECTION_PURPOSE):
            return person_read(reader=_reader(request), person_id=pk)
    except PersonNotFound as exc:
        raise Http404 from exc
    except RegistryReadDenied as exc:
        raise PermissionDenied from exc


def _render_person_correct(
    request: HttpRequest, pk: int, *, correct_form: PersonCorrectForm | None = None,
    close_form: PersonCloseForm | None = None, status: int = 200,
) -> HttpResponse:  # fmt: skip
    view = _person_for_correction(request, pk)
    context = {
        "person": _person_row(view),
        "record_id": pk,
        "closed": view.status != PersonStatus.LIVING,
        "correct_form": correct_form or PersonCorrectForm(initial={"expected_version": view.version}),
        "close_form": close_form or PersonCloseForm(),
        "detail_url": _with_query(reverse("registries:person-detail", args=[pk]), purpose=CORRECTION_PURPOSE),
    }
    return render(request, "registries/person_correct.html", context, status=status)


def _error_status(exc: DomainError) -> int:
    return 409 if isinstance(exc, Conflict) else 400


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def person_correct_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERSON_CHANGE_PERMISSION)
    if request.method != "POST":
        return _render_person_correct(request, pk)
    form = PersonCorrectForm(request.POST)
    if not form.is_valid():
        return _render_person_correct(request, pk, correct_form=form, status=400)
    try:
        person_correct(
            person_id=pk, changes=form.changes(), actor=actor_from_user(request.user),
            reason=form.cleaned_data["reason"], expected_version=form.cleaned_data["expected_version"],
        )  # fmt: skip
    except Person.DoesNotExist as exc:
        raise Http404 from exc
    except DomainError as exc:
        add_domain_errors(form, exc, messages=PAGE_MESSAGES)
        return _render_person_correct(request, pk, correct_form=form, status=_error_status(exc))
    messages.success(request, _("已更正，原记录已保存为历史版本。"))
    return HttpResponseRedirect(_with_query(reverse("registries:person-detail", args=[pk]), purpose=CORRECTION_PURPOSE))


@login_required
@require_POST
def person_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, PERSON_CHANGE_PERMISSION)
    form = PersonCloseForm(request.POST)
    if not form.is_valid():
        return _render_person_correct(request, pk, close_form=form, status=400)
    try:
        person_close(
            person_id=pk, status=form.cleaned_data["status"], on=form.cleaned_data["on"],
            actor=actor_from_user(request.user), reason=form.cleaned_data["reason"],
        )  # fmt: skip
    except Person.DoesNotExist as exc:
        raise Http404 from exc
    except DomainError as exc:
        add_domain_errors(form, exc, messages=PAGE_MESSAGES)
        return _render_person_correct(request, pk, close_form=form, status=_error_status(exc))
    messages.success(request, _("记录已关闭，原记录已保存为历史版本。"))
    return HttpResponseRedirect(_with_query(reverse("registries:person-detail", args=[pk]), purpose=CORRECTION_PURPOSE))


def _entity_context(entity: EntityView) -> dict[str, Any]:
    representative = entity.representative
    return {
        "entity": entity,
        "status": ENTITY_STATUS_LABELS.get(entity.status, entity.status),
        "representative_status": PERSON_STATUS_LABELS.get(representative.status, representative.status)
        if representative is not None
        else "",
        "versions": [
            {
                "version": v,
                "status": ENTITY_STATUS_LABELS.get(v.status, v.status),
                "change": CHANGE_LABELS.get(v.info.replaced_by, v.info.replaced_by),
            }
            for v in entity.history
        ],
    }


def _entity_for(request: HttpRequest, pk: int, purpose: str) -> EntityView:
    try:
        with purpose_stated(purpose):
            return legal_entity_read(reader=_reader(request), entity_id=pk)
    except LegalEntityNotFound as exc:
        raise Http404 from exc
    except RegistryReadDenied as exc:
        raise PermissionDenied from exc


@login_required
@require_http_methods(["GET", "HEAD"])
def entity_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ENTITY_PERMISSION)
    purpose, purpose_form = _purpose(request)
    if purpose is None:
        return _ask_purpose(request, "registries/entity_detail.html", pk, purpose_form)
    entity = _entity_for(request, pk, purpose)
    context = {
        **_entity_context(entity),
        "record_id": pk,
        "purpose": purpose,
        "purpose_label": PURPOSES[purpose],
        "can_correct": request.user.has_perm(ENTITY_CHANGE_PERMISSION),
    }
    return render(request, "registries/entity_detail.html", context)


def _render_entity_correct(
    request: HttpRequest, pk: int, *, correct_form: EntityCorrectForm | None = None,
    close_form: EntityCloseForm | None = None, status: int = 200,
) -> HttpResponse:  # fmt: skip
    entity = _entity_for(request, pk, CORRECTION_PURPOSE)
    context = {
        **_entity_context(entity),
        "record_id": pk,
        "closed": entity.status != EntityStatus.ACTIVE,
        "correct_form": correct_form or EntityCorrectForm(initial={"expected_version": entity.version}),
        "close_form": close_form or EntityCloseForm(),
        "detail_url": _with_query(reverse("registries:entity-detail", args=[pk]), purpose=CORRECTION_PURPOSE),
    }
    return render(request, "registries/entity_correct.html", context, status=status)


def _entity_changes(request: HttpRequest, form: EntityCorrectForm) -> dict[str, Any] | None:
    """The form's changes in the service's terms; a new representative is looked up (an audited read) by ID number."""
    changes = form.changes()
    id_number = changes.pop("representative_id_number", "")
    if not id_number:
        return changes
    try:
        with purpose_stated(CORRECTION_PURPOSE):
            person = person_read_by_id_number(reader=_reader(request), id_number=id_number)
    except PersonNotFound:
        form.add_error("representative_id_number", _("人口库中没有该身份证号的登记人员。"))
        return None
    except RegistryReadDenied:
        form.add_error("representative_id_number", _("您无权查询人口库，不能更换法定代表人。"))
        return None
    except ValidationFailed as exc:
        add_domain_errors(form, exc, fields={"id_number": "representative_id_number"}, messages=PAGE_MESSAGES)
        return None
    changes["legal_representative_id"] = person.record_id
    return changes


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def entity_correct_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ENTITY_CHANGE_PERMISSION)
    if request.method != "POST":
        return _render_entity_correct(request, pk)
    form = EntityCorrectForm(request.POST)
    if not form.is_valid():
        return _render_entity_correct(request, pk, correct_form=form, status=400)
    changes = _entity_changes(request, form)
    if changes is None:
        return _render_entity_correct(request, pk, correct_form=form, status=400)
    try:
        legal_entity_correct(
            entity_id=pk, changes=changes, actor=actor_from_user(request.user), reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["expected_version"],
        )  # fmt: skip
    except LegalEntityNotFound as exc:
        raise Http404 from exc
    except DomainError as exc:
        add_domain_errors(
            form, exc, fields={"legal_representative_id": "representative_id_number"}, messages=PAGE_MESSAGES
        )
        return _render_entity_correct(request, pk, correct_form=form, status=_error_status(exc))
    messages.success(request, _("已更正，原记录已保存为历史版本。"))
    return HttpResponseRedirect(_with_query(reverse("registries:entity-detail", args=[pk]), purpose=CORRECTION_PURPOSE))


@login_required
@require_POST
def entity_close_view(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, ENTITY_CHANGE_PERMISSION)
    form = EntityCloseForm(request.POST)
    if not form.is_valid():
        return _render_entity_correct(request, pk, close_form=form, status=400)
    try:
        legal_entity_close(
            entity_id=pk, status=form.cleaned_data["status"], on=form.cleaned_data["on"],
            actor=actor_from_user(request.user), reason=form.cleaned_data["reason"],
        )  # fmt: skip
    except LegalEntityNotFound as exc:
        raise Http404 from exc
    except DomainError as exc:
        add_domain_errors(form, exc, messages=PAGE_MESSAGES)
        return _render_entity_correct(request, pk, close_form=form, status=_error_status(exc))
    messages.success(request, _("记录已关闭，原记录已保存为历史版本。"))
    return HttpResponseRedirect(_with_query(reverse("registries:entity-detail", args=[pk]), purpose=CORRECTION_PURPOSE))


def _read_row(entry: PersonReadEntry) -> dict[str, Any]:
    return {
        "entry": entry,
        "purpose": PURPOSES.get(entry.purpose, entry.purpose),
        "fields": [FIELD_LABELS.get(field, field) for field in entry.fields],
        "via": VIA_LABELS.get(entry.via, entry.via),
    }


@login_required
@require_http_methods(["GET", "HEAD"])
def my_reads_view(request: HttpRequest) -> HttpResponse:
    """Any signed-in account: the list is of the account's own record, found through its bound ID number."""
    cursor = request.GET.get("cursor") or ""
    before = None
    if cursor:
        try:
            values = decode_cursor(cursor)
        except ValidationFailed:
            values = []
        if len(values) != 1 or not isinstance(values[0], int):
            return render(request, "registries/my_reads.html", {"invalid_cursor": True}, status=400)
        before = values[0]
    try:
        entries = person_reads_for_resident(user=account_signed_in(request.user), before=before, limit=PAGE_SIZE + 1)
    except PersonNotFound:
        return render(request, "registries/my_reads.html", {"unbound": True})
    next_query = None
    if len(entries) > PAGE_SIZE:
        entries = entries[:PAGE_SIZE]
        next_query = urlencode({"cursor": encode_cursor([entries[-1].audit_id])})
    context = {"rows": [_read_row(entry) for entry in entries], "next_query": next_query, "first_page": not cursor}
    return render(request, "registries/my_reads.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def quality_view(request: HttpRequest) -> HttpResponse:
    """GET shows the latest run's summary; POST runs the checks (and records the run) and shows the full report."""
    _require(request, PERSON_PERMISSION)
    if request.method == "POST":
        report = registry_quality_check(actor=actor_from_user(request.user), limit=QUALITY_LISTED)
        context: dict[str, Any] = {
            "report": report,
            "duplicates": [
                {
                    "group": group,
                    "sex": SEX_LABELS.get(group.sex, group.sex),
                    "records": list(zip(group.record_ids, group.id_numbers, strict=True)),
                }
                for group in report.duplicates
            ],
            "representatives": [
                {"issue": issue, "status": PERSON_STATUS_LABELS.get(issue.person_status, issue.person_status)}
                for issue in report.representatives
            ],
            "listed_max": QUALITY_LISTED,
        }
    else:
        context = {"latest": registry_quality_latest()}
    context["purpose"] = CORRECTION_PURPOSE
    return render(request, "registries/quality.html", context)


urlpatterns: list[URLPattern] = [
    path("persons/", person_search_view, name="person-search"),
    path("persons/<int:pk>/", person_detail_view, name="person-detail"),
    path("persons/<int:pk>/correct/", person_correct_view, name="person-correct"),
    path("persons/<int:pk>/close/", person_close_view, name="person-close"),
    path("entities/<int:pk>/", entity_detail_view, name="entity-detail"),
    path("entities/<int:pk>/correct/", entity_correct_view, name="entity-correct"),
    path("entities/<int:pk>/close/", entity_close_view, name="entity-close"),
    path("me/reads/", my_reads_view, name="my-reads"),
    path("quality/", quality_view, name="quality"),
]
