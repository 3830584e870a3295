"""The registries' pages: an authorization matrix for each, masking by entitlement, corrections through the services,
and "who read my data"."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from rongcheng.audit.models import AuditRecord
from rongcheng.kernel.divisions import division_get
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.registries.models import LegalEntity, Person, RecordVersion
from rongcheng.registries.permissions import reader_for
from rongcheng.registries.selectors import person_read
from rongcheng.registries.services import person_correct
from rongcheng.registries.tests.factories import (
    SYSTEM,
    api_client,
    entitle,
    make_entity,
    make_id_number,
    make_person,
    resident,
    staff,
)

pytestmark = pytest.mark.django_db

ID_NUMBER = "350102198503120018"


@pytest.fixture
def person() -> Person:
    return make_person(id_number=ID_NUMBER, name="林则徐", phone="13812345678", address="福州市鼓楼区三坊七巷1号")


@pytest.fixture
def entity(person) -> LegalEntity:
    return make_entity(name="福州榕城科技有限公司", legal_representative_id=person.pk)


def _grant(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


@pytest.fixture
def police_role() -> Group:
    role = Group.objects.create(name="户籍民警")
    entitle(role=role, fields=("id_number", "name", "phone", "birth_date", "address"), purpose="public_security")
    entitle(role=role, fields=("id_number", "name", "phone", "birth_date", "address"), purpose="data_quality")
    return role


def _state() -> tuple[int, int, list[tuple[int, str, int]], list[tuple[int, str, int]]]:
    """Everything a page could change: audit records (but the refusals, counted by the tests), versions, the persons'
    and entities' rows."""
    return (
        AuditRecord.objects.exclude(outcome="denied").count(),
        RecordVersion.objects.count(),
        list(Person.objects.order_by("pk").values_list("pk", "status", "version")),
        list(LegalEntity.objects.order_by("pk").values_list("pk", "status", "version")),
    )


def _pages(person: Person, entity: LegalEntity) -> list[tuple[str, str, str, dict[str, str]]]:
    """(name, method, url, data) of every staff page, with the permission each one needs."""
    return [
        ("person-search", "get", reverse("registries:person-search"), {"purpose": "public_security", "name": "林则徐"}),
        ("person-detail", "get", reverse("registries:person-detail", args=[person.pk]), {"purpose": "public_security"}),
        ("person-correct", "get", reverse("registries:person-correct", args=[person.pk]), {}),
        (
            "person-correct",
            "post",
            reverse("registries:person-correct", args=[person.pk]),
            {"name": "林徐", "reason": "户籍更正", "expected_version": "1"},
        ),
        (
            "person-close",
            "post",
            reverse("registries:person-close", args=[person.pk]),
            {"status": "deceased", "on": "2020-01-01", "reason": "死亡登记"},
        ),
        ("entity-detail", "get", reverse("registries:entity-detail", args=[entity.pk]), {"purpose": "credit"}),
        ("entity-correct", "get", reverse("registries:entity-correct", args=[entity.pk]), {}),
        (
            "entity-correct",
            "post",
            reverse("registries:entity-correct", args=[entity.pk]),
            {"name": "福州新名有限公司", "reason": "名称变更", "expected_version": "1"},
        ),
        (
            "entity-close",
            "post",
            reverse("registries:entity-close", args=[entity.pk]),
            {"status": "deregistered", "on": "2020-01-01", "reason": "注销登记"},
        ),
        ("quality", "get", reverse("registries:quality"), {}),
        ("quality", "post", reverse("registries:quality"), {}),
    ]


def test_urls():
    assert reverse("registries:person-search") == "/registries/persons/"
    assert reverse("registries:person-detail", args=[7]) == "/registries/persons/7/"
    assert reverse("registries:person-correct", args=[7]) == "/registries/persons/7/correct/"
    assert reverse("registries:person-close", args=[7]) == "/registries/persons/7/close/"
    assert reverse("registries:entity-detail", args=[7]) == "/registries/entities/7/"
    assert reverse("registries:entity-correct", args=[7]) == "/registries/entities/7/correct/"
    assert reverse("registries:entity-close", args=[7]) == "/registries/entities/7/close/"
    assert reverse("registries:my-reads") == "/registries/me/reads/"
    assert reverse("registries:quality") == "/registries/quality/"


def test_anonymous_is_sent_to_sign_in_everywhere(client, person, entity):
    before = _state()
    pages = [*_pages(person, entity), ("my-reads", "get", reverse("registries:my-reads"), {})]
    for _name, method, url, data in pages:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(f"{reverse('identity:sign-in')}?next={url}")
    assert _state() == before


