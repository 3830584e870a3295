"""The public catalogue's cards are rendered once and served from the cache until something they show changes."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.core.cache.utils import make_template_fragment_key
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rongcheng.accounts.models import Department
from rongcheng.hall import selectors
from rongcheng.hall.tests import factories as f

pytestmark = pytest.mark.django_db

CARDS = re.compile(r'<ul class="cards">.*?</ul>', re.DOTALL)


def _cards(client: Client, path: str = "/hall/") -> tuple[str, int]:
    """The catalogue's cards as served, and the statements the view made."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    found = CARDS.search(response.content.decode())
    return (found.group(0) if found else ""), len(queries)


def test_a_repeated_view_reads_one_narrow_query_and_serves_the_same_cards():
    f.service()
    f.service("GSJ-002", name="食品经营许可")
    client = Client()
    first, _ = _cards(client)
    again, statements = _cards(client)
    assert statements == 1  # the catalogue's digest; no service loaded, nothing rendered again
    assert again == first
    key = make_template_fragment_key("hall-catalogue", [selectors.service_catalogue_stamp(), "zh-hans"])
    assert first in cache.get(key)
    assert "个体工商户设立登记" in again
    assert "食品经营许可" in again


def test_a_change_of_a_service_shows_at_once():
    f.service()
    client = Client()
    _cards(client)
    f.service(name="个体工商户设立登记（新）", promised_days=2)
    cards, _ = _cards(client)
    assert "个体工商户设立登记（新）" in cards
    assert "承诺 2 个工作日" in cards
    assert "承诺 3 个工作日" not in cards


def test_a_service_added_or_withdrawn_shows_at_once():
    f.service()
    client = Client()
    _cards(client)
    f.service("GSJ-002", name="食品经营许可")
    assert "食品经营许可" in _cards(client)[0]
    f.service("GSJ-002", name="食品经营许可", active=False)
    cards, _ = _cards(client)
    assert "食品经营许可" not in cards
    assert "个体工商户设立登记" in cards


def test_a_department_renamed_shows_at_once():
    item = f.service()
    client = Client()
    _cards(client)
    Department.objects.filter(pk=item.department_id).update(short_name="新的部门简称")
    assert "新的部门简称" in _cards(client)[0]


def test_each_language_has_its_own_cards():
    f.service()
    chinese, _ = _cards(Client(headers={"accept-language": "zh-hans"}))
    english, _ = _cards(Client(headers={"accept-language": "en"}))
    assert "工作日" in chinese
    assert "工作日" not in english


def test_a_search_is_not_served_from_the_cached_cards():
    f.service()
    f.service("GSJ-002", name="食品经营许可")
    client = Client()
    _cards(client)
    cards, _ = _cards(client, "/hall/?q=食品")
    assert "食品经营许可" in cards
    assert "个体工商户设立登记" not in cards
    cards, _ = _cards(client, "/hall/?q=没有这个事项")
    assert cards == ""
