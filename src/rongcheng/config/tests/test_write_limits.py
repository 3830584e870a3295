"""Every write is rate-limited per account (rongcheng.config.write_limits), proved over every route of the site and
every operation of the API's OpenAPI document, so a write route added tomorrow cannot escape; and per kind of write,
a request over its limit is a 429 with Retry-After that changes nothing (no row, no audit record: the refusals are
summarised later, one record per scope and window)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import resolve

from rongcheng.accounts.models import User
from rongcheng.audit.models import AuditRecord
from rongcheng.config.api import api
from rongcheng.config.tests.test_routes import site_routes
from rongcheng.config.write_limits import (
    DEFAULT_SCOPE,
    SAFE_METHODS,
    WRITE_SCOPES,
    WriteRateLimitMiddleware,
    api_route,
    write_scope,
)
from rongcheng.hall.models import CalendarDay
from rongcheng.hall.tests import factories as hall
from rongcheng.kernel.ratelimit import clock as ratelimit_clock
from rongcheng.kernel.ratelimit import refusal_summaries_flush
from rongcheng.oidc.tests.test_api import BODY
from rongcheng.registries.tests import factories as registries
from rongcheng.staff.models import Duty
from rongcheng.staff.tests.factories import administrator, department
from rongcheng.staff.tests.test_api import bearer

pytestmark = pytest.mark.django_db

WRITE_SCOPE_NAMES = sorted({*WRITE_SCOPES.values(), DEFAULT_SCOPE})


def _api_operations() -> list[tuple[str, str, Any]]:
    """(method, path, bound operation) of every operation the API serves."""
    found = []
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                found += [(method, f"{bound.prefix}{path}", operation) for method in operation.methods]
    return found


def _page_routes() -> list[tuple[str, str]]:
    """(path, view name) of every page route: every route of the resolver outside the API."""
    return [(r.path, resolve(r.path).view_name) for r in site_routes() if not r.path.startswith("/api/")]


def _rows() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


# --- coverage: no write route escapes --------------------------------------------------------------------------------


def test_every_write_scope_is_configured_with_a_per_account_limit():
    for scope in WRITE_SCOPE_NAMES:
        assert "account" in django_settings.RATE_LIMITS[scope], scope


def test_every_declared_route_exists():
    """A renamed route would silently fall back to write.default: every name in the table must still exist."""
    names = {name for _, name in _page_routes()}
    names |= {api_route(operation.view_func) for _, _, operation in _api_operations()}
    groups = {name.rpartition(":")[0] for name in names}
    for route in WRITE_SCOPES:
        prefix, _, last = route.rpartition(":")
        assert (prefix in groups) if last == "*" else (route in names), route


def test_every_page_route_passes_through_the_write_limit():
    assert "rongcheng.config.write_limits.WriteRateLimitMiddleware" in django_settings.MIDDLEWARE
    assert WriteRateLimitMiddleware.__module__ == "rongcheng.config.write_limits"
    routes = _page_routes()
    assert len(routes) > 100
    for path, name in routes:
        assert write_scope(name) in django_settings.RATE_LIMITS, (path, name)


def test_every_api_write_operation_is_limited_and_declares_its_429():
    document = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1")))  # as published
    writes = [(m, p, o) for m, p, o in _api_operations() if m not in SAFE_METHODS]
    assert len(writes) > 30
    for method, path, operation in writes:
        scope = getattr(operation.view_func, "write_scope", None)
        assert scope == write_scope(api_route(operation.view_func)), (method, path)
        assert "account" in django_settings.RATE_LIMITS[scope]
        declared = document["paths"][f"/api/v1/{path}".replace("//", "/")][method.lower()]["responses"]["429"]
        assert "Retry-After" in declared["headers"], (method, path)
        assert "application/problem+json" in declared["content"], (method, path)


# --- every page write over its limit: 429, Retry-After, nothing changed ---------------------------------------------


def test_every_page_write_over_its_limit_is_a_429_that_changes_nothing(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **{s: {"account": "0/3600"} for s in WRITE_SCOPE_NAMES}}
    client = Client()
    client.force_login(hall.applicant())
    before = _rows()
    refused_scopes = set()
    for path, name in _page_routes():
        response = client.post(path, {"anything": "1"})
        assert response.status_code == 429, (path, name, response.status_code)
        assert int(response["Retry-After"]) > 0
        refused_scopes.add(write_scope(name))
    assert _rows() == before  # no row anywhere, no audit record
    assert refused_scopes >= {"staff.admin", "registries.write", "registries.import", "licences.write",
                              "licences.bulk", "hall.apply", "hall.decide", "oidc.clients", "identity.account",
                              "write.default"}  # fmt: skip
    # The refusals are summarised once their window has ended: one record per scope.
    assert refusal_summaries_flush(now=ratelimit_clock() + settings.RATE_LIMIT_SUMMARY_SECONDS) == len(refused_scopes)
    assert AuditRecord.objects.filter(action="kernel.rate_limit.refusals").count() == len(refused_scopes)


def test_a_page_write_is_limited_per_account_and_answers_the_429_page(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "identity.account": {"account": "1/3600"}}
    user = hall.applicant()
    client = Client()
    client.force_login(user)
    assert client.post("/account/password/", {}).status_code == 200  # the form, with its errors: counted
    before = _rows()
    refused = client.post("/account/password/", {})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "请求过于频繁" in refused.content.decode()
    assert _rows() == before
    other = Client()
    other.force_login(hall.applicant())  # per account: another may still write
    assert other.post("/account/password/", {}).status_code == 200


# --- the API, per kind of write ---------------------------------------------------------------------------------------


def _refused(response) -> dict[str, Any]:
    assert response.status_code == 429, response.content.decode()
    assert response["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["type"].endswith("/problems/rate-limited")
    assert int(response["Retry-After"]) == document["retry_after"] > 0
    return document


def _post(client: Client, path: str, body: dict[str, Any], headers: dict[str, str] | None = None):
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers or {})


def test_staff_administration_through_a_bearer_token_is_limited_per_account(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "staff.admin": {"account": "2/3600"}}
    sysadmin = administrator(Duty.SYSTEM, "sysadmin")
    token = bearer(sysadmin, "staff:admin")
    dept = department().pk
    for name in ("new.one", "new.two"):
        body = {"username": name, "display_name": "新人", "department_id": dept}
        assert _post(Client(), "/api/v1/staff/accounts", body, token).status_code == 201
    before = _rows()
    body = {"username": "new.three", "display_name": "新人", "department_id": dept}
    _refused(_post(Client(), "/api/v1/staff/accounts", body, token))
    assert _rows() == before
    assert not User.objects.filter(username="new.three").exists()


def test_an_officer_deciding_is_limited_by_hall_decide_not_by_the_applicants_scope(settings):
    """600 decisions an hour are real work: hall.decide is its own scope, the applicants' flood cannot spend it."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hall.apply": {"account": "1/3600"},
                            "hall.decide": {"account": "1/3600"}}  # fmt: skip
    item = hall.service()
    applicant = Client()
    applicant.force_login(hall.applicant())
    assert _post(applicant, "/api/v1/hall/applications", {"service": "GSJ-001"}).status_code == 201
    before = _rows()
    _refused(_post(applicant, "/api/v1/hall/applications", {"service": "GSJ-001"}))
    assert _rows() == before
    application = hall.submitted(hall.applicant(), item)
    officer = Client()
    officer.force_login(hall.officer())
    path = f"/api/v1/hall/applications/{application.pk}/transitions"
    assert _post(officer, path, {"transition": "accept"}).status_code == 200
    before = _rows()
    _refused(_post(officer, path, {"transition": "review"}))
    assert _rows() == before
    application.refresh_from_db()
    assert application.state == "accepted"