@pytest.mark.parametrize("who", ["resident", "staff without permission"])
def test_residents_and_staff_without_permission_are_refused_every_staff_page(client, person, entity, who):
    user = resident() if who == "resident" else staff("clerk", can_read=False)
    client.force_login(user)
    before = _state()
    pages = _pages(person, entity)
    for _name, method, url, data in pages:
        response = getattr(client, method)(url, data)
        assert response.status_code == 403, (method, url)
    assert _state() == before
    assert AuditRecord.objects.filter(outcome="denied").count() == len(pages)  # each refusal recorded once


def test_staff_who_may_only_read_cannot_correct_or_close(client, person, entity):
    client.force_login(staff("officer"))
    before = _state()
    refused = 0
    for name, method, url, data in _pages(person, entity):
        if name in {"person-correct", "person-close", "entity-correct", "entity-close"}:
            assert getattr(client, method)(url, data).status_code == 403, (method, url)
            refused += 1
    assert _state() == before
    assert AuditRecord.objects.filter(outcome="denied").count() == refused


def test_staff_who_may_correct_but_not_read_cannot_see_the_record(client, person):
    officer = staff("corrector", can_read=False)
    _grant(officer, "change_person")
    client.force_login(officer)
    response = client.get(reverse("registries:person-correct", args=[person.pk]))
    assert response.status_code == 403
    assert AuditRecord.objects.filter(action="registries.person.read", outcome="denied").count() == 1
    assert not AuditRecord.objects.filter(action="registries.person.read", outcome="success").exists()


# --- search ---------------------------------------------------------------------------------------------------------


def test_search_shows_masked_values_and_audits_each_person_shown(client, person):
    officer = staff("officer")
    client.force_login(officer)
    make_person(name="林则徐", id_number=make_id_number(division="350103"))
    make_person(name="沈葆桢")
    response = client.get(
        reverse("registries:person-search"), {"purpose": "public_security", "name": "林则徐"}, REMOTE_ADDR="192.0.2.7"
    )
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["view"].name for row in rows] == ["林**", "林**"]
    first = rows[0]["view"]
    assert (first.record_id, first.id_number, first.phone, first.birth_date, first.address) == (
        person.pk, "350102********0018", "138****5678", "1985-**-**", "********",
    )  # fmt: skip
    body = response.content.decode()
    assert "350102********0018" in body
    assert "林则徐" not in body.split("<table", 1)[1]
    assert "13812345678" not in body
    reads = AuditRecord.objects.filter(action="registries.person.read").order_by("id")
    assert [(r.target_id, r.purpose, r.actor_id, r.source_address, r.detail) for r in reads] == [
        (str(row["view"].record_id), "public_security", str(officer.pk), "192.0.2.7", {"clear": [], "via": "search"})
        for row in rows
    ]
    detail_link = f'href="{reverse("registries:person-detail", args=[person.pk])}?purpose=public_security"'
    assert detail_link in body


def test_search_shows_clear_values_to_a_role_entitled_for_the_purpose(client, person, police_role):
    client.force_login(staff("police", role=police_role))
    response = client.get(reverse("registries:person-search"), {"purpose": "public_security", "name": "林则徐"})
    assert response.status_code == 200
    (row,) = response.context["rows"]
    view = row["view"]
    assert (view.id_number, view.name, view.phone, view.birth_date, view.address) == (
        ID_NUMBER, "林则徐", "13812345678", "1985-03-12", "福州市鼓楼区三坊七巷1号",
    )  # fmt: skip
    assert ID_NUMBER in response.content.decode()
    # The same role states only the purposes it is entitled for: another is refused, and the refusal recorded.
    before = AuditRecord.objects.count()
    other = client.get(reverse("registries:person-search"), {"purpose": "statistics", "name": "林则徐"})
    assert other.status_code == 403
    assert "350102" not in other.content.decode()
    (refusal,) = AuditRecord.objects.filter(outcome="denied")
    assert (refusal.action, refusal.purpose, AuditRecord.objects.count()) == (
        "registries.person.search", "statistics", before + 1,
    )  # fmt: skip


def test_search_by_id_number(client, person):
    client.force_login(staff("officer"))
    response = client.post(reverse("registries:person-search"), {"purpose": "service_hall", "id_number": ID_NUMBER})
    assert response.status_code == 200
    assert [row["view"].record_id for row in response.context["rows"]] == [person.pk]
    read = AuditRecord.objects.get(action="registries.person.read")
    assert (read.target_id, read.purpose, read.detail) == (
        str(person.pk),
        "service_hall",
        {"clear": [], "via": "id_number"},
    )


