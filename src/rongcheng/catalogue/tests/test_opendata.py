"""Open data: publication by the data steward only, immutable revisions with downloads as of a version and a diff,
small-cell suppression, the quality score, the pages and the DCAT catalogue (checked with rdflib)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import rdflib
from django.db import connection
from django.test import Client

from rongcheng.catalogue import providers, services
from rongcheng.catalogue.errors import CatalogueActionDenied, PublicationRefused
from rongcheng.catalogue.models import Dataset, DatasetRevision, DatastoreRow
from rongcheng.catalogue.selectors import dataset_quality, revision_diff
from rongcheng.catalogue.tests import factories as f

pytestmark = pytest.mark.django_db
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCT = rdflib.Namespace("http://purl.org/dc/terms/")


def test_an_editor_cannot_publish_alone():
    org = f.department()
    editor = f.steward(org)  # holds both rights, still cannot approve their own request
    services.dataset_create(organization_code=org.code, name="alone", actor=editor,
                            data={"title": "独自", "resources": [{"name": "r", "format": "CSV",
                                                                  "backing": "accounts.departments"}]})  # fmt: skip
    services.publication_request(name="alone", actor=editor)
    with pytest.raises(PublicationRefused):
        services.publication_approve(name="alone", actor=editor)
    with pytest.raises(CatalogueActionDenied):
        services.publication_approve(name="alone", actor=f.editor(org))
    assert not DatasetRevision.objects.exists()
    assert Dataset.objects.get().state == "draft"


def test_revisions_are_kept_and_downloads_and_diffs_are_as_of_a_version():
    org = f.department()
    dataset = f.published("departments", org=org)
    f.department("FZ-MZJ", "福州市民政局")
    editor, steward = f.editor(org), f.steward(org)
    services.dataset_update(name="departments", changes={"notes": "第二版说明，增加了民政局。"}, actor=editor)
    dataset.refresh_from_db()
    assert dataset.notes != "第二版说明，增加了民政局。"  # published state unchanged until approval
    services.publication_request(name="departments", actor=editor)
    services.publication_approve(name="departments", actor=steward)
    resource = dataset.resources.get()
    client = Client()
    url = f"/opendata/dataset/departments/resource/{resource.uuid}/download?format=csv"
    first = list(csv.reader(io.StringIO(client.get(url + "&version=1").getvalue().decode("utf-8-sig"))))
    second = list(csv.reader(io.StringIO(client.get(url).getvalue().decode("utf-8-sig"))))
    assert first == [["code", "name", "short_name"], ["FZ-GSJ", "福州市市场监督管理局", "市场监督管理局"]]
    assert second[-1] == ["FZ-MZJ", "福州市民政局", "民政局"]
    diff = revision_diff(Dataset.objects.get(name="departments"), 1, 2)
    assert [(field, new) for field, _old, new in diff.metadata] == [("notes", "第二版说明，增加了民政局。")]
    assert (diff.resources[0]["added"], diff.resources[0]["removed"], diff.resources[0]["unchanged"]) == (1, 0, 1)
    assert client.get("/opendata/dataset/departments/versions?a=1&b=2").status_code == 200
    assert client.get(url + "&version=7").status_code == 404


def test_personal_derived_counts_below_the_threshold_are_suppressed(settings):
    settings.CATALOGUE_SMALL_CELL_THRESHOLD = 3
    rows = [{"division_code": "350102", "persons": 2}, {"division_code": "350103", "persons": 3},
            {"division_code": "350104", "persons": 0}]  # fmt: skip
    provider = providers.Provider(
        "tests.people", "people", (providers.Column("division_code", "text", "区划"),
                                   providers.Column("persons", "integer", "人数", count=True)),
        lambda params: iter(rows), personal_derived=True,
    )  # fmt: skip
    providers.REGISTRY[provider.key] = provider
    try:
        assert list(providers.rows_for("tests.people")) == [
            {"division_code": "350102", "persons": None, "suppressed": True},
            {"division_code": "350103", "persons": 3, "suppressed": False},
            {"division_code": "350104", "persons": 0, "suppressed": False},
        ]
        dataset = f.published("people", backing="tests.people")
        assert dataset.personal_derived is True
        stored = list(DatastoreRow.objects.order_by("row_number").values_list("data", flat=True))
        assert stored[0] == {"division_code": "350102", "persons": None, "suppressed": True}
    finally:
        del providers.REGISTRY[provider.key]


def test_a_large_csv_download_is_every_row_in_order_in_a_few_bounded_chunks(monkeypatch):
    from rongcheng.catalogue import opendata

    monkeypatch.setattr(opendata, "CSV_CHUNK", 4096)
    rows = [{"division_code": f"35{n:04d}", "persons": n} for n in range(3000)]
    provider = providers.Provider(
        "tests.many", "many", (providers.Column("division_code", "text", "区划"),
                               providers.Column("persons", "integer", "人数")),
        lambda params: iter(rows),
    )  # fmt: skip
    providers.REGISTRY[provider.key] = provider
    try:
        dataset = f.published("many", backing="tests.many")
        resource = dataset.resources.get()
        response = Client().get(f"/opendata/dataset/many/resource/{resource.uuid}/download?format=csv")
        chunks = [bytes(chunk) for chunk in response.streaming_content]  # type: ignore[attr-defined]
    finally:
        del providers.REGISTRY[provider.key]
    got = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert got == [["division_code", "persons"]] + [[r["division_code"], str(r["persons"])] for r in rows]
    # PostgreSQL's COPY sends a row at a time; the response gathers them into chunks of about CSV_CHUNK bytes (the
    # header row is a chunk of its own); elsewhere rows are written 500 to a chunk
    assert len(chunks) < 100
    if connection.vendor == "postgresql":
        assert all(len(chunk) < 4096 + 100 for chunk in chunks)


def test_the_quality_score_names_each_check():
    dataset = f.published("good-data")
    checks = dict(dataset_quality(dataset).checks)
    assert checks == {"licence": True, "description": True, "update_cycle": True, "open_format": True,
                      "reachable": True, "documented": True}  # fmt: skip
    assert dataset_quality(dataset).score == 100
    poor = f.published("poor-data", fmt="XLSX", notes="短")
    assert dataset_quality(poor).score == 67


def test_the_pages_in_chinese_and_english():
    dataset = f.published("departments", tags=("部门",))
    client = Client()
    page = client.get("/opendata/?tags=部门")
    assert page.status_code == 200
    assert "departments" in page.content.decode()
    detail = client.get("/opendata/dataset/departments").content.decode()
    assert "数据质量" in detail
    assert "100" in detail
    resource = dataset.resources.get()
    preview = client.get(f"/opendata/dataset/departments/resource/{resource.uuid}").content.decode()
    assert "福州市市场监督管理局" in preview
    assert "部门编码" in preview
    english = client.get("/opendata/dataset/departments", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 200
    assert client.get("/opendata/dataset/never-was").status_code == 404


def _dictionary(page: str) -> list[list[str]]:
    table = page.split('aria-label="数据字典"')[-1].split('aria-label="Data dictionary"')[-1].split("</table>")[0]
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]


@pytest.mark.parametrize(("language", "header"), [
    ("zh-hans", ["字段", "文件中的列名", "类型", "说明"]),
    ("en", ["Field", "Column in the files", "Type", "Description"]),
])  # fmt: skip
def test_the_data_dictionary_names_each_field_in_words_and_gives_its_column_in_the_files(language, header):
    """A reader sees the field's name first, as the preview's header; the column name the downloads and the
    datastore use comes second, marked as such (not as the field's name), and the standard in brackets as a note."""
    dataset = f.published("population", backing="registries.population_by_division")
    resource = dataset.resources.get()
    page = Client().get(f"/opendata/dataset/population/resource/{resource.uuid}",
                        HTTP_ACCEPT_LANGUAGE=language).content.decode()  # fmt: skip
    rows = _dictionary(page)
    assert rows[0] == header
    assert rows[1][0] == "行政区划代码"
    assert rows[1][1] == '<code lang="en">division_code</code>'
    assert rows[1][3] == "GB/T 2260"
    assert rows[3][0] == "性别代码"
    assert rows[3][3] == "GB/T 2261.1：1 男性，2 女性"
    assert rows[4][0] == "性别"
    assert rows[4][3] == "—"  # no more to say than its name


def test_a_private_dataset_page_is_a_404_for_outsiders():
    f.published("secret", private=True)
    assert Client().get("/opendata/dataset/secret").status_code == 404
    assert Client().get("/opendata/dataset/secret.jsonld").status_code == 404


def test_a_data_request_is_stored_and_bad_input_is_not():
    from rongcheng.catalogue.models import DataRequest

    client = Client()
    assert client.post("/opendata/request/", {"title": "", "description": "x"}).status_code == 422
    assert not DataRequest.objects.exists()
    response = client.post("/opendata/request/", {"title": "公交到站数据", "description": "希望开放实时到站数据。"})
    assert response.status_code == 302
    assert DataRequest.objects.get().title == "公交到站数据"


def test_a_data_request_reaches_the_department_it_names_and_the_digital_office():
    """A request the public makes is read by someone: the department it names (its editors and data stewards, on
    their datasets page) and the digital office (every request, those naming no department too); another
    department does not see it. A refused form says what to do, not only which field."""
    client = Client()
    refused = client.post("/opendata/request/", {"title": "", "description": "x"}).content.decode()
    assert "请填写需求名称，不超过200字。" in refused
    gsj, mzj = f.department(), f.department("FZ-MZJ", "福州市民政局")
    client.post("/opendata/request/", {"title": "企业年报数据", "description": "分区县。", "organization": gsj.code})
    client.post("/opendata/request/", {"title": "公交到站数据", "description": "实时到站。", "organization": ""})
    own = Client()
    own.force_login(f.steward(gsj))
    page = own.get("/catalogue/datasets/").content.decode()
    assert "企业年报数据" in page
    assert "公交到站数据" not in page
    other = Client()
    other.force_login(f.editor(mzj))
    assert "企业年报数据" not in other.get("/catalogue/datasets/").content.decode()
    office = Client()
    office.force_login(f.office())
    everything = office.get("/catalogue/datasets/").content.decode()
    assert "企业年报数据" in everything
    assert "公交到站数据" in everything


def test_dcat_catalog_parses_with_rdflib_and_lists_non_open_resources_without_data():
    f.published("departments")
    hidden = f.resource(name="不开放的资源")  # not_open
    client = Client()
    ttl = client.get("/opendata/catalog.ttl")
    assert ttl["Content-Type"].startswith("text/turtle")
    graph = rdflib.Graph().parse(data=ttl.content.decode(), format="turtle")
    jsonld = client.get("/opendata/catalog.jsonld")
    document = json.loads(jsonld.content)
    assert "@context" in document
    from_jsonld = rdflib.Graph().parse(data=jsonld.content.decode(), format="json-ld")
    assert len(from_jsonld) == len(graph)
    datasets = set(graph.subjects(rdflib.RDF.type, DCAT.Dataset))
    assert len(datasets) == 2
    hidden_node = next(s for s in datasets if str(s).endswith(hidden.code))
    assert graph.value(hidden_node, DCT.accessRights) == rdflib.URIRef(
        "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
    )
    assert graph.value(hidden_node, DCAT.distribution) is None
    open_node = next(s for s in datasets if str(s).endswith("/opendata/dataset/departments"))
    assert graph.value(open_node, DCAT.distribution) is not None
    hydra = rdflib.Namespace("http://www.w3.org/ns/hydra/core#")
    assert [str(o) for o in graph.objects(None, hydra.totalItems)] == ["2"]
    later = client.get("/opendata/catalog.ttl?modified_since=2999-01-01T00:00:00Z").content.decode()
    assert "dcat:Dataset" not in later.replace("a dcat:Catalog", "")
    one = rdflib.Graph().parse(data=client.get("/opendata/dataset/departments.ttl").content.decode(), format="turtle")
    assert (open_node, rdflib.RDF.type, DCAT.Dataset) in one


@pytest.mark.parametrize("query", ["modified_since=bad", "modified_since=2024-13-01", "page=x", "page=0",
                                   "page=-1"])  # fmt: skip
@pytest.mark.parametrize("path", ["/opendata/catalog.jsonld", "/opendata/catalog.ttl"])
def test_dcat_refuses_an_unreadable_parameter_with_a_400_problem_naming_it(path, query):
    f.published("departments")
    response = Client().get(f"{path}?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["type"] == "/problems/bad-request"
    assert problem["errors"][0]["loc"] == ["query", query.partition("=")[0]]
    assert "ISO 8601" in problem["detail"] or "whole number" in problem["detail"]
    assert Client().get(f"{path}?modified_since=2024-01-31").status_code == 200


def test_a_published_revision_cannot_be_changed_in_postgresql():
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the trigger that keeps revisions immutable is PostgreSQL's")
    f.published("kept")
    with pytest.raises(DatabaseError), transaction.atomic():
        DatasetRevision.objects.update(approved_by="someone else")
    assert DatasetRevision.objects.get().approved_by.startswith("staff")
