"""The CKAN-compatible Action API, driven by the PyPI client `ckanapi` unmodified against a live server."""

from __future__ import annotations

import json
import time

import ckanapi  # type: ignore[import-untyped]  # no stubs
import pytest
import requests

from rongcheng.catalogue import services
from rongcheng.catalogue.models import Dataset, DatasetResource
from rongcheng.catalogue.tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


_clients: list[ckanapi.RemoteCKAN] = []


def remote(url: str, apikey: str | None = None) -> ckanapi.RemoteCKAN:
    """ckanapi's own client, unmodified; closed when the test ends (see `_close_clients`)."""
    client = ckanapi.RemoteCKAN(url, apikey=apikey)
    _clients.append(client)
    return client


@pytest.fixture(autouse=True)
def _close_clients(live_server):
    """Close every client's kept-alive connection while the live server still runs, so that no server thread is
    left waiting on it when the server and the test's database go away."""
    yield
    while _clients:
        _clients.pop().close()
    time.sleep(0.2)


@pytest.fixture
def portal(live_server):
    gsj = f.department()
    mzj = f.department("FZ-MZJ", "福州市民政局")
    f.published("market-entities", org=gsj, tags=("企业", "市场"))
    f.published("departments-list", org=gsj, tags=("部门",))
    f.published("civil-affairs", org=mzj, tags=("民政", "企业"), fmt="JSON")
    f.published("hidden-one", org=mzj, private=True)
    return remote(live_server.url + "/opendata")


def test_package_search_with_facets_as_ckan_answers(portal):
    result = portal.call_action(
        "package_search", {"rows": 2, "facet.field": ["organization", "tags", "res_format"], "sort": "name asc"}
    )
    assert result["count"] == 3
    assert [d["name"] for d in result["results"]] == ["civil-affairs", "departments-list"]
    assert result["search_facets"]["organization"]["items"] == [
        {"name": "fz-gsj", "display_name": "福州市市场监督管理局", "count": 2},
        {"name": "fz-mzj", "display_name": "福州市民政局", "count": 1},
    ]
    assert result["facets"]["tags"] == {"企业": 2, "市场": 1, "部门": 1, "民政": 1}
    assert result["facets"]["res_format"] == {"CSV": 2, "JSON": 1}


def test_package_search_filters_and_facet_field_as_json_string(portal):
    result = portal.call_action(
        "package_search", {"fq": "tags:企业 organization:fz-mzj", "facet.field": json.dumps(["license_id"])}
    )
    assert [d["name"] for d in result["results"]] == ["civil-affairs"]
    assert result["search_facets"]["license_id"]["items"][0]["name"] == "cc-by-4.0"


def test_package_search_reads_the_filter_queries_ckan_clients_send(portal):
    """`field:*` matches every dataset having the field (Solr's existence query), as CKAN answers it; the common
    forms of fq a client sends are read, the same as CKAN's Solr reads them."""

    def names(fq: str) -> list[str]:
        return sorted(d["name"] for d in portal.action.package_search(fq=fq, rows=100)["results"])

    everything = ["civil-affairs", "departments-list", "market-entities"]
    assert names("organization:*") == everything
    assert names("tags:* res_format:*") == everything
    assert names("*:*") == everything
    assert names("+dataset_type:dataset") == everything
    assert names("organization:fz-gsj") == ["departments-list", "market-entities"]
    assert names('tags:"企业"') == ["civil-affairs", "market-entities"]
    assert names("res_format:CSV") == ["departments-list", "market-entities"]
    assert names("+organization:fz-gsj +tags:企业") == ["market-entities"]
    assert names("organization:fz-gsj AND tags:市场") == ["market-entities"]
    assert names("-organization:fz-gsj") == ["civil-affairs"]
    assert names("tags:企业 NOT organization:fz-mzj") == ["market-entities"]
    assert names("metadata_modified:[2000-01-01T00:00:00Z TO *]") == everything
    assert names("metadata_modified:[* TO 2000-01-01T00:00:00Z]") == []
    assert names("name:departments-list") == ["departments-list"]
    assert portal.action.package_search(fq=["organization:fz-mzj", "res_format:JSON"])["count"] == 1