def test_search_by_unknown_id_number_says_so(client, person):
    client.force_login(staff("officer"))
    response = client.post(
        reverse("registries:person-search"), {"purpose": "service_hall", "id_number": "350103199001010020"}
    )
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "人口库中没有该身份证号的登记人员。" in response.content.decode()
    assert not AuditRecord.objects.filter(action="registries.person.read").exists()


def test_search_by_invalid_id_number_is_a_form_error(client, person):
    client.force_login(staff("officer"))
    before = _state()
    response = client.post(
        reverse("registries:person-search"), {"purpose": "service_hall", "id_number": "350102198503120010"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors == {"id_number": ["身份证号校验位不符。"]}
    assert _state() == before


def test_an_id_number_in_the_query_string_is_refused_without_a_read(client, person):
    """The form posts; a bookmarked or typed URL carrying an ID number reads nothing (and says why)."""
    client.force_login(staff("officer"))
    before = _state()
    response = client.get(reverse("registries:person-search"), {"purpose": "service_hall", "id_number": ID_NUMBER})
    assert response.status_code == 400
    assert response.context["form"].errors["id_number"] == ["请在查询表单中输入身份证号，不要放在网址中。"]
    assert response.context["rows"] == []
    assert _state() == before
    page = client.get(reverse("registries:person-search")).content.decode()
    assert '<form method="post" class="form" novalidate>' in page


def test_search_without_purpose_or_criteria_reads_nothing(client, person):
    client.force_login(staff("officer"))
    before = _state()
    empty = client.get(reverse("registries:person-search"))
    assert empty.status_code == 200
    assert empty.context["page"] is None
    no_purpose = client.get(reverse("registries:person-search"), {"name": "林则徐"})
    assert no_purpose.status_code == 400
    assert no_purpose.context["form"].errors == {"purpose": ["这个字段是必填项。"]}
    no_criteria = client.get(reverse("registries:person-search"), {"purpose": "service_hall"})
    assert no_criteria.status_code == 400
    assert no_criteria.context["form"].non_field_errors() == ["请填写身份证号、姓名或行政区划。"]
    unknown_purpose = client.get(reverse("registries:person-search"), {"purpose": "curiosity", "name": "林则徐"})
    assert unknown_purpose.status_code == 400
    assert _state() == before


def test_search_pages_with_a_cursor(client):
    client.force_login(staff("officer"))
    people = [make_person(name="王芳", id_number=make_id_number(sequence=n)) for n in range(1, 24)]
    first = client.get(reverse("registries:person-search"), {"purpose": "statistics", "division_code": "350102"})
    assert [row["view"].record_id for row in first.context["rows"]] == [p.pk for p in people[:20]]
    next_query = first.context["next_query"]
    assert next_query is not None
    second = client.get(f"{reverse('registries:person-search')}?{next_query}")
    assert second.status_code == 200
    assert [row["view"].record_id for row in second.context["rows"]] == [p.pk for p in people[20:]]
    assert second.context["next_query"] is None


def test_forged_cursor_is_a_form_error_and_reads_nothing(client, person):
    client.force_login(staff("officer"))
    before = _state()
    response = client.get(
        reverse("registries:person-search"), {"purpose": "statistics", "name": "林则徐", "cursor": "forged"}
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["翻页参数无效，请重新查询。"]
    assert _state() == before


@pytest.mark.parametrize("shown", [3, 20])
def test_search_results_page_queries_are_bounded(client, django_assert_max_num_queries, shown):
    client.force_login(staff("officer"))
    for n in range(shown):
        make_person(name="王芳", id_number=make_id_number(sequence=n + 1))
    # Session, user, two for permissions, entitlements, one page query, the session saved (savepoint, update,
    # release); the page's read records in one transaction of their own (here a savepoint and its release), one audit
    # INSERT per person shown (the core's per-read record), never a query per row rendered.
    with django_assert_max_num_queries(11 + shown):
        response = client.get(reverse("registries:person-search"), {"purpose": "statistics", "name": "王芳"})
    assert len(response.context["rows"]) == shown


# --- detail ---------------------------------------------------------------------------------------------------------


def test_detail_shows_the_masked_record_and_its_history(client, person):
    person_correct(person_id=person.pk, changes={"phone": "13900001111"}, actor=SYSTEM, reason="号码变更")
    officer = staff("officer")
    client.force_login(officer)
    response = client.get(reverse("registries:person-detail", args=[person.pk]), {"purpose": "social_assistance"})
    assert response.status_code == 200
    current = response.context["current"]["view"]
    assert (current.name, current.id_number, current.phone, current.version) == (
        "林**", "350102********0018", "139****1111", 2,
    )  # fmt: skip
    versions = response.context["versions"]
    assert [
        (v["info"].version, v["view"].phone, v["info"].replaced_by, v["info"].reason, v["info"].changed_by)
        for v in versions
    ] == [(1, "138****5678", "correct", "号码变更", "test setup"), (2, "139****1111", "", "", "")]
    body = response.content.decode()
    assert "更正 · test setup · 号码变更" in body
    assert "13812345678" not in body
    assert reverse("registries:person-correct", args=[person.pk]) not in body  # no change permission: no link
    read = AuditRecord.objects.get(action="registries.person.read")
    assert (read.target_id, read.purpose, read.actor_id, read.detail) == (
        str(person.pk), "social_assistance", str(officer.pk), {"clear": [], "via": "history"},
    )  # fmt: skip


def test_detail_shows_clear_values_to_an_entitled_role_and_links_to_correction(client, person, police_role):
    officer = staff("police", role=police_role)
    _grant(officer, "change_person")
    client.force_login(officer)
    response = client.get(reverse("registries:person-detail", args=[person.pk]), {"purpose": "public_security"})
    assert response.status_code == 200
    current = response.context["current"]["view"]
    assert (current.name, current.id_number, current.phone) == ("林则徐", ID_NUMBER, "13812345678")
    body = response.content.decode()
    assert ID_NUMBER in body
    assert reverse("registries:person-correct", args=[person.pk]) in body
    # The record is named by its person, its codes by their names (the database's id is nobody's business).
    assert "<h1>人员记录：林则徐</h1>" in body
    assert "<dd>汉族</dd>" in body
    assert f"<dd>{response.context['current']['division']}</dd>" in body
    division = division_get(person.division_code)
    assert division is not None
    assert response.context["current"]["division"] == f"{division.name}（{person.division_code}）"


def test_detail_asks_for_a_purpose_first(client, person):
    client.force_login(staff("officer"))
    before = _state()
    response = client.get(reverse("registries:person-detail", args=[person.pk]))
    assert response.status_code == 200
    assert "current" not in response.context
    assert 'name="purpose"' in response.content.decode()
    unknown = client.get(reverse("registries:person-detail", args=[person.pk]), {"purpose": "curiosity"})
    assert unknown.status_code == 400
    assert _state() == before


def test_detail_of_an_unknown_record_is_404(client, person):
    client.force_login(staff("officer"))
    response = client.get(reverse("registries:person-detail", args=[person.pk + 100]), {"purpose": "statistics"})
    assert response.status_code == 404


# --- correction and closing -----------------------------------------------------------------------------------------


@pytest.fixture
def corrector(client):
    officer = staff("corrector")
    _grant(officer, "change_person", "change_legalentity")
    client.force_login(officer)
    return officer


def test_correction_form_shows_the_record_masked(client, person, corrector):
    response = client.get(reverse("registries:person-correct", args=[person.pk]))
    assert response.status_code == 200
    assert response.context["person"]["view"].name == "林**"
    body = response.content.decode()
    assert '<input type="hidden" name="expected_version" value="1">' in body
    read = AuditRecord.objects.get(action="registries.person.read")
    assert (read.purpose, read.detail) == ("data_quality", {"clear": [], "via": "record"})


def test_correction_through_the_page_creates_a_version_and_an_audit_record(client, person, corrector):
    response = client.post(
        reverse("registries:person-correct", args=[person.pk]),
        {"name": "林徐", "phone": "13900001111", "ethnicity": "", "address": "", "reason": "户籍更正",
         "expected_version": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('registries:person-detail', args=[person.pk])}?purpose=data_quality"
    person.refresh_from_db()
    assert (person.version, person.name, person.phone_masked, person.ethnicity) == (2, "林徐", "139****1111", "01")
    (previous,) = RecordVersion.objects.filter(registry="persons", record_id=person.pk)
    assert (previous.version, previous.change, previous.reason, previous.actor_id, previous.actor_label) == (
        1, "correct", "户籍更正", str(corrector.pk), "corrector",
    )  # fmt: skip
    record = AuditRecord.objects.get(action="registries.person.correct")
    assert (record.actor_id, record.target_id, record.detail) == (
        str(corrector.pk), str(person.pk), {"fields": ["name", "phone"], "reason": "户籍更正"},
    )  # fmt: skip
    followed = client.get(response["Location"])
    assert "已更正，原记录已保存为历史版本。" in followed.content.decode()


def test_invalid_correction_shows_a_form_error_and_changes_nothing(client, person, corrector):
    before = _state()
    response = client.post(
        reverse("registries:person-correct", args=[person.pk]),
        {"phone": "call me", "reason": "更正", "expected_version": "1"},
    )
    assert response.status_code == 400
    assert response.context["correct_form"].errors == {"phone": ["不是有效的电话号码。"]}
    person.refresh_from_db()
    assert (person.version, person.phone_masked) == (1, "138****5678")
    assert RecordVersion.objects.count() == before[1] == 0
    assert not AuditRecord.objects.filter(action="registries.person.correct").exists()


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "林徐", "expected_version": "1"}, {"reason": ["这个字段是必填项。"]}),
        ({"reason": "更正", "expected_version": "1"}, {"__all__": ["请至少填写一项更正内容。"]}),
        ({"division_code": "999999", "reason": "更正", "expected_version": "1"},
         {"division_code": ["不是有效的行政区划代码（GB/T 2260）。"]}),
        ({"ethnicity": "99", "reason": "更正", "expected_version": "1"},
         {"ethnicity": ["选择一个有效的选项。 99 不在可用的选项中。"]}),
    ],
)  # fmt: skip
def test_rejected_corrections_change_nothing(client, person, corrector, data, errors):
    response = client.post(reverse("registries:person-correct", args=[person.pk]), data)
    assert response.status_code == 400
    assert response.context["correct_form"].errors == errors
    person.refresh_from_db()
    assert (person.version, person.name) == (1, "林则徐")
    assert RecordVersion.objects.count() == 0
    assert not AuditRecord.objects.filter(action="registries.person.correct").exists()


