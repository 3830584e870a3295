from datetime import date

import pytest

from rongcheng.divisions.models import Division, DivisionLevel
from rongcheng.divisions.tests.factories import CountyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def changle():
    new = Division.objects.create(
        code="350112", name="长乐区", level=DivisionLevel.COUNTY, valid_from=date(2017, 10, 1)
    )
    old = Division.objects.create(
        code="350182", name="长乐市", level=DivisionLevel.COUNTY, valid_to=date(2017, 9, 30), successor=new
    )
    return old, new


def test_retired_division_names_its_successor(client, changle):
    response = client.get("/api/v1/divisions/350182")
    assert response.status_code == 200
    assert response.json() == {
        "code": "350182",
        "name": "长乐市",
        "level": "county",
        "parent_code": None,
        "valid_from": None,
        "valid_to": "2017-09-30",
        "successor_code": "350112",
    }


def test_unknown_division_is_a_problem_document(client):
    response = client.get("/api/v1/divisions/999999")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No division has the code 999999.",
        "instance": "/api/v1/divisions/999999",
        "request_id": response["X-Request-ID"],
    }


def test_cursor_pagination_walks_every_row_once(client, changle):
    CountyFactory.create_batch(5)
    seen: list[str] = []
    url = "/api/v1/divisions?limit=3"
    while url:
        body = client.get(url).json()
        seen.extend(item["code"] for item in body["items"])
        url = f"/api/v1/divisions?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert seen == sorted(Division.objects.values_list("code", flat=True))
    assert len(seen) == 7


@pytest.mark.parametrize(
    ("query", "loc", "rule"),
    [
        ("cursor=forged", ["query", "cursor"], "cursor.signature"),
        ("limit=0", ["query", "limit"], "limit.range"),
        ("limit=100000", ["query", "limit"], "limit.range"),
        ("level=planet", ["query", "level"], "enum"),
        ("limit=abc", ["query", "limit"], "int_parsing"),
    ],
)
def test_bad_query_gets_a_422_naming_the_field(client, query, loc, rule):
    response = client.get(f"/api/v1/divisions?{query}")
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-failed"
    assert body["errors"][0]["loc"] == loc
    assert body["errors"][0]["rule"] == rule


def test_unknown_api_path_is_a_problem_document(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


def test_health(client):
    assert client.get("/api/v1/health").json() == {"status": "ok"}
