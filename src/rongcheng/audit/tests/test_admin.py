from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from rongcheng.audit.models import AuditAnchor, AuditRecord
from rongcheng.audit.tests.helpers import ALICE, append, on_postgresql

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_request():
    user = get_user_model().objects.create_superuser(username="root", password="x-Root-2024!")
    request = RequestFactory().get("/admin/audit/auditrecord/")
    request.user = user
    return request


@pytest.mark.parametrize("model", [AuditRecord, AuditAnchor])
def test_read_only_even_for_a_superuser(model, superuser_request):
    model_admin = admin.site._registry[model]
    assert model_admin.has_add_permission(superuser_request) is False
    assert model_admin.has_change_permission(superuser_request) is False
    assert model_admin.has_delete_permission(superuser_request) is False
    assert model_admin.has_view_permission(superuser_request) is True


def test_viewing_through_the_admin_is_audited(client):
    (record,) = append(1)
    user = get_user_model().objects.create_superuser(username="root", password="x-Root-2024!")
    client.force_login(user)
    assert client.get("/admin/audit/auditrecord/").status_code == 200
    assert client.get(f"/admin/audit/auditrecord/{record.pk}/change/").status_code == 200
    views = list(AuditRecord.objects.filter(action="audit.search").order_by("id").values_list("target_id", "detail"))
    assert views == [("", {"via": "admin"}), (str(record.pk), {"via": "admin"})]


@on_postgresql
def test_the_admins_search_by_a_target_finds_a_page_read_listing_it(
    superuser_request, django_capture_on_commit_callbacks
):
    """A page of persons read at once is one record listing them (PostgreSQL): searching the admin for a person's id
    finds it, as the staff page's search does; an id not on the page finds nothing."""
    from django.db import transaction

    from rongcheng.audit.services import audit_record_page

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        audit_record_page(action="registries.person.read", actor=ALICE, target_type="registries.person",
                          page_sql="SELECT n FROM generate_series(%s, %s) AS n ORDER BY n", page_params=[41, 43],
                          width=1, limit=3)  # fmt: skip
    (paged,) = AuditRecord.objects.filter(action="registries.person.read")
    model_admin = admin.site._registry[AuditRecord]

    def found(term: str) -> list[int]:
        results, _duplicates = model_admin.get_search_results(superuser_request, AuditRecord.objects.all(), term)
        return list(results.values_list("pk", flat=True))

    assert found("42") == [paged.pk]
    assert found("44") == []
