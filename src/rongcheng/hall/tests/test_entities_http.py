"""The applicant party over HTTP: authorization rows of the API and the pages for a company's representatives, an
outsider and a revoked agent; every refusal a problem document (API) or a form error (pages), nothing changed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from rongcheng.hall.models import Application, State
from rongcheng.hall.tests.entities import SERVICE, revoke, setup_company
from rongcheng.hall.tests.test_api import API, client_for, problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    return setup_company()


def _start(client: Client, credit_code: str):
    return client.post(
        f"{API}/applications", {"service": SERVICE, "legal_entity": credit_code}, content_type="application/json"
    )


# caller -> status of POST /applications for the entity
START_ROWS = {"anonymous": 401, "agent": 201, "boss": 201, "outsider": 403, "officer": 403}


@pytest.mark.parametrize("caller", list(START_ROWS))
def test_api_start_for_the_entity_authorization_rows(company, caller):
    client = Client() if caller == "anonymous" else client_for(company[caller])
    response = _start(client, company["entity"].credit_code)
    expected = START_ROWS[caller]
    if expected == 201:
        assert response.status_code == 201, response.content
        assert response.json()["legal_entity"] == company["entity"].credit_code
        assert Application.objects.get(pk=response.json()["id"]).legal_entity == company["entity"]
    else:
        problem(response, expected)
        assert not Application.objects.exists()


def test_api_problem_documents_for_the_applicant_party(company):
    outsider = client_for(company["outsider"], token_scope="hall:apply")
    document = problem(_start(outsider, company["entity"].credit_code), 403)
    assert document["type"].endswith("/hall-representation-inactive")
    agent = client_for(company["agent"], token_scope="hall:apply")
    assert problem(_start(agent, ""), 422)["type"].endswith("/hall-applicant-kind")
    assert problem(_start(agent, "' OR 1=1 --"), 403)["type"].endswith("/hall-representation-inactive")
    assert not Application.objects.exists()


def test_api_after_revocation_the_agent_can_neither_submit_nor_see_it(company):
    agent = client_for(company["agent"], token_scope="hall:apply")
    pk = _start(agent, company["entity"].credit_code).json()["id"]
    prefilled = agent.post(f"{API}/applications/{pk}/prefill", {"authorize_licences": True},
                           content_type="application/json")  # fmt: skip
    assert prefilled.status_code == 200, prefilled.content
    business = next(m for m in prefilled.json()["materials"] if m["code"] == "business_licence")
    assert business["licence_identifier"] == company["business"].identifier
    revoke(company["delegated"], company["boss"])
    assert problem(agent.post(f"{API}/applications/{pk}/submit"), 403)["type"].endswith("/hall-representation-inactive")
    problem(agent.get(f"{API}/applications/{pk}"), 404)
    assert Application.objects.get(pk=pk).state == State.DRAFT


def test_pages_offer_the_represented_entities_and_start_for_one(company):
    client = Client()
    client.force_login(company["agent"])
    page = client.get(reverse("hall:service", args=[SERVICE])).content.decode()
    assert f'<option value="{company["entity"].credit_code}">' in page
    response = client.post(reverse("hall:apply", args=[SERVICE]), {"legal_entity": company["entity"].credit_code})
    application = Application.objects.get()
    assert response["Location"] == reverse("hall:application", args=[application.pk])
    assert application.legal_entity == company["entity"]
    shown = client.get(response["Location"]).content.decode()
    assert "福州闽都餐饮有限公司" in shown
    revoke(company["delegated"], company["boss"])
    assert client.get(response["Location"]).status_code == 404


def test_pages_refuse_an_outsider_with_a_form_error(company):
    client = Client()
    client.force_login(company["outsider"])
    page = client.get(reverse("hall:service", args=[SERVICE])).content.decode()
    assert company["entity"].credit_code not in page
    assert "请先在统一身份认证中认领企业" in page
    response = client.post(
        reverse("hall:apply", args=[SERVICE]), {"legal_entity": company["entity"].credit_code}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("hall:service", args=[SERVICE])
    assert "您的账户已不再代表该企业，无法办理该企业的申请。" in response.content.decode()  # in the reader's words
    assert not Application.objects.exists()
