from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from rongcheng.audit.models import AuditAnchor, AuditRecord
from rongcheng.audit.tests.helpers import append

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
