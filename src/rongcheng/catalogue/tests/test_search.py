"""What `package_search` and `datastore_search` promise, whichever path answers them: on PostgreSQL a word is looked
for in the datasets' stored search text and the facets are counted in one statement, a filtered datastore
page and its total come from one materialized match; on SQLite the plain scans. Every answer is checked against a
recount in Python over the same rows, so both paths are held to the same results."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rongcheng.catalogue import selectors
from rongcheng.catalogue.models import (
    SEARCH_SEPARATOR,
    Dataset,
    DatasetGroup,
    DatasetResource,
    DatasetState,
    DatasetTag,
    DatastoreRow,
)
from rongcheng.catalogue.tests import factories as f

pytestmark = pytest.mark.django_db

# name, title, notes, tags, resource format, organization (index), licence, groups; draft-one is a draft and
# private-one private: neither is ever found by the public.
ROWS = [
    ("bus-lines", "公交线路", "本市公交线路及站点。", ("交通", "公交"), "CSV", 0, "cc-by-4.0", ("traffic",)),
    ("bus-stops", "公交站点位置", "公交站点的经纬度（GCJ-02）。", ("交通",), "GeoJSON", 0, "cc-by-4.0", ("traffic",)),
    ("school-list", "中小学名录", "全市中小学名录、学段与地址。", ("教育",), "CSV", 1, "odc-by", ("education",)),
    ("hospital-beds", "医院床位统计", "各医院床位数统计，按季度更新。", ("医疗", "统计"), "XLSX", 2, "cc-by-4.0", ()),
    ("budget-2026", "财政预算 2026", "市级财政预算公开表（100% 公开）。", ("财政",), "CSV", 2, "cc-zero", ()),
    ("air-quality", "Air Quality 空气质量", "AQI hourly, PM2.5 and PM10_avg.", ("环境",), "JSON", 1, "cc-by-4.0", ()),
    ("park-csv", "公园名录", "City parks as csv.", ("公园", "交通"), "CSV", 0, "odc-odbl", ("traffic", "education")),
    ("draft-one", "公交线路草稿", "未发布的公交线路。", ("交通",), "CSV", 0, "cc-by-4.0", ()),
    ("private-one", "公交内部统计", "不公开的公交统计。", ("交通",), "CSV", 0, "cc-by-4.0", ()),
]


@pytest.fixture
def catalogue():
    now = timezone.now()
    organizations = [f.department(), f.department("FZ-MZJ", "福州市民政局"), f.department("FZ-CZJ", "福州市财政局")]
    groups = {
        name: DatasetGroup.objects.create(name=name, title=title, created=now)
        for name, title in (("traffic", "交通出行"), ("education", "教育文化"))
    }
    for n, (name, title, notes, tags, fmt, org, licence, grouped) in enumerate(ROWS):
        dataset = Dataset.objects.create(
            name=name, title=title, notes=notes, organization=organizations[org], licence_id=licence,
            state=DatasetState.DRAFT if name == "draft-one" else DatasetState.ACTIVE, private=name == "private-one",
            revision=1, metadata_created=now, metadata_modified=now - dt.timedelta(minutes=n),
        )  # fmt: skip
        dataset.groups.set([groups[g] for g in grouped])
        DatasetTag.objects.bulk_create(DatasetTag(dataset=dataset, name=tag) for tag in tags)
        DatasetResource.objects.create(dataset=dataset, name="数据", format=fmt, created=now, last_modified=now)
    return organizations


def _listed() -> list[Dataset]:
    return list(Dataset.objects.filter(state=DatasetState.ACTIVE, private=False).prefetch_related("tag_rows"))


def _expected(word: str) -> list[str]:
    """The datasets `q=word` must find: the word inside title, name or notes (ignoring case), or a tag equal to it;
    newest first (the default sort)."""
    needle = word.upper()
    found = [
        d for d in _listed()
        if needle in d.title.upper() or needle in d.name.upper() or needle in d.notes.upper()
        or word in {t.name for t in d.tag_rows.all()}
    ]  # fmt: skip
    return [d.name for d in sorted(found, key=lambda d: (-d.metadata_modified.timestamp(), d.name))]


@pytest.mark.parametrize(
    "word",
    [
        "公",  # one character
        "公交",  # two characters
        "统计",  # two characters, also a tag
        "公交线",  # three
        "公交站点",  # four
        "站点的经纬度",  # inside a description
        "中小学名录",  # in both title and notes of one dataset: found once
        "air quality",  # Latin, another case than the title's
        "AQI",
        "csv",  # in a name and a description, another case than the resource format
        "100%",  # LIKE's wildcard, taken literally
        "PM10_",  # LIKE's single-character wildcard, taken literally
        "pm2_5",  # would match "PM2.5" if `_` were a wildcard: must not
        "交通",  # a tag only
        "线路bus",  # the end of a title and the start of a name: in no one text, never found
        "不存在的词",
    ],
)
def test_words_find_the_same_datasets_on_every_path(catalogue, word):
    found = selectors.dataset_search(q=word, rows=100)
    assert [d.name for d in found.datasets] == _expected(word)
    assert found.count == len(_expected(word))


def test_a_phrase_holding_the_search_texts_separator_is_not_found_across_two_texts(catalogue):
    # PostgreSQL keeps title, name and description in one stored text joined by SEARCH_SEPARATOR: a quoted phrase
    # holding it must still be found only inside one of them (bus-lines: title 公交线路, name bus-lines).
    assert selectors.dataset_search(q=f'"线路{SEARCH_SEPARATOR}bus"', rows=100).count == 0
    assert selectors.dataset_search(q=f'"线路{SEARCH_SEPARATOR}bus"', rows=100).datasets == []
    assert [d.name for d in selectors.dataset_search(q='"线路"', rows=100).datasets] == ["bus-lines"]


def test_quoted_words_and_several_words_narrow_together(catalogue):
    found = selectors.dataset_search(q='"公交站点" 经纬度', rows=100)
    assert [d.name for d in found.datasets] == ["bus-stops"]
    found = selectors.dataset_search(q="公交 统计", rows=100)  # the private dataset has both: never listed
    assert [d.name for d in found.datasets] == []
    found = selectors.dataset_search(q="名录", fq="tags:交通", rows=100)
    assert [d.name for d in found.datasets] == ["park-csv"]


def test_facets_are_exact_counts_of_the_whole_match(catalogue):
    fields = ["organization", "tags", "res_format", "license_id", "groups"]
    found = selectors.dataset_search(q="", rows=1, facet_fields=fields)
    listed = _listed()
    assert found.count == len(listed) == 7
    assert len(found.datasets) == 1  # the page is one dataset, the facets count all seven
    organizations = Counter((d.organization.code.lower(), d.organization.name) for d in listed)
    assert found.facets["organization"] == [
        (code, name, n) for (code, name), n in sorted(organizations.items(), key=lambda i: (-i[1], i[0][0].upper()))
    ]
    tags = Counter(t.name for d in listed for t in d.tag_rows.all())
    # Ties are in the database's collation order, which for Chinese differs between locales: counts checked whole.
    assert {name: n for name, _, n in found.facets["tags"]} == tags
    assert [n for _, _, n in found.facets["tags"]] == sorted(tags.values(), reverse=True)
    assert found.facets["tags"][0] == ("交通", "交通", 3)
    assert found.facets["res_format"] == [("CSV", "CSV", 4), ("GeoJSON", "GeoJSON", 1), ("JSON", "JSON", 1),
                                          ("XLSX", "XLSX", 1)]  # fmt: skip
    assert found.facets["license_id"][0] == ("cc-by-4.0", "Creative Commons Attribution 4.0", 4)
    assert sorted(found.facets["license_id"][1:]) == [
        ("cc-zero", "Creative Commons CCZero", 1),
        ("odc-by", "Open Data Commons Attribution License", 1),
        ("odc-odbl", "Open Data Commons Open Database License (ODbL)", 1),
    ]
    assert found.facets["groups"] == [("traffic", "交通出行", 3), ("education", "教育文化", 2)]
    assert list(found.facets) == fields


def test_facets_follow_the_match_and_the_limit(catalogue):
    found = selectors.dataset_search(q="公交", facet_fields=["tags", "organization"], facet_limit=1)
    assert found.count == 2  # bus-lines, bus-stops (the draft and the private one are not listed)
    assert found.facets == {"tags": [("交通", "交通", 2)], "organization": [("fz-gsj", "福州市市场监督管理局", 2)]}
    nothing = selectors.dataset_search(q="不存在的词", facet_fields=["tags", "groups"])
    assert (nothing.count, nothing.datasets, nothing.facets) == (0, [], {"tags": [], "groups": []})


@pytest.mark.parametrize("sort", ["", "name asc", "name desc", "title_string asc", "metadata_modified asc"])
def test_pages_are_slices_of_one_order(catalogue, sort):
    whole = [d.name for d in selectors.dataset_search(q="", sort=sort, rows=100).datasets]
    assert sorted(whole) == sorted(d.name for d in _listed())
    pages = [[d.name for d in selectors.dataset_search(q="", sort=sort, rows=3, start=s).datasets] for s in (0, 3, 6)]
    assert pages == [whole[0:3], whole[3:6], whole[6:9]]
    assert selectors.dataset_search(q="", sort=sort, rows=3, start=50).datasets == []


def test_a_page_of_packages_is_each_package_as_shown_alone_in_as_many_statements_whatever_its_size(catalogue):
    park = Dataset.objects.get(name="park-csv")
    now = timezone.now()
    DatasetResource.objects.create(dataset=park, name="公园边界", format="GeoJSON", position=2, created=now,
                                   last_modified=now)  # fmt: skip
    DatasetResource.objects.create(dataset=park, name="公园设施", format="JSON", position=1, created=now,
                                   last_modified=now)  # fmt: skip
    found = selectors.dataset_search(q="", rows=100)
    alone = [selectors.package_dict(Dataset.objects.get(pk=d.pk), base_url="https://x") for d in found.datasets]
    assert selectors.package_dicts(found.datasets, base_url="https://x") == alone
    park_package = next(p for p in alone if p["name"] == "park-csv")
    assert [r["name"] for r in park_package["resources"]] == ["数据", "公园设施", "公园边界"]
    assert [g["name"] for g in park_package["groups"]] == ["education", "traffic"]
    with CaptureQueriesContext(connection) as two:
        selectors.package_dicts(found.datasets[:2])
    with CaptureQueriesContext(connection) as seven:
        selectors.package_dicts(found.datasets)
    assert len(found.datasets) == 7
    assert len(two.captured_queries) == len(seven.captured_queries) == 4  # tags, group links, groups, resources


def test_a_word_is_one_test_of_the_stored_search_text():
    """PostgreSQL: the word is looked for in the stored, upper-cased text (ADR 0022), never by upper-casing the
    dataset's three texts again at every search."""
    if connection.vendor != "postgresql":
        pytest.skip("the stored search text is looked up so on PostgreSQL")
    sql, params = Dataset.objects.filter(selectors._word("公交线")).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "search_text ~~ '%公交线%'::text" in plan
    assert "upper((title" not in plan
    assert "upper(notes" not in plan