def test_stale_correction_is_a_409_form_error(client, person, corrector):
    person_correct(person_id=person.pk, changes={"name": "林徐"}, actor=SYSTEM, reason="先改")
    response = client.post(
        reverse("registries:person-correct", args=[person.pk]),
        {"name": "林则", "reason": "后改", "expected_version": "1"},
    )
    assert response.status_code == 409
    assert response.context["correct_form"].non_field_errors() == ["记录已被他人修改，请查看最新内容后重新提交。"]
    # The page now shows version 2, so a resubmission is made knowingly.
    assert '<input type="hidden" name="expected_version" value="2">' in response.content.decode()
    person.refresh_from_db()
    assert (person.version, person.name) == (2, "林徐")
    assert AuditRecord.objects.filter(action="registries.person.correct").count() == 1


def test_closing_through_the_page(client, person, corrector):
    response = client.post(
        reverse("registries:person-close", args=[person.pk]),
        {"status": "deceased", "on": "2020-01-01", "reason": "死亡登记"},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert (person.status, person.closed_on, person.version) == ("deceased", dt.date(2020, 1, 1), 2)
    record = AuditRecord.objects.get(action="registries.person.close")
    assert record.detail == {"status": "deceased", "reason": "死亡登记"}
    page = client.get(reverse("registries:person-correct", args=[person.pk]))
    assert page.context["closed"] is True
    assert "记录已关闭，不能再更正" in page.content.decode()


def test_closing_a_closed_record_or_outside_the_life_changes_nothing(client, person, corrector):
    early = client.post(
        reverse("registries:person-close", args=[person.pk]),
        {"status": "deceased", "on": "1900-01-01", "reason": "死亡登记"},
    )
    assert early.status_code == 400
    assert early.context["close_form"].errors == {"on": ["日期超出记录的存续期间，且不能晚于今天。"]}
    person.refresh_from_db()
    assert (person.status, person.version) == ("living", 1)
    client.post(
        reverse("registries:person-close", args=[person.pk]), {"status": "deceased", "on": "2020-01-01", "reason": "x"}
    )
    before = _state()
    again = client.post(
        reverse("registries:person-close", args=[person.pk]),
        {"status": "deregistered", "on": "2021-01-01", "reason": "再次"},
    )
    assert again.status_code == 409
    assert again.context["close_form"].non_field_errors() == ["记录已关闭，不能再修改。"]
    corrected = client.post(
        reverse("registries:person-correct", args=[person.pk]), {"name": "X", "reason": "x", "expected_version": "2"}
    )
    assert corrected.status_code == 409
    after = _state()
    assert after[1:] == before[1:]
    # Only the re-rendered pages' reads were recorded.
    assert {r.action for r in AuditRecord.objects.order_by("id")[before[0] :]} == {"registries.person.read"}


def test_close_page_accepts_only_post(client, person, corrector):
    assert client.get(reverse("registries:person-close", args=[person.pk])).status_code == 405


def test_correcting_an_unknown_record_is_404(client, person, corrector):
    response = client.post(
        reverse("registries:person-correct", args=[person.pk + 100]),
        {"name": "X", "reason": "x", "expected_version": 1},
    )
    assert response.status_code == 404
    assert client.get(reverse("registries:person-correct", args=[person.pk + 100])).status_code == 404


# --- legal entities -------------------------------------------------------------------------------------------------


def test_entity_detail_shows_the_credit_code_and_the_representative_masked(client, entity, person, police_role):
    # Even a role entitled to see persons in clear sees the representative masked on an entity's page.
    officer = staff("officer", role=police_role)
    client.force_login(officer)
    response = client.get(reverse("registries:entity-detail", args=[entity.pk]), {"purpose": "public_security"})
    assert response.status_code == 200
    view = response.context["entity"]
    assert (view.credit_code, view.name, view.status) == (entity.credit_code, "福州榕城科技有限公司", "active")
    assert view.representative is not None
    assert (view.representative.record_id, view.representative.name, view.representative.id_number) == (
        person.pk, "林**", "350102********0018",
    )  # fmt: skip
    body = response.content.decode()
    assert entity.credit_code in body
    assert "林则徐" not in body
    assert ID_NUMBER not in body
    reads = AuditRecord.objects.filter(action__in=["registries.entity.read", "registries.person.read"]).order_by("id")
    assert [(r.action, r.target_id, r.purpose, r.detail) for r in reads] == [
        ("registries.entity.read", str(entity.pk), "public_security", {"via": "record"}),
        ("registries.person.read", str(person.pk), "public_security", {"clear": [], "via": "legal_representative"}),
    ]


def test_entity_correction_and_closing_through_the_pages(client, entity, corrector):
    successor = make_person(name="沈葆桢", id_number="350103199001010020")
    response = client.post(
        reverse("registries:entity-correct", args=[entity.pk]),
        {"name": "福州新名有限公司", "representative_id_number": "350103199001010020", "reason": "变更登记",
         "expected_version": "1"},
    )  # fmt: skip
    assert response.status_code == 302
    entity.refresh_from_db()
    assert (entity.version, entity.name, entity.legal_representative_id) == (2, "福州新名有限公司", successor.pk)
    record = AuditRecord.objects.get(action="registries.entity.correct")
    assert record.detail == {"fields": ["legal_representative_id", "name"], "reason": "变更登记"}
    lookup = AuditRecord.objects.get(action="registries.person.read", target_id=str(successor.pk))
    assert (lookup.purpose, lookup.detail) == ("data_quality", {"clear": [], "via": "id_number"})

    closed = client.post(
        reverse("registries:entity-close", args=[entity.pk]),
        {"status": "deregistered", "on": "2020-01-01", "reason": "注销登记"},
    )
    assert closed.status_code == 302
    entity.refresh_from_db()
    assert (entity.status, entity.closed_on, entity.version) == ("deregistered", dt.date(2020, 1, 1), 3)
    assert list(
        RecordVersion.objects.filter(registry="entities", record_id=entity.pk)
        .order_by("version")
        .values_list("version", "change", "reason")
    ) == [(1, "correct", "变更登记"), (2, "close", "注销登记")]
    detail = client.get(reverse("registries:entity-detail", args=[entity.pk]), {"purpose": "credit"})
    assert [v["version"].name for v in detail.context["versions"]] == [
        "福州榕城科技有限公司", "福州新名有限公司", "福州新名有限公司",
    ]  # fmt: skip
    assert "注销登记" in detail.content.decode()


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"representative_id_number": "350103199001010020"},
         {"representative_id_number": ["人口库中没有该身份证号的登记人员。"]}),
        ({"representative_id_number": "350102198503120010"}, {"representative_id_number": ["身份证号校验位不符。"]}),
        ({"established_on": "2999-01-01"}, {"established_on": ["日期无效或晚于今天。"]}),
        ({"name": "x" * 121}, {"name": ["确保该变量包含不超过 120 字符 (目前字符数 121)。"]}),
    ],
)  # fmt: skip
def test_invalid_entity_corrections_change_nothing(client, entity, corrector, data, errors):
    before = _state()
    response = client.post(
        reverse("registries:entity-correct", args=[entity.pk]), {**data, "reason": "更正", "expected_version": "1"}
    )
    assert response.status_code == 400
    assert response.context["correct_form"].errors == errors
    after = _state()
    assert after[1:] == before[1:]
    assert not AuditRecord.objects.filter(action="registries.entity.correct").exists()


