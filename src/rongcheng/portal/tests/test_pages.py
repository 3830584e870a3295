"""The front door: tasks before capabilities, only existing capabilities linked, the public licence verification form,
and error pages in the site's layout with a way back, in both languages."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rongcheng.accounts.models import AccountKind, User
from rongcheng.portal.capabilities import CAPABILITIES

pytestmark = pytest.mark.django_db


def test_the_home_page_leads_with_tasks_then_capabilities(client):
    page = client.get("/").content.decode()
    tasks = [page.index(href) for href in ('href="/hall/"', 'href="/hall/applications/"', 'href="/licences/mine/"',
                                            'href="/licences/verify/"')]  # fmt: skip
    assert max(tasks) < page.index('id="capabilities-heading"')
    assert 'href="/hall/?q=%E5%87%BA%E7%94%9F"' in page  # a life event: 生育 finds 出生 services
    for capability in CAPABILITIES:
        card = re.search(rf'id="capability-{capability.key}">(.*?)</li>', page, re.S)
        assert card is not None
        linked = "<a href=" in card.group(1)
        assert linked == (capability.available and not capability.permission), capability.key
        assert ("即将推出" in card.group(1)) == (not capability.available), capability.key


def test_a_capability_for_staff_is_linked_only_for_those_who_may_open_it(client):
    resident = User.objects.create_user(username="r", password="x", kind=AccountKind.RESIDENT)
    client.force_login(resident)
    page = client.get("/").content.decode()
    assert 'href="/registries/persons/"' not in page
    assert 'href="/audit/"' not in page
    assert "基础数据资源库" in page


def test_anyone_types_a_licence_identifier_to_verify_it_without_signing_in(client):
    form = client.get("/licences/verify/")
    assert form.status_code == 200
    assert 'name="identifier"' in form.content.decode()
    refused = client.get("/licences/verify/", {"identifier": " 1.2.156.3005.2.ABC/../x "})
    assert refused.status_code == 400  # the form again, holding what was typed, not a mangled redirect
    assert 'value="1.2.156.3005.2.ABC/../x"' in refused.content.decode()


@pytest.mark.parametrize(("language", "texts"), [("zh-hans", ("页面不存在", "返回首页")),
                                                 ("en", ("Page not found", "Back to the home page"))])  # fmt: skip
def test_error_pages_are_in_the_site_layout_with_a_way_back(language, texts):
    client = Client(headers={"accept-language": language})
    client.cookies["django_language"] = language
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    page = missing.content.decode()
    assert 'class="masthead"' in page
    assert all(text in page for text in texts)
    resident = User.objects.create_user(username="r", password="x", kind=AccountKind.RESIDENT)
    client.force_login(resident)
    forbidden = client.get("/registries/persons/")
    assert forbidden.status_code == 403
    page = forbidden.content.decode()
    assert 'class="masthead"' in page
    assert ("无权访问" if language == "zh-hans" else "Not allowed") in page
    assert 'href="/"' in page
