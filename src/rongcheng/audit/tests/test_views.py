from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.audit.tests.helpers import append
from rongcheng.kernel.tests.contexts import request_from

pytestmark = [pytest.mark.django_db, pytest.mark.urls("rongcheng.audit.tests.urls")]


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user(username="auditor", password="x-Audit-2024!", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditrecord", content_type__app_label="audit"))
    client.force_login(user)
    return user


@pytest.fixture
def other_administrator(client):
    user = get_user_model().objects.create_user(username="sysadmin", password="x-System-2024!", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def resident(client):
    user = get_user_model().objects.create_user(username="resident", password="x-Resident-2024!")
    client.force_login(user)
    return user


def test_url():
    assert reverse("audit:search") == "/audit/"


def test_anonymous_is_sent_to_sign_in(client):
    append(1)
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('identity:sign-in')}?next=/audit/"
    assert AuditRecord.objects.count() == 1


def _only_the_refusal(response) -> None:
    """Refused: no search ran or was recorded; the refusal itself is the one new record (issue 20, item 3)."""
    assert response.status_code == 403
    assert AuditRecord.objects.count() == 2
    refusal = AuditRecord.objects.latest("id")
    assert (refusal.action, refusal.outcome, refusal.target_type) == ("page.refused", "denied", "audit:search")


def test_non_staff_is_refused(client, resident):
    append(1)
    _only_the_refusal(client.get("/audit/"))


def test_staff_without_the_audit_right_is_refused_and_only_the_refusal_is_recorded(client, other_administrator):
    append(1)
    _only_the_refusal(client.get("/audit/", {"action": "registries"}))


def test_staff_sees_results_and_the_search_is_audited(client, staff):
    mine = append(2, target_id="P1")
    append(1, action="registries.entity.read", target_id="E1")
    response = client.get("/audit/", {"action": "registries.person", "target_id": "P1"}, REMOTE_ADDR="192.0.2.9")
    assert response.status_code == 200
    assert [r.pk for r in response.context["page"].items] == [mine[1].pk, mine[0].pk]
    body = response.content.decode()
    assert "审计日志" in body
    assert "registries.person.read" in body
    assert "registries.entity.read" not in body

    search = AuditRecord.objects.latest("id")
    assert (search.action, search.actor_kind, search.actor_id, search.actor_label) == (
        "audit.search",
        "user",
        str(staff.pk),
        "auditor",
    )
    assert (search.target_type, search.outcome, search.source_address) == ("audit.trail", "success", "192.0.2.9")
    assert search.detail == {"action": "registries.person", "target_id": "P1", "page": "first", "shown": 2}


def test_pages(client, staff):
    append(60)
    first = client.get("/audit/", {"action": "registries"})
    assert len(first.context["page"].items) == 50
    next_query = first.context["next_query"]
    assert next_query is not None
    assert f'href="?{next_query.replace("&", "&amp;")}"' in first.content.decode()
    second = client.get(f"/audit/?{next_query}")
    assert second.status_code == 200
    assert len(second.context["page"].items) == 10
    assert second.context["next_query"] is None


def test_invalid_dates_search_nothing_and_record_nothing(client, staff):
    append(1)
    response = client.get("/audit/", {"occurred_from": "2024-02-01", "occurred_to": "2024-01-01"})
    assert response.status_code == 400
    assert response.context["page"] is None
    assert "起始日期晚于截止日期" in response.content.decode()
    assert AuditRecord.objects.count() == 1


def test_forged_cursor_records_nothing(client, staff):
    append(1)
    response = client.get("/audit/", {"cursor": "forged"})
    assert response.status_code == 400
    assert AuditRecord.objects.count() == 1


def test_shows_actor_and_outcome_in_chinese(client, staff):
    append(1, actor=Actor("api_client", "9", "gjj-sync"), outcome="denied")
    body = client.get("/audit/").content.decode()
    assert "接口客户端 gjj-sync (9)" in body
    assert "拒绝" in body


def test_shows_the_request_id_and_finds_the_records_of_one_request(client, staff):
    with request_from("192.0.2.7") as context:
        one_request = append(2)
    append(1)
    body = client.get("/audit/", {"action": "registries"}).content.decode()
    assert "请求编号" in body
    assert f'<a href="?request_id={context.request_id}"' in body

    response = client.get("/audit/", {"request_id": context.request_id})
    assert response.status_code == 200
    assert [r.pk for r in response.context["page"].items] == [one_request[1].pk, one_request[0].pk]
    search = AuditRecord.objects.latest("id")
    assert (search.action, search.detail) == (
        "audit.search",
        {"request_id": context.request_id, "page": "first", "shown": 2},
    )
    # The search is recorded under the id of the request that made it, which the response returns.
    assert search.request_id == response["X-Request-ID"]


def test_shows_no_request_id_for_records_written_outside_any_request(client, staff):
    append(1)
    response = client.get("/audit/", {"action": "registries"})
    assert "?request_id=" not in response.content.decode()