def test_a_deceased_person_cannot_become_representative(client, entity, corrector):
    from rongcheng.registries.services import person_close

    other = make_person(name="沈葆桢", id_number="350103199001010020")
    person_close(person_id=other.pk, status="deceased", on=dt.date(2020, 1, 1), actor=SYSTEM, reason="死亡登记")
    response = client.post(
        reverse("registries:entity-correct", args=[entity.pk]),
        {"representative_id_number": "350103199001010020", "reason": "变更", "expected_version": "1"},
    )
    assert response.status_code == 400
    assert response.context["correct_form"].errors == {"representative_id_number": ["法定代表人须为在世的登记人员。"]}
    entity.refresh_from_db()
    assert entity.version == 1


# --- who read my data -----------------------------------------------------------------------------------------------


def test_my_reads_lists_staff_and_api_client_reads_of_my_record_only(client, person, police_role):
    officer = staff("police", role=police_role)
    client.force_login(officer)
    client.post(reverse("registries:person-search"), {"purpose": "public_security", "id_number": ID_NUMBER})
    gateway = api_client("gjj-system")
    gateway.display_name = "市住房公积金中心业务系统"
    gateway.save(update_fields=["display_name"])
    entitle(client=gateway, fields=("name",), purpose="service_hall")
    with request_from("192.0.2.44"):
        person_read(reader=reader_for(gateway), person_id=person.pk, purpose="service_hall")
    neighbour = make_person(name="沈葆桢", id_number="350103199001010020")
    person_read(reader=reader_for(officer), person_id=neighbour.pk, purpose="public_security")

    me = resident("linzexu", person=person)
    client.force_login(me)
    response = client.get(reverse("registries:my-reads"))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [
        (r["entry"].actor_kind, r["entry"].actor_label, r["entry"].department, r["entry"].client_name,
         r["entry"].purpose, r["entry"].fields, r["entry"].via)
        for r in rows
    ] == [
        ("api_client", "gjj-system", "", "市住房公积金中心业务系统", "service_hall", ("name",), "record"),
        ("user", "police", "市公安局", "", "public_security", ("address", "birth_date", "id_number", "name", "phone"),
         "id_number"),
    ]  # fmt: skip
    body = response.content.decode()
    assert "部门系统 市住房公积金中心业务系统" in body
    assert "工作人员 police（市公安局）" in body
    assert '<td data-label="目的">政务服务办理</td>' in body  # once, in the reader's language
    assert "deciding an application" not in body.lower()
    assert "地址、出生日期、身份证号、姓名、电话" in body
    assert "statistics" not in body
    assert "统计分析" not in body

    english = client.get(reverse("registries:my-reads"), headers={"accept-language": "en"}).content.decode()
    assert '<td data-label="Purpose">Deciding an application</td>' in english
    assert "政务服务办理" not in english
    assert "Address, Birth date, ID number, Name, Phone" in english  # English commas, not the Chinese 、

    # Looking at the list is recorded, but never as a read of the record: it does not show up in the list.
    again = client.get(reverse("registries:my-reads"))
    assert len(again.context["rows"]) == 2
    views = AuditRecord.objects.filter(action="registries.person.reads_list").order_by("id")
    assert [(v.actor_id, v.target_id, v.purpose) for v in views] == [(str(me.pk), str(person.pk), "self_service")] * 3