def test_oidc_client_registration_is_limited_per_account(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "oidc.clients": {"account": "1/3600"}}
    manager = administrator(Duty.SECURITY, "secadmin")
    registries.department()  # FZ-GAJ, the department the client is registered for
    manager.user_permissions.add(Permission.objects.get(content_type__app_label="oidc", codename="manage_client"))
    browser = Client()
    browser.force_login(manager)
    assert _post(browser, "/api/v1/oidc/clients", BODY).status_code == 201
    before = _rows()
    _refused(_post(browser, "/api/v1/oidc/clients", {**BODY, "name": "tjj-other"}))
    assert _rows() == before


def test_the_halls_configuration_is_limited_per_account(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "hall.admin": {"account": "1/3600"}}
    clerk = hall.officer()
    clerk.user_permissions.add(Permission.objects.get(codename="change_calendarday"))
    client = Client()
    client.force_login(User.objects.get(pk=clerk.pk))
    day = {"kind": "holiday", "name": "测试"}
    assert client.put("/api/v1/hall/calendar/2026-12-25", day, content_type="application/json").status_code == 200
    before = _rows()
    _refused(client.delete("/api/v1/hall/calendar/2026-12-25"))  # a DELETE is a write too
    assert _rows() == before
    assert CalendarDay.objects.filter(date="2026-12-25").exists()