def test_an_edited_title_is_found_by_its_new_words_and_no_longer_by_the_old(catalogue):
    dataset = Dataset.objects.get(name="hospital-beds")
    assert [d.name for d in selectors.dataset_search(q="床位统计").datasets] == ["hospital-beds"]
    dataset.title = "Hospital 病床数"
    dataset.save()
    assert selectors.dataset_search(q="床位统计").datasets == []
    assert [d.name for d in selectors.dataset_search(q="HOSPITAL 病床数").datasets] == ["hospital-beds"]
    assert [d.name for d in selectors.dataset_search(q="各医院床位数").datasets] == ["hospital-beds"]  # its notes


# --- the datastore ------------------------------------------------------------------------------------------------

DIVISIONS = ("350102", "350103", "350104")


@pytest.fixture
def table():
    now = timezone.now()
    dataset = Dataset.objects.create(name="big-table", title="大表", organization=f.department(),
                                     state=DatasetState.ACTIVE, revision=2, metadata_created=now,
                                     metadata_modified=now)  # fmt: skip
    fields = [{"id": "division_code", "type": "text"}, {"id": "category", "type": "text"},
              {"id": "name", "type": "text"}, {"id": "value", "type": "integer"}]  # fmt: skip
    resource = DatasetResource.objects.create(dataset=dataset, name="大表", format="CSV", fields=fields, created=now,
                                              last_modified=now)  # fmt: skip
    rows = [{"division_code": DIVISIONS[n % 3], "category": f"c{(n // 3) % 7}", "name": f"记录{n}",
             "value": (n * 37) % 101} for n in range(600)]  # fmt: skip
    DatastoreRow.objects.bulk_create(
        [DatastoreRow(resource=resource, revision=2, row_number=n + 1, data=row) for n, row in enumerate(rows)]
        + [DatastoreRow(resource=resource, revision=1, row_number=n + 1, data=row) for n, row in enumerate(rows[:50])]
    )
    return resource, rows