def test_my_reads_pages_newest_first(client, person):
    officer = staff("officer")
    for _ in range(23):
        person_read(reader=reader_for(officer), person_id=person.pk, purpose="statistics")
    ids = list(AuditRecord.objects.filter(action="registries.person.read").order_by("-id").values_list("id", flat=True))
    client.force_login(resident("linzexu", person=person))
    first = client.get(reverse("registries:my-reads"))
    assert [r["entry"].audit_id for r in first.context["rows"]] == ids[:20]
    second = client.get(f"{reverse('registries:my-reads')}?{first.context['next_query']}")
    assert [r["entry"].audit_id for r in second.context["rows"]] == ids[20:]
    assert second.context["next_query"] is None
    assert client.get(reverse("registries:my-reads"), {"cursor": "forged"}).status_code == 400


def test_my_reads_mixes_records_of_one_person_and_pages_read_through_the_exchange(client, person):
    """A page of persons read through the exchange (on PostgreSQL one record listing them) shows in "who read my
    data" of each person on it, with the department and the purpose, among the person's own records, newest first
    and paged by the same cursor; a page without the person does not show."""
    from rongcheng.audit.selectors import TARGETS
    from rongcheng.audit.services import Actor
    from rongcheng.registries.selectors import persons_read_for_sharing

    others = [make_person(name="沈葆桢"), make_person(name="严复")]
    officer = staff("officer")
    system = Actor("api_client", "42", "fz-mzj-system")
    sharing: dict[str, Any] = {"actor": system, "department": "福州市民政局", "grant": "GX0001",
                               "fields": ["name", "division_code"], "clear": frozenset()}  # fmt: skip
    for n in range(24):
        if n % 3 == 2:
            persons_read_for_sharing(purpose=f"低保审核 {n}", offset=0, limit=3, **sharing)
            persons_read_for_sharing(purpose="不含本人", offset=1, limit=2, **sharing)  # the two others only
        else:
            person_read(reader=reader_for(officer), person_id=person.pk, purpose="statistics")
    reads = AuditRecord.objects.filter(action="registries.person.read").order_by("-id")
    mine = [r for r in reads if str(person.pk) in r.detail.get(TARGETS, [r.target_id])]
    assert len(mine) == 24
    assert {str(o.pk) for o in others} <= {t for r in reads for t in r.detail.get(TARGETS, [r.target_id])}

    client.force_login(resident("linzexu", person=person))
    first = client.get(reverse("registries:my-reads"))
    second = client.get(f"{reverse('registries:my-reads')}?{first.context['next_query']}")
    assert second.context["next_query"] is None
    entries = [r["entry"] for r in (*first.context["rows"], *second.context["rows"])]
    assert [e.audit_id for e in entries] == [r.pk for r in mine]
    assert [(e.actor_kind, e.department, e.purpose, e.via) for e in entries if e.actor_kind == "api_client"] == [
        ("api_client", "福州市民政局", f"低保审核 {n}", "exchange") for n in range(23, -1, -1) if n % 3 == 2
    ]  # fmt: skip
    assert "不含本人" not in first.content.decode() + second.content.decode()


