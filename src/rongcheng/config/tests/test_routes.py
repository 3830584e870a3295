"""Policies that hold for every route of the site, proved by walking the URL resolver rather than listing routes by
hand: a route added tomorrow is walked too.

- No route bypasses the registries' selectors: the admin serves no personal-data model and filters no changelist on
  an undeclared field (issue 20, item 1).
- Every refusal (403) leaves exactly one "denied" audit record, pages and API alike; no answer leaves two (item 3).
- Answers that may carry personal data are `Cache-Control: no-store` (item 8).
- Control characters in a query string or form field are refused with a 400 that changes nothing (item 9).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from rongcheng.accounts.models import AccountKind, User
from rongcheng.audit.models import AuditRecord
from rongcheng.config.adminsite import PERSONAL_DATA_MODELS
from rongcheng.hall.tests import factories as hall
from rongcheng.registries.tests.factories import make_person

pytestmark = pytest.mark.django_db

_CONVERTER = re.compile(r"<(?:(?P<kind>\w+):)?(?P<name>\w+)>")
_SAMPLES = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000001"}


@dataclass(frozen=True)
class Route:
    route: str  # the pattern, as declared
    path: str  # a path that resolves to it, with sample values
    callback: Any


def _sample(route: str) -> str | None:
    if route.startswith("^"):  # a regular expression (the admin's app index): literal ones only
        literal = route.lstrip("^").rstrip("$").replace("\\", "")
        return None if re.search(r"[()\[\]|?*+{}]", literal) else literal
    return _CONVERTER.sub(lambda m: _SAMPLES.get(m["kind"] or "str", "x"), route)


def _walk(patterns: list[Any], prefix: str = "", sample: str = "") -> Iterator[Route]:
    for entry in patterns:
        piece = str(entry.pattern)
        path = _sample(piece)
        if path is None:
            continue
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + piece, sample + path)
        elif isinstance(entry, URLPattern):
            yield Route(prefix + piece, "/" + sample + path, entry.callback)


def site_routes() -> list[Route]:
    routes = list(_walk(get_resolver().url_patterns))
    assert len(routes) > 100  # the walk reaches the apps, the API and the admin
    return routes


def _denials() -> int:
    return AuditRecord.objects.filter(outcome="denied").count()


# --- item 1: the admin is no back door -------------------------------------------------------------------------------


def _admin_of(route: Route) -> Any:
    return getattr(route.callback, "model_admin", None)


def test_no_route_of_the_admin_serves_a_personal_data_model():
    served = {_admin_of(r).model._meta.label_lower for r in site_routes() if _admin_of(r) is not None}
    assert served, "the walk found no admin route"
    assert served & PERSONAL_DATA_MODELS == set()
    assert "registries.person" not in served


def _changelists() -> dict[str, tuple[str, Any]]:
    """Changelist path of every registered ModelAdmin, by model label."""
    return {
        _admin_of(r).model._meta.label_lower: ("/" + r.path.lstrip("/"), _admin_of(r))
        for r in site_routes()
        if _admin_of(r) is not None and r.route.endswith(f"{_admin_of(r).model._meta.model_name}/")
    }


def _undeclared_fields(model: type[Model], declared: frozenset[str]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in declared]


def test_no_admin_changelist_filters_on_an_undeclared_field(client):
    """As a superuser, every field a changelist does not declare as a filter is refused as a lookup, with each
    transform an attacker would use to rebuild a masked value."""
    root = User.objects.create_superuser(username="root", password="Rc-test-2017!")
    client.force_login(root)
    changelists = _changelists()
    assert {"accounts.user", "audit.auditrecord", "identity.accountsession"} <= set(changelists)
    for label, (path, model_admin) in changelists.items():
        assert client.get(path).status_code == 200, label
        declared = model_admin.declared_lookups(None)
        for name in _undeclared_fields(model_admin.model, declared):
            for lookup in (name, f"{name}__regex", f"{name}__startswith", f"{name}__year", f"{name}__gte"):
                response = client.get(path, {lookup: "1"})
                assert response.status_code == 400, f"{label} ?{lookup}= answered {response.status_code}"
    # A declared filter still works.
    assert client.get(changelists["accounts.user"][0], {"kind__exact": "staff"}).status_code == 200


def test_the_masked_back_door_of_issue_20_is_closed(client):
    """A window officer who reads masked ID numbers cannot rebuild them through the admin."""
    person = make_person()
    officer = hall.officer()
    officer.user_permissions.add(*Permission.objects.filter(codename__in=("view_person", "view_user")))
    client.force_login(officer)
    assert client.get("/admin/registries/person/", {"id": person.pk, "birth_date__year": 1985}).status_code == 404
    assert client.get("/admin/accounts/user/", {"id_number_index__startswith": "a"}).status_code == 400


# --- item 3: refusals audited once ----------------------------------------------------------------------------------


def _callers() -> dict[str, Client]:
    resident = hall.applicant()
    without = hall.officer(can_decide=False)
    with_permissions = hall.officer()
    with_permissions.user_permissions.add(
        *Permission.objects.filter(codename__in=("view_person", "view_legalentity", "view_user"))
    )
    callers = {"anonymous": Client()}
    for name, user in (("resident", resident), ("officer_without", without), ("officer_with", with_permissions)):
        client = Client()
        client.force_login(user)
        callers[name] = client
    return callers


def test_every_refusal_on_every_route_is_audited_exactly_once():
    hall.service()
    callers = _callers()
    refused: list[str] = []
    for route in site_routes():
        for name, client in callers.items():
            before = _denials()
            response = client.get(route.path)
            written = _denials() - before
            if response.status_code == 403:
                refused.append(f"{name} {route.path}")
                assert written == 1, f"{name} GET {route.path}: 403 with {written} refusal records"
            else:
                assert written <= 1, f"{name} GET {route.path}: {response.status_code} with {written} records"
    # The refusals of the issue are among them.
    for expected in ("officer_with /audit/", "resident /hall/workbench/", "resident /staff/"):
        assert expected in refused


def test_a_refused_page_record_names_the_route_not_the_path():
    client = Client()
    client.force_login(hall.applicant())
    response = client.get("/audit/")
    assert response.status_code == 403
    assert "无权" in response.content.decode()
    (record,) = AuditRecord.objects.filter(outcome="denied")
    assert (record.action, record.target_type, record.detail) == (
        "page.refused", "audit:search", {"method": "GET", "route": "audit/", "status": 403, "reason": "forbidden"},
    )  # fmt: skip


def test_another_residents_application_is_a_404_and_a_refusal_record():
    item = hall.service()
    owner, other = hall.applicant(), hall.applicant()
    application = hall.submitted(owner, item)
    client = Client()
    client.force_login(other)
    before = AuditRecord.objects.count()
    for path in (f"/hall/applications/{application.pk}/", f"/api/v1/hall/applications/{application.pk}"):
        response = client.get(path)
        assert response.status_code == 404, path
    refusals = list(AuditRecord.objects.filter(outcome="denied").order_by("id"))
    assert [(r.action, r.detail["status"], r.detail["reason"]) for r in refusals] == [
        ("page.refused", 404, "hall-application-not-found"), ("api.refused", 404, "hall-application-not-found"),
    ]  # fmt: skip
    assert AuditRecord.objects.count() == before + 2


# --- item 8: no-store -----------------------------------------------------------------------------------------------


def test_answers_to_signed_in_and_api_requests_are_not_stored_by_any_cache():
    signed_in = _callers()["officer_with"]
    anonymous = Client()
    for route in site_routes():
        response = signed_in.get(route.path)
        control = response.get("Cache-Control", "")
        assert "no-store" in control or "public" in control, f"signed in GET {route.path}: {control!r}"
        if route.path.startswith("/api/"):
            control = anonymous.get(route.path).get("Cache-Control", "")
            assert "no-store" in control or "public" in control, f"GET {route.path}: {control!r}"
    # Public pages read anonymously stay cacheable; declared-public answers keep their header.
    assert "no-store" not in anonymous.get("/").get("Cache-Control", "")
    assert anonymous.get("/.well-known/licence-keys")["Cache-Control"].startswith("public")


# --- item 9: control characters -------------------------------------------------------------------------------------


def test_control_characters_in_a_query_are_refused_on_every_route():
    hall.service()
    client = Client()
    before = AuditRecord.objects.count()
    for route in site_routes():
        response = client.get(route.path + "?q=%00zzzz")
        assert response.status_code == 400, f"GET {route.path}?q=%00zzzz answered {response.status_code}"
        if route.path.startswith("/api/"):
            assert response["Content-Type"] == "application/problem+json"
            assert response.json()["errors"][0]["rule"] == "text.control_characters"
    assert AuditRecord.objects.count() == before


def test_a_leading_nul_no_longer_matches_the_whole_catalogue():
    hall.service()
    assert Client().get("/api/v1/hall/services", {"q": "zzzz"}).json() == []
    assert Client().get("/api/v1/hall/services", {"q": "\x00zzzz"}).status_code == 400
    assert Client().get("/hall/", {"q": "\x00zzzz"}).status_code == 400


@pytest.mark.parametrize("value", ["\x00root", "ro\x1bot", "root\x7f"])
def test_control_characters_in_a_form_field_are_refused_and_change_nothing(value):
    User.objects.create_user(username="root", password="Rc-test-2017!", kind=AccountKind.RESIDENT)
    before = (AuditRecord.objects.count(), User.objects.get(username="root").last_login)
    response = Client().post("/account/sign-in/", {"username": value, "password": "Rc-test-2017!"})
    assert response.status_code == 400
    assert "请求无效" in response.content.decode()
    assert (AuditRecord.objects.count(), User.objects.get(username="root").last_login) == before
    # Line breaks and tabs are text, not control: a textarea may hold them.
    ok = Client().post("/account/sign-in/", {"username": "root\tx", "password": "a\r\nb"})
    assert ok.status_code == 200