@pytest.mark.parametrize("fq", ["organization:fz-gsj OR organization:fz-mzj", "organization:(fz-gsj fz-mzj)",
                                "colour:blue", "tags:企*", 'tags:"企业', "metadata_modified:[NOW-1DAY TO NOW]",
                                "metadata_modified:2024-01-01", "NOT", "organization:"])  # fmt: skip
def test_a_filter_query_the_search_does_not_read_is_a_search_error_not_nothing(portal, live_server, fq):
    with pytest.raises(ckanapi.SearchError) as refused:
        portal.action.package_search(fq=fq)
    assert refused.value.args[0]
    answer = requests.get(live_server.url + "/opendata/api/3/action/package_search", {"fq": fq}, timeout=10)
    assert answer.status_code == 409
    body = answer.json()
    assert body["success"] is False
    assert body["error"]["__type"] == "Search Error"
    assert body["error"]["message"].startswith("Search Query is invalid: ")


def test_package_show_and_resource_show(portal):
    package = portal.action.package_show(id="market-entities")
    assert package["organization"]["name"] == "fz-gsj"
    assert package["num_resources"] == 1
    resource = portal.action.resource_show(id=package["resources"][0]["id"])
    assert resource["format"] == "CSV"
    assert resource["datastore_active"] is True
    assert resource["url"].endswith(f"/opendata/dataset/market-entities/resource/{resource['id']}/download")


def test_a_private_dataset_is_indistinguishable_from_a_missing_one(portal):
    with pytest.raises(ckanapi.NotFound) as private:
        portal.action.package_show(id="hidden-one")
    with pytest.raises(ckanapi.NotFound) as missing:
        portal.action.package_show(id="never-was")
    assert private.value.args == missing.value.args
    assert "hidden-one" not in portal.action.package_list()


def test_organization_list_group_and_tag_lists(portal):
    assert portal.action.organization_list() == ["fz-gsj", "fz-mzj"]
    organizations = portal.action.organization_list(all_fields=True)
    assert [(o["name"], o["package_count"]) for o in organizations] == [("fz-gsj", 2), ("fz-mzj", 1)]
    assert portal.action.organization_show(id="fz-gsj")["title"] == "福州市市场监督管理局"
    assert portal.action.tag_list() == ["企业", "市场", "民政", "部门"]
    assert portal.action.group_list() == []
    assert {lic["id"] for lic in portal.action.license_list()} >= {"cc-by-4.0", "cc-zero"}
    assert portal.action.status_show()["api_version"] == 3
    assert len(portal.action.current_package_list_with_resources(limit=10)) == 3


def test_datastore_search_filters_sorts_and_pages(portal):
    resource_id = portal.action.package_show(id="market-entities")["resources"][0]["id"]
    everything = portal.action.datastore_search(resource_id=resource_id, sort="code desc", limit=1)
    assert everything["total"] == 2
    assert everything["records"] == [{"_id": 2, "code": "FZ-MZJ", "name": "福州市民政局", "short_name": "民政局"}]
    one = portal.action.datastore_search(resource_id=resource_id, filters={"code": "FZ-GSJ"}, fields=["code"])
    assert one["records"] == [{"_id": 1, "code": "FZ-GSJ"}]
    assert [f["id"] for f in one["fields"]] == ["_id", "code"]
    found = portal.action.datastore_search(resource_id=resource_id, q="民政")
    assert found["total"] == 1