def test_my_reads_explains_when_the_account_is_not_bound_to_a_person(client, person):
    person_read(reader=reader_for(staff("officer")), person_id=person.pk, purpose="statistics")
    client.force_login(resident("newcomer"))
    before = _state()
    response = client.get(reverse("registries:my-reads"))
    assert response.status_code == 200
    assert response.context["unbound"] is True
    assert "您的账户尚未与人口库中的本人记录关联" in response.content.decode()
    assert _state() == before


# --- quality --------------------------------------------------------------------------------------------------------


def test_quality_page_runs_the_checks_and_then_shows_the_latest_run(client, person):
    officer = staff("officer")
    client.force_login(officer)
    empty = client.get(reverse("registries:quality"))
    assert empty.status_code == 200
    assert empty.context["latest"] is None
    twin = make_person(name="林则徐", id_number="350102198503120034")
    run = client.post(reverse("registries:quality"))
    assert run.status_code == 200
    report = run.context["report"]
    assert report.duplicate_count == 1
    assert report.duplicates[0].record_ids == (person.pk, twin.pk)
    body = run.content.decode()
    assert "350102********0018" in body
    assert "350102********0034" in body
    latest = client.get(reverse("registries:quality")).context["latest"]
    assert latest is not None
    assert (latest.actor_label, latest.summary["duplicates"], latest.duplicate_groups) == (
        "officer", 1, ((person.pk, twin.pk),),
    )  # fmt: skip


def test_home_links_the_registries_capability_to_the_search(client):
    link = f'href="{reverse("registries:person-search")}"'
    assert link not in client.get(reverse("portal:home")).content.decode()  # only for those who may search
    from rongcheng.accounts.models import Department, User

    department = Department.objects.create(code="FZ-T", name="测试部门", short_name="测试")
    client.force_login(User.objects.create_user(username="reader", password="x", kind="staff", department=department,
                                                is_superuser=True))  # fmt: skip
    assert link in client.get(reverse("portal:home")).content.decode()
