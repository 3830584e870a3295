"""/livez, /readyz and /metrics as a probe and a scraper see them."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from rongcheng.audit.models import AuditRecord
from rongcheng.operations.services import worker_heartbeat

pytestmark = pytest.mark.django_db


def test_livez_answers_without_io_cookie_or_session(django_assert_num_queries):
    client = Client()
    with django_assert_num_queries(0):
        response = client.get("/livez")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    assert json.loads(response.content) == {"status": "pass", "serviceId": "rongcheng"}
    assert response.cookies == {}
    assert response["Cache-Control"] == "no-store"
    assert "X-Request-ID" in response


def test_readyz_is_health_json_with_a_status_per_check():
    worker_heartbeat()
    response = Client().get("/readyz?verbose")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    document = json.loads(response.content)
    assert document["status"] == "pass"
    assert set(document["checks"]) == {
        "database:responseTime", "database:migrations", "keys:readable", "audit:sealerLag", "worker:heartbeat",
        "disk:free", "clock:offset",
    }  # fmt: skip
    assert all(check[0]["status"] == "pass" for check in document["checks"].values())
    assert document["checks"]["database:migrations"][0]["observedValue"] == 0
    assert response.cookies == {}


def test_readyz_without_verbose_names_no_values():
    worker_heartbeat()
    document = json.loads(Client().get("/readyz").content)
    assert document == {"status": "pass", "serviceId": "rongcheng", "description": "Rongcheng platform"}


def test_readyz_warns_without_a_worker_and_fails_on_a_full_disk(settings):
    document = json.loads(Client().get("/readyz").content)
    assert document["status"] == "warn"
    assert document["checks"]["worker:heartbeat"] == [{"componentType": "component", "status": "warn"}]
    settings.OPERATIONS_READINESS = {
        **settings.OPERATIONS_READINESS,
        "disk_fail_bytes": 2**62,
        "disk_warn_bytes": 2**62,
    }
    response = Client().get("/readyz?verbose")
    assert response.status_code == 503
    document = json.loads(response.content)
    assert document["status"] == "fail"
    assert document["checks"]["disk:free"][0]["status"] == "fail"
    assert document["checks"]["disk:free"][0]["output"] == "data directory nearly full"


def test_probes_leave_no_audit_record_and_no_session_even_with_a_session_cookie():
    before = AuditRecord.objects.count()
    client = Client()
    client.cookies["sessionid"] = "not-a-session"
    for path in ("/livez", "/readyz", "/metrics"):
        response = client.get(path)
        assert "sessionid" not in response.cookies
        assert "csrftoken" not in response.cookies
    assert AuditRecord.objects.count() == before


def test_metrics_refuse_without_token_or_network(metrics_token):
    response = Client().get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_for_an_allowed_network(settings):
    settings.OPERATIONS_METRICS_NETWORKS = ["127.0.0.0/8"]
    settings.OPERATIONS_METRICS_TOKEN_SM3 = "0" * 64
    assert Client().get("/metrics").status_code == 200
    settings.OPERATIONS_METRICS_NETWORKS = ["10.0.0.0/8"]
    assert Client().get("/metrics").status_code == 401


def _families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_parse_and_count_by_route_template_never_the_path(metrics_token):
    client = Client()
    client.get("/licences/verify/NOT-A-LICENCE/")
    client.get("/no/such/path/qzxjv-never-a-route")
    client.get("/")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.content.decode()
    families = _families(text)
    requests = families["rongcheng_http_requests"]
    routes = {sample.labels["route"] for sample in requests.samples}  # type: ignore[attr-defined]
    assert "/licences/verify/<str:identifier>/" in routes
    assert "unmatched" in routes
    assert "/" in routes  # the home page's route is the empty pattern, not an unmatched path
    assert "NOT-A-LICENCE" not in text
    assert "qzxjv" not in text
    assert "rongcheng_http_request_duration_seconds" in families
    assert "rongcheng_db_queries" in families
    assert "rongcheng_hall_applications_deadline" in families
    verifications = families["rongcheng_licence_verifications"]
    assert any(s.labels == {"result": "invalid"} and s.value >= 1 for s in verifications.samples)  # type: ignore[attr-defined]


def test_metrics_in_openmetrics_when_asked(metrics_token):
    response = Client().get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {metrics_token}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")


def test_request_id_in_problem_documents():
    response = Client().get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="probe-request-0001")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "probe-request-0001"
    assert json.loads(response.content)["request_id"] == "probe-request-0001"


def test_the_business_clocks_report_a_ledger_that_no_longer_sums_to_zero(metrics_token):
    from rongcheng.card.models import LedgerAccount

    def scraped() -> dict[str, float]:
        text = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()
        families = _families(text)
        return {
            name: sum(s.value for s in families[name].samples)  # type: ignore[attr-defined]
            for name in ("rongcheng_ledger_imbalance_fen", "rongcheng_city_cases_deadline",
                         "rongcheng_sharing_requests_overdue")
        }  # fmt: skip

    assert scraped() == {"rongcheng_ledger_imbalance_fen": 0.0, "rongcheng_city_cases_deadline": 0.0,
                         "rongcheng_sharing_requests_overdue": 0.0}  # fmt: skip
    # A balance changed behind the ledger's back (no transfer, no entry): the gauge shows the fen created.
    LedgerAccount.objects.create(code="probe-purse", name="probe", kind="purse", balance=150, created_at=timezone.now())
    assert scraped()["rongcheng_ledger_imbalance_fen"] == 150.0