def test_bad_calls_answer_in_the_envelope(portal, live_server):
    with pytest.raises(ckanapi.ValidationError):
        portal.action.package_search(rows=-1)
    with pytest.raises(ckanapi.NotFound):
        portal.action.resource_show(id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(ckanapi.ValidationError):
        portal.action.datastore_search(resource_id=portal.action.package_show(id="market-entities")["resources"][0]["id"],
                                       filters={"salary": 1})  # fmt: skip
    answer = requests.get(live_server.url + "/opendata/api/3/action/package_search?rows=-1", timeout=10)
    assert answer.status_code == 409
    body = answer.json()
    assert body["success"] is False
    assert body["error"]["__type"] == "Validation Error"
    assert body["error"]["rows"] == ["Must be a natural number"]
    assert body["help"].endswith("/opendata/api/3/action/help_show?name=package_search")
    unknown = requests.post(live_server.url + "/opendata/api/action/no_such_thing", data="{", timeout=10)
    assert unknown.status_code == 400
    assert unknown.json()["success"] is False
    malformed = requests.post(live_server.url + "/opendata/api/action/package_show", data="{not json",
                              headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert malformed.status_code == 400
    assert not malformed.is_redirect


def test_a_department_token_writes_drafts_of_its_own_organization_only(live_server):
    gsj = f.department()
    f.department("FZ-MZJ", "福州市民政局")
    _, raw = services.api_token_issue(department_code="FZ-GSJ", name="市场监管系统", actor=f.SYSTEM)
    writer = remote(live_server.url + "/opendata", apikey=raw)
    created = writer.action.package_create(name="new-data", title="新数据", owner_org="fz-gsj", notes="说明",
                                           tags=[{"name": "企业"}])  # fmt: skip
    assert created["state"] == "draft"
    writer.action.resource_create(package_id="new-data", name="下载", format="CSV", url="https://example.org/a.csv")
    patched = writer.action.package_patch(id="new-data", title="新数据（修订）")
    assert patched["title"] == "新数据（修订）"
    assert writer.action.package_show(id="new-data")["num_resources"] == 1
    anonymous = remote(live_server.url + "/opendata")
    with pytest.raises(ckanapi.NotFound):
        anonymous.action.package_show(id="new-data")
    with pytest.raises(ckanapi.NotAuthorized):
        anonymous.action.package_create(name="sneaky", title="x", owner_org="fz-gsj")
    with pytest.raises(ckanapi.NotAuthorized):
        writer.action.package_create(name="other-org", title="x", owner_org="fz-mzj")
    with pytest.raises(ckanapi.NotAuthorized):
        remote(live_server.url + "/opendata", apikey="rc-ckan-wrong").action.package_create(
            name="sneaky", title="x", owner_org="fz-gsj"
        )
    with pytest.raises(ckanapi.ValidationError):
        writer.action.package_create(name="new-data", title="again", owner_org="fz-gsj")
    assert set(Dataset.objects.values_list("name", flat=True)) == {"new-data"}
    assert DatasetResource.objects.count() == 1
    assert Dataset.objects.get().organization == gsj


def test_datastore_search_names_the_argument_at_fault_and_takes_values_of_the_columns_type(portal, live_server):
    resource_id = portal.action.package_show(id="market-entities")["resources"][0]["id"]
    # "2" is the integer 2 to an integer column, as CKAN casts it (the row numbers here).
    second = portal.action.datastore_search(resource_id=resource_id, filters={"_id": "2"}, fields=["code"])
    assert second["records"] == [{"_id": 2, "code": "FZ-MZJ"}]
    either = portal.action.datastore_search(resource_id=resource_id, filters={"_id": ["1", 2]}, fields=["code"])
    assert [r["code"] for r in either["records"]] == ["FZ-GSJ", "FZ-MZJ"]
    url = live_server.url + "/opendata/api/3/action/datastore_search"
    for params, argument, message in [
        ({"sort": "salary desc"}, "sort", 'field "salary" not in table'),
        ({"fields": "code,salary"}, "fields", 'field "salary" not in table'),
        ({"filters": json.dumps({"salary": 1})}, "filters", 'field "salary" not in table'),
        ({"filters": json.dumps({"_id": "abc"})}, "filters", 'field "_id": “abc” is not of the type integer'),
    ]:
        answer = requests.post(url, json={"resource_id": resource_id, **params}, timeout=10)
        assert answer.status_code == 409, params
        error = answer.json()["error"]
        assert (error["__type"], error[argument]) == ("Validation Error", [message])
        assert set(error) == {"__type", "message", argument}
    for rows in (1.5, "1.5", "ten"):
        answer = requests.post(
            live_server.url + "/opendata/api/3/action/package_search", json={"rows": rows}, timeout=10
        )
        assert answer.status_code == 409, rows
        error = answer.json()["error"]
        assert (error["__type"], error["rows"]) == ("Validation Error", ["Invalid integer"])
    assert portal.action.package_search(rows=2.0)["count"] == 3  # a whole number written as a float is a count
