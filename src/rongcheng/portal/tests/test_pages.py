"""The front door: tasks before capabilities, only existing capabilities linked, the public licence verification form,
and error pages in the site's layout with a way back, in both languages."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from rongcheng.accounts.models import AccountKind, User
from rongcheng.portal.capabilities import CAPABILITIES
from rongcheng.registries.tests.factories import staff

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


def test_the_stories_page_lists_every_story_with_its_accounts_and_steps_in_both_languages(client, tmp_path):
    from rongcheng.portal.stories import STORIES

    home = client.get("/").content.decode()
    assert home.count('href="/stories/"') == 2  # the home page's invitation and the footer
    page = client.get("/stories/").content.decode()
    assert page.count('<section class="story card"') == len(STORIES) == 10
    assert "故事1：居民网上申领居住证，民警审批，居民拿到电子证照" in page
    assert "点击「一键填入政府已有材料」，点击「提交申请」，页面显示「申请已提交。」。" in page
    assert "<code>police</code> · 户籍民警（工作人员，登录需动态口令）" in page
    assert "var/demo-accounts.txt" in page
    assert "password" not in page.lower()
    assert "totp:" not in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/stories/"})
    english = client.get("/stories/").content.decode()
    assert "Story 1: A resident applies online for a residence permit" in english
    assert (
        "Click “Fill in what the government already holds”, click “Submit”, the page shows “Application submitted.”."
        in english
    )
    assert "点击" not in english
    assert "步骤" not in english
    assert "Story 8: A company looks at its own credit record and has a credit report issued" in english


def test_the_readme_lists_the_same_stories_and_steps_as_the_page():
    from pathlib import Path

    from django.utils import translation

    from rongcheng.portal.stories import STORIES

    readme = (Path(__file__).resolve().parents[4] / "README.md").read_text(encoding="utf-8")
    with translation.override("zh-hans"):
        for story in STORIES:
            assert f"**{story.title}**" in readme
            for number, step in enumerate(story.steps, 1):
                assert f"   {number}. {'，'.join(str(action.text) for action in step)}。\n" in readme, (
                    story.key,
                    number,
                )


def test_the_stylesheet_declares_a_cjk_font_fallback():
    """Chinese text never falls back to a font without its glyphs: the body names the CJK fonts of each platform."""
    from pathlib import Path

    css = (Path(__file__).resolve().parents[1] / "static" / "portal" / "site.css").read_text(encoding="utf-8")
    body = css[css.index("body {") : css.index("}", css.index("body {"))]
    for family in ('"PingFang SC"', '"Hiragino Sans GB"', '"Microsoft YaHei"', '"Noto Sans CJK SC"',
                   '"Source Han Sans SC"', "sans-serif"):  # fmt: skip
        assert family in body, family


def test_a_forms_lists_are_drawn_like_its_text_boxes():
    """A list to choose from (问题类别, 类别, 主题网格) has the text boxes' size and padding: left to the browser's
    default it is a small control, hard to tap at 390 px and unlike the fields beside it."""
    from pathlib import Path

    css = (Path(__file__).resolve().parents[1] / "static" / "portal" / "site.css").read_text(encoding="utf-8")
    start = css.index(".form input, .form select")
    rule = css[start : css.index("}", start)]
    assert "font: inherit" in rule
    assert "padding: .6rem" in rule


CSRF_TEXTS = [
    ("zh-hans", ("表单已过期", "请返回上一页", "返回首页")),
    ("en", ("The form has expired", "go back", "Back to the home page")),
]


@pytest.mark.parametrize(("language", "texts"), CSRF_TEXTS)
def test_a_form_sent_without_its_csrf_token_is_refused_in_the_site_layout(language, texts):
    client = Client(enforce_csrf_checks=True, headers={"accept-language": language})
    client.cookies["django_language"] = language
    resident = User.objects.create_user(username="r", password="x", kind=AccountKind.RESIDENT)
    client.force_login(resident)
    refused = client.post(reverse("identity:sign-out"))
    assert refused.status_code == 403
    page = refused.content.decode()
    assert 'class="masthead"' in page
    assert f'lang="{"zh-hans" if language == "zh-hans" else "en"}"' in page
    assert all(text in page for text in texts)
    assert "DEBUG" not in page
    assert "CSRF" not in page
    assert client.get("/", follow=False).wsgi_request.user.is_authenticated  # the refused sign-out changed nothing


def test_an_api_call_of_a_session_without_its_csrf_token_answers_a_csrf_problem():
    client = Client(enforce_csrf_checks=True)
    resident = User.objects.create_user(username="r", password="x", kind=AccountKind.RESIDENT)
    client.force_login(resident)
    refused = client.post("/api/v1/hall/applications", {"service": "x"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/problems/csrf-failed")
    assert client.get("/problems/csrf-failed").status_code == 200


def test_the_admin_link_shows_only_to_accounts_that_can_use_an_admin_page():
    officer = staff("officer", can_read=False)
    client = Client()
    client.force_login(officer)
    assert client.get("/admin/").status_code == 200  # Django lets a staff flag in, to an empty page
    assert 'href="/admin/"' not in client.get("/").content.decode()
    officer.user_permissions.add(Permission.objects.get(codename="view_user", content_type__app_label="accounts"))
    cache.clear()  # grants are cached for a while; a direct permission (not a role assignment) does not drop them
    page = client.get("/").content.decode()
    assert 'href="/admin/"' in page
    admin_page = client.get("/admin/").content.decode()
    assert "榕城数字政府平台" in admin_page
    assert "Django" not in admin_page.split("<body", 1)[1].split("</header>", 1)[0]
    officer.is_staff = False
    officer.save(update_fields=["is_staff"])
    cache.clear()
    assert 'href="/admin/"' not in client.get("/").content.decode()
