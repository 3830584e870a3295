"""People's words on the demo's pages, in both languages: a crawler over the pages residents, companies, officers and
visitors open on the seeded demo city fails on a raw True/False/None, an internal slug (hall-42, hall_prefill,
registries:person.name), or an error in Latin letters only on a Chinese page."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from rongcheng.accounts.models import User
from rongcheng.demo.services import demo_city_seed
from rongcheng.hall import services
from rongcheng.hall.models import ServiceItem
from rongcheng.identity.selectors import representation_list_for_user
from rongcheng.licences.models import Licence

pytestmark = pytest.mark.django_db

RAW = re.compile(r"(?<![\w-])(True|False|None)(?![\w-])")
SLUG = re.compile(r"\bhall-\d+\b|\bhall_prefill\b|\bregistries:[a-z_.]+|\blicence:[0-9A-Z.]{10,}")
CJK = re.compile(r"[\u3400-\u9fff]")


class _Text(HTMLParser):
    """The page's visible text, and the text of its error messages (role=alert, messages marked error)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.errors: list[str] = []
        self._skip = 0
        self._error_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if self._error_depth or found.get("role") == "alert" or "error" in (found.get("class") or "").split():
            self._error_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if self._error_depth:
            self._error_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip or not data.strip():
            return
        self.text.append(data.strip())
        if self._error_depth:
            self.errors.append(data.strip())


def _problems(url: str, html: str, language: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    text = "\n".join(parser.text)
    # A raw value: a whole text (a table cell, a value) that is True/False/None in either language; on a Chinese page
    # also within a sentence (in English prose "None" is a word).
    found = [f"{url} [{language}]: raw {node!r}" for node in parser.text
             if node in ("True", "False", "None") or (language == "zh-hans" and RAW.search(node))]  # fmt: skip
    found += [f"{url} [{language}]: internal {m.group(0)!r}" for m in SLUG.finditer(text)]
    if language == "zh-hans":
        found += [f"{url}: Latin-only error {e!r}" for e in parser.errors if re.search("[A-Za-z]{3}", e)
                  and not CJK.search(e)]  # fmt: skip
    return found


@pytest.fixture
def city(tmp_path: Any) -> dict[str, Any]:
    demo_city_seed(persons=60, entities=20, accounts_file=tmp_path / "accounts.txt")
    users = {u.username: u for u in User.objects.filter(username__in=("resident", "company", "officer", "market"))}
    resident, company = users["resident"], users["company"]
    permit = services.application_start(user=resident, service_code="GAJ-JZZ-001")
    services.application_prefill(user=resident, application_id=permit.pk, authorize_licences=True)
    services.application_submit(user=resident, application_id=permit.pk)
    draft = services.application_start(user=resident, service_code="GSJ-QY-001")  # uploads missing
    credit_code = representation_list_for_user(user=company)[0].legal_entity.credit_code
    food = services.application_start(user=company, service_code="GSJ-SP-001", credit_code=credit_code)
    services.application_prefill(user=company, application_id=food.pk, authorize_licences=True)
    services.application_submit(user=company, application_id=food.pk)
    services.application_transition(user=users["officer"], application_id=food.pk, transition="accept")
    own = Licence.objects.filter(holder_index=resident.id_number_index).first() or Licence.objects.first()
    assert own is not None
    return {"users": users, "permit": permit, "draft": draft, "food": food, "licence": own}


def test_the_demo_pages_speak_people_s_words_in_both_languages(city):
    permit, draft, food, licence = city["permit"], city["draft"], city["food"], city["licence"]
    pages: dict[str | None, list[str]] = {
        None: ["/", "/hall/", "/licences/verify/", f"/licences/verify/{licence.identifier}/", "/account/sign-in/",
               "/account/sign-in/sms/", "/no-such-page/",
               *[f"/hall/services/{code}/" for code in ServiceItem.objects.values_list("code", flat=True)]],
        "resident": ["/", "/hall/applications/", f"/hall/applications/{permit.pk}/", f"/hall/applications/{draft.pk}/",
                     "/licences/mine/", "/registries/me/reads/", "/account/", "/registries/persons/"],
        "company": [f"/hall/applications/{food.pk}/", "/licences/mine/"],
        "officer": ["/hall/workbench/", f"/hall/workbench/{food.pk}/", f"/hall/workbench/{permit.pk}/"],
        "market": ["/hall/workbench/", f"/hall/workbench/{food.pk}/"],
    }  # fmt: skip
    problems: list[str] = []
    for language in ("zh-hans", "en"):
        for username, urls in pages.items():
            client = Client()
            client.cookies["django_language"] = language
            if username:
                client.force_login(city["users"][username])
            if username == "resident":  # an error message on the page: submitting without the uploads
                response = client.post(f"/hall/applications/{draft.pk}/submit/", {"statement": ""}, follow=True)
                problems += _problems("submit without uploads", response.content.decode(), language)
            for url in urls:
                response = client.get(url)
                assert response.status_code in (200, 403, 404), (url, response.status_code)
                problems += _problems(url, response.content.decode(), language)
    assert problems == []
