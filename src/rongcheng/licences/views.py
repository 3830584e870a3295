"""Licence pages: public verification (the QR code's target), printable copy, the holder's own licences and their
uses, and the issuing department's pages (issue, bulk issue, status changes). The same services as the API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.accounts.selectors import account_signed_in
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.ratelimit import rate_limited
from rongcheng.licences import selectors, services
from rongcheng.licences.bulk import licences_issue_from_csv
from rongcheng.licences.documents import face_label, holder_code_of, licence_export
from rongcheng.licences.errors import LicenceActionDenied, LicenceNotFound
from rongcheng.licences.forms import AuthorizationForm, BulkForm, IssueForm, PurposeForm, TransitionForm
from rongcheng.licences.identifiers import LicenceIdentifierInvalid, identifier_parse
from rongcheng.licences.keys import published_keys
from rongcheng.licences.lifecycle import transitions_from
from rongcheng.licences.models import HolderAuthorization, Licence, LicenceStatus, LicenceType
from rongcheng.licences.permissions import ISSUE_PERMISSION, may_change

STATUS_LABELS = dict(LicenceStatus.choices)


def _verification_url(request: HttpRequest, identifier: str) -> str:
    return request.build_absolute_uri(reverse("licences:verify", args=[identifier]))


def qr_svg(url: str) -> SafeString:
    """The verification address as an inline SVG QR code (no script, no style attribute: CSP-safe)."""
    svg = segno.make(url, error="m").svg_inline(scale=3, title=escape(url), svgclass="qr", lineclass="qr-line")
    return mark_safe(svg)  # noqa: S308 - segno's own markup; the only text in it, the URL, is escaped above


def licence_keys_published(request: HttpRequest) -> JsonResponse:
    """/.well-known/licence-keys: every department key ever used, PEM and key id, retired ones included."""
    keys = [
        {"key_id": key.key_id, "department": key.department.name, "department_code": key.department.code,
         "algorithm": "SM2", "digest": "SM3", "signer_id": "1234567812345678", "status": key.status,
         "created_at": key.created_at.isoformat(), "not_after": key.not_after.isoformat(),
         "retired_at": key.retired_at.isoformat() if key.retired_at else None, "public_key_pem": key.public_key_pem}
        for key in published_keys()
    ]  # fmt: skip
    response = JsonResponse({"keys": keys}, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _described(rows: list[Any]) -> list[Any]:
    """Each row's application reference named for people (`reference_label`): an application's number, not hall-42."""
    labels = selectors.references_describe(row.application_reference for row in rows)
    for row in rows:
        row.reference_label = labels.get(row.application_reference, row.application_reference)
    return rows


def _identifier_refusal(exc: LicenceIdentifierInvalid | LicenceNotFound) -> str:
    """Why a typed identifier leads to no licence, in the visitor's language (the error's rule, not its English)."""
    if isinstance(exc, LicenceNotFound):
        return gettext("没有找到这个证照标识对应的证照。请核对证照上的标识后重新输入。")
    rules = {str(error.get("rule")) for error in exc.errors}
    if "identifier.check_character" in rules:
        return gettext("证照标识的最后一位校验码不符，可能有字符输错。请逐位核对后重新输入。")
    return gettext("这不是有效的证照标识。证照标识以 1.2.156.3005.2 开头，由数字、大写字母和点组成。请核对后重新输入。")


def _verify_form_again(request: HttpRequest, typed: str, error: str, status: int) -> HttpResponse:
    """The form again, with what was typed (escaped by the template) and why it was refused, to correct it."""
    return render(request, "licences/verify_form.html", {"error": error, "typed": typed}, status=status)


def _with_uses_described(licences: list[Licence]) -> list[Licence]:
    """Each licence's uses named for people (`uses_described`): who in words, the application's number."""
    described = selectors.uses_described(use for licence in licences for use in licence.uses.all())
    for licence in licences:
        licence.uses_described = [use for use in described if use.licence_id == licence.pk]  # type: ignore[attr-defined]
    return licences


@require_http_methods(["GET", "HEAD"])
def verify_form_view(request: HttpRequest) -> HttpResponse:
    """The public form to type (or paste) a licence identifier; no sign-in. It leads to the verification page."""
    typed = str(request.GET.get("identifier", "")).strip()[:200]
    if not typed:
        return render(request, "licences/verify_form.html")
    try:
        identifier = identifier_parse(typed)
    except LicenceIdentifierInvalid as exc:
        return _verify_form_again(request, typed, _identifier_refusal(exc), 400)
    return HttpResponseRedirect(reverse("licences:verify", args=[str(identifier)]))


@require_http_methods(["GET", "HEAD"])
@rate_limited("licences.verify", methods=("GET", "HEAD"))
def verify_view(request: HttpRequest, identifier: str) -> HttpResponse:
    try:
        result = selectors.licence_verify(identifier)
    except LicenceIdentifierInvalid as exc:
        return _verify_form_again(request, identifier[:200], _identifier_refusal(exc), 400)
    except LicenceNotFound as exc:
        return _verify_form_again(request, identifier[:200], _identifier_refusal(exc), 404)
    return render(request, "licences/verify.html", {"result": result, "identifier": result.identifier})


def _licence_for(request: HttpRequest, identifier: str) -> Licence:
    try:
        licence = selectors.licence_get(identifier)
    except (LicenceIdentifierInvalid, LicenceNotFound):
        raise PermissionDenied from None  # the same answer whether it exists or not
    try:
        services.licence_reader_check(user=account_signed_in(request.user), licence=licence, action=services.READ)
    except LicenceActionDenied:
        raise PermissionDenied from None
    return licence


def _face_rows(licence: Licence) -> list[tuple[str, str]]:
    face = licence.face if isinstance(licence.face, dict) else {}
    return [
        (face_label(item), str(face[item["name"]])) for item in licence.licence_type.face_schema if item["name"] in face
    ]


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def detail_view(request: HttpRequest, identifier: str) -> HttpResponse:
    licence = _licence_for(request, identifier)
    form = TransitionForm(request.POST or None)
    if request.method == "POST":
        if not may_change(request.user, licence):
            raise PermissionDenied
        if form.is_valid():
            try:
                services.licence_transition(
                    licence=licence, action=form.cleaned_data["action"], reason=form.cleaned_data["reason"],
                    actor=request.user, effective_on=form.cleaned_data["effective_on"],  # type: ignore[arg-type]
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, gettext("状态已变更。"))
                return HttpResponseRedirect(reverse("licences:detail", args=[licence.identifier]))
    services.licence_read_record(user=account_signed_in(request.user), licence=licence, action=services.READ)
    context = {
        "licence": licence, "face": _face_rows(licence), "status": STATUS_LABELS[selectors.effective_status(licence)],
        "authentic": selectors.licence_authentic(licence), "changes": licence.status_changes.all(),
        "uses": selectors.uses_described(licence.uses.all()[:200]), "can_change": may_change(request.user, licence),
        "allowed": [t.label for t in transitions_from(licence.status)],
        "form": form, "print_form": PurposeForm(),
    }  # fmt: skip
    return render(request, "licences/detail.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "HEAD"])
def print_view(request: HttpRequest, identifier: str) -> HttpResponse:
    licence = _licence_for(request, identifier)
    form = PurposeForm(request.GET)
    if not form.is_valid():  # a copy without its purpose stamp is not printed: back to the licence to state one
        messages.error(request, gettext("请填写用途后再打印：打印件盖有“仅供办理…使用”字样。"))
        return HttpResponseRedirect(reverse("licences:detail", args=[licence.identifier]))
    purpose = form.cleaned_data["purpose"]
    services.licence_read_record(
        user=account_signed_in(request.user), licence=licence, action=services.PRINT, detail={"purpose": purpose}
    )
    url = _verification_url(request, licence.identifier)
    context = {"licence": licence, "face": _face_rows(licence), "holder_code": holder_code_of(licence),
               "purpose": purpose, "qr": qr_svg(url), "url": url,
               "status": STATUS_LABELS[selectors.effective_status(licence)]}  # fmt: skip
    return render(request, "licences/print.html", context)


@login_required
@require_http_methods(["GET", "HEAD"])
def document_view(request: HttpRequest, identifier: str) -> HttpResponse:
    licence = _licence_for(request, identifier)
    services.licence_read_record(user=account_signed_in(request.user), licence=licence, action=services.EXPORT)
    body = json.dumps(licence_export(licence), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="licence-{licence.identifier}.json"'
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def mine_view(request: HttpRequest) -> HttpResponse:
    indexes = services.holder_indexes_of_user(account_signed_in(request.user))
    grantees = {user.pk: user for user in services.grantees_available()}
    form = AuthorizationForm(request.POST or None, grantees=grantees.values())
    if request.method == "POST" and form.is_valid():
        grantee = grantees.get(form.cleaned_data["grantee"])
        if grantee is None:  # the choice field accepts only these: for the type checker
            form.add_error("grantee", gettext("请选择被授权的系统或服务账户。"))
        else:
            try:
                services.holder_authorization_grant(
                    holder_user=account_signed_in(request.user), grantee=grantee,
                    application_reference=form.cleaned_data["application_reference"],
                    valid_for=timedelta(days=form.cleaned_data["valid_days"]),
                )  # fmt: skip
            except DomainError as exc:
                rules = {str(error.get("rule")) for error in getattr(exc, "errors", [])}
                reference = any(rule.startswith("application_reference.") for rule in rules)
                form.add_error(None, gettext("办件编号须为 1 至 64 个可打印字符。") if reference else exc.detail)
            else:
                messages.success(request, gettext("授权已记录。"))
                return HttpResponseRedirect(reverse("licences:mine"))
    resident = account_signed_in(request.user)
    context = {
        "unbound": not indexes, "licences": _with_uses_described(selectors.licences_of_resident(resident)),
        "authorizations": _described(list(selectors.authorizations_of_resident(resident))), "form": form,
        "status_labels": STATUS_LABELS,
    }  # fmt: skip
    return render(request, "licences/mine.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def authorization_withdraw_view(request: HttpRequest, authorization_id: int) -> HttpResponse:
    authorization = HolderAuthorization.objects.filter(pk=authorization_id).first()
    if authorization is None:
        raise PermissionDenied
    try:
        services.holder_authorization_withdraw(authorization=authorization, holder_user=account_signed_in(request.user))
    except DomainError as exc:
        raise PermissionDenied from exc
    messages.success(request, gettext("授权已撤回。"))
    return HttpResponseRedirect(reverse("licences:mine"))


def _require_issuer(request: HttpRequest) -> None:
    if not (request.user.has_perm(ISSUE_PERMISSION) and getattr(request.user, "department_id", None)):
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def issue_view(request: HttpRequest) -> HttpResponse:
    _require_issuer(request)
    department_id = request.user.department_id  # type: ignore[union-attr]
    types = selectors.licence_types_issuable(department_id)
    code = request.GET.get("type") or request.POST.get("type") or ""
    licence_type = next((t for t in types if t.code == code), None)
    form = IssueForm(request.POST or None, licence_type=licence_type) if licence_type else None
    status = 200
    if form is not None and licence_type is not None and request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                holder = services.holder_resolve(form.cleaned_data["holder_code"])
                licence = services.licence_issue(
                    licence_type=licence_type, holder=holder, face=form.face(), actor=request.user,  # type: ignore[arg-type]
                    valid_from=form.cleaned_data["valid_from"], valid_until=form.cleaned_data["valid_until"],
                    number=form.cleaned_data["number"], source="page",
                )  # fmt: skip
            except DomainError as exc:
                form.add_error(None, exc.detail)
                for error in exc.errors:
                    loc = [str(part) for part in error.get("loc", [])]
                    name = f"face_{loc[1]}" if len(loc) > 1 and loc[0] == "face" else (loc[0] if loc else "")
                    if name in form.fields:
                        form.add_error(name, error.get("msg", ""))
            else:
                messages.success(request, f"已签发：{licence.identifier}")
                return HttpResponseRedirect(reverse("licences:detail", args=[licence.identifier]))
    context = {"types": types, "licence_type": licence_type, "form": form}
    return render(request, "licences/issue.html", context, status=status)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def bulk_view(request: HttpRequest) -> HttpResponse:
    _require_issuer(request)
    department_id = request.user.department_id  # type: ignore[union-attr]
    form = BulkForm(request.POST or None, request.FILES or None, department_id=department_id)
    report = None
    error = ""
    if request.method == "POST" and form.is_valid():
        licence_type: LicenceType = form.cleaned_data["licence_type"]
        try:
            report = licences_issue_from_csv(
                licence_type=licence_type, data=form.cleaned_data["file"].read(), actor=request.user,  # type: ignore[arg-type]
            )  # fmt: skip
        except DomainError as exc:
            error = exc.detail
    columns: dict[str, Any] = {
        t.code: ["holder_code", "valid_from", "valid_until", "number", "reference", *[f["name"] for f in t.face_schema]]
        for t in selectors.licence_types_issuable(department_id)
    }
    status = 400 if (form.errors or error) else 200
    context = {"form": form, "report": report, "error": error, "columns": columns}
    return render(request, "licences/bulk.html", context, status=status)


app_urlpatterns: list[URLPattern] = [
    path("mine/", mine_view, name="mine"),
    path("authorizations/<int:authorization_id>/withdraw/", authorization_withdraw_view, name="authorization-withdraw"),
    path("issue/", issue_view, name="issue"),
    path("bulk/", bulk_view, name="bulk"),
    path("verify/", verify_form_view, name="verify-form"),
    path("verify/<str:identifier>/", verify_view, name="verify"),
    path("<str:identifier>/print/", print_view, name="print"),
    path("<str:identifier>/document/", document_view, name="document"),
    path("<str:identifier>/", detail_view, name="detail"),
]