def _reference(rows, filters, sort):
    numbered = [(n + 1, row) for n, row in enumerate(rows)]
    matched = [(n, row) for n, row in numbered if all(row[k] == v for k, v in filters.items())]
    matched.sort(key=lambda pair: pair[0])
    for name, descending in reversed(sort):
        matched.sort(key=lambda pair: pair[0] if name == "_id" else pair[1][name], reverse=descending)
    return [{"_id": n, **row} for n, row in matched]


@pytest.mark.parametrize(
    ("filters", "sort", "offset", "limit"),
    [
        ({"division_code": "350103", "category": "c4"}, [], 0, 10),  # a rare pair: 28 rows
        ({"division_code": "350103", "category": "c4"}, [], 20, 10),  # the last, short page
        ({"division_code": "350103", "category": "c4"}, [], 40, 10),  # past the end: no rows, the total still
        ({"division_code": "350104"}, [("value", True)], 15, 25),  # a broad filter, sorted by a column
        ({"category": "c0"}, [("value", False), ("division_code", True)], 0, 100),
        ({"division_code": "350102"}, [("_id", True)], 5, 5),
        ({"division_code": "nowhere"}, [], 0, 10),
    ],
)
def test_a_filtered_page_and_its_exact_total(table, filters, sort, offset, limit):
    resource, rows = table
    page = selectors.datastore_search(resource=resource, filters=filters, sort=sort, offset=offset, limit=limit)
    expected = _reference(rows, filters, sort)
    assert page.total == len(expected)  # exact: CKAN never estimates a filtered total
    assert page.records == expected[offset : offset + limit]
    without_total = selectors.datastore_search(resource=resource, filters=filters, sort=sort, offset=offset,
                                               limit=limit, include_total=False)  # fmt: skip
    assert (without_total.total, without_total.records) == (-1, page.records)


def test_a_filtered_page_of_an_earlier_revision_and_with_words(table):
    resource, rows = table
    page = selectors.datastore_search(resource=resource, filters={"division_code": "350104"}, revision=1, limit=100)
    assert page.total == len(_reference(rows[:50], {"division_code": "350104"}, []))
    assert page.records == _reference(rows[:50], {"division_code": "350104"}, [])
    found = selectors.datastore_search(resource=resource, q="记录59", fields=["name"], limit=100)
    assert found.records == [{"_id": n + 1, "name": row["name"]} for n, row in enumerate(rows)
                             if "记录59" in row["name"]]  # fmt: skip
    assert found.total == 11  # 记录59 and 记录590-599
