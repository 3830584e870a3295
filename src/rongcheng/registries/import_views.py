"""The staff page for bulk import: upload a CSV or Excel file, read the report, download the error report.

The page calls `registry_import`, as the command line does. The error report of an import is kept as a CSV file in the
data directory for a day, under a random name that only the session which made it knows; it holds row numbers,
columns and rules, never the rows' data.
"""

from __future__ import annotations

import csv
import secrets
import time
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from rongcheng.audit.services import actor_from_user
from rongcheng.registries.importing import COLUMNS, ImportFileRefused, ImportReport, registry_import

IMPORT_PERMISSION = "registries.add_person"
ENTITY_IMPORT_PERMISSION = "registries.add_legalentity"
ERRORS_SHOWN = 100  # on the page; the download has them all
REPORT_LIFETIME_SECONDS = 24 * 3600
_SESSION_KEY = "registries_import_reports"
_SESSION_KEEPS = 10


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("数据类别"), choices=[("persons", _("人口库（自然人）")), ("entities", _("法人库（法人）"))]
    )
    file = forms.FileField(label=_("文件"), help_text=_("CSV（UTF-8 编码）或 Excel（.xlsx），第一行为列名。"))
    strict = forms.BooleanField(
        label=_("严格模式"), required=False, help_text=_("任何一行有错误，则整个文件都不导入。")
    )


def _require_staff(request: HttpRequest) -> None:
    if not (request.user.is_staff and request.user.has_perm(IMPORT_PERMISSION)):
        raise PermissionDenied


def _reports_directory() -> Path:
    return Path(settings.DATA_DIR) / "import-reports"


def _keep_error_report(request: HttpRequest, report: ImportReport) -> str:
    """Writes the error report and lets this session download it; forgets reports older than a day."""
    directory = _reports_directory()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.csv"):
        if old.stat().st_mtime < time.time() - REPORT_LIFETIME_SECONDS:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(18)
    with (directory / f"{token}.csv").open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(report.error_rows())
    kept = [*request.session.get(_SESSION_KEY, []), token][-_SESSION_KEEPS:]
    request.session[_SESSION_KEY] = kept
    return token


def _columns_help() -> list[dict[str, Any]]:
    return [
        {"kind": kind, "columns": [(c.field, c.chinese, c.required) for c in columns]}
        for kind, columns in COLUMNS.items()
    ]


@login_required
@require_http_methods(["GET", "POST"])
def import_view(request: HttpRequest) -> HttpResponse:
    _require_staff(request)
    context: dict[str, Any] = {"columns_help": _columns_help(), "report": None}
    if request.method != "POST":
        context["form"] = ImportForm()
        return render(request, "registries/import.html", context)
    form = ImportForm(request.POST, request.FILES)
    context["form"] = form
    if not form.is_valid():
        return render(request, "registries/import.html", context, status=400)
    kind = form.cleaned_data["kind"]
    if kind == "entities" and not request.user.has_perm(ENTITY_IMPORT_PERMISSION):
        form.add_error("kind", _("您没有导入法人库的权限。"))
        return render(request, "registries/import.html", context, status=403)
    upload = form.cleaned_data["file"]
    try:
        report = registry_import(
            kind=kind,
            source=upload,
            filename=upload.name or "upload",
            strict=form.cleaned_data["strict"],
            actor=actor_from_user(request.user),
        )
    except ImportFileRefused as exc:
        context["refused"] = exc
        return render(request, "registries/import.html", context, status=400)
    context["report"] = report
    context["errors_shown"] = report.errors[:ERRORS_SHOWN]
    if report.errors:
        context["error_report_token"] = _keep_error_report(request, report)
    return render(request, "registries/import.html", context)


@login_required
@require_http_methods(["GET"])
def import_errors_view(request: HttpRequest, token: str) -> FileResponse:
    _require_staff(request)
    if token not in request.session.get(_SESSION_KEY, []):
        raise Http404("no such error report for this session")
    report_file = _reports_directory() / f"{token}.csv"
    if not report_file.is_file():
        raise Http404("the error report has expired")
    return FileResponse(
        report_file.open("rb"), as_attachment=True, filename="import-errors.csv", content_type="text/csv; charset=utf-8"
    )


urlpatterns: list[URLPattern] = [
    path("import/", import_view, name="import"),
    path("import/<slug:token>/errors.csv", import_errors_view, name="import-errors"),
]
