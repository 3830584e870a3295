"""Open data carries values a reader understands: a national code with its name beside it (sex, GB/T 2261.1), or
the name the pages show for the platform's own code lists; never the platform's internal English codes."""

from __future__ import annotations

import re

import pytest

from rongcheng.catalogue import providers
from rongcheng.divisions.models import Division
from rongcheng.registries.tests.factories import make_entity, make_id_number, make_person

pytestmark = pytest.mark.django_db

INTERNAL_CODE = re.compile(r"[a-z][a-z_]*")


def test_population_by_sex_carries_the_gb_t_2261_1_code_and_its_name(settings):
    settings.CATALOGUE_SMALL_CELL_THRESHOLD = 1
    for sequence in (11, 13, 12):  # the ID number's 17th digit: odd for a man, even for a woman
        make_person(id_number=make_id_number(sequence=sequence))
    rows = list(providers.rows_for("registries.population_by_division"))
    assert [(r["sex"], r["sex_name"], r["persons"]) for r in rows] == [("1", "男性", 2), ("2", "女性", 1)]
    dictionary = {c.name: c.description for c in providers.columns_for("registries.population_by_division")}
    assert dictionary["sex"] == "性别代码（GB/T 2261.1：1 男性，2 女性）"
    assert dictionary["sex_name"] == "性别"


def test_no_published_row_carries_an_internal_english_code(settings):
    settings.CATALOGUE_SMALL_CELL_THRESHOLD = 1
    make_person(id_number=make_id_number(sequence=11))
    make_entity()
    Division.objects.create(code="350102", name="鼓楼区", level="county")
    for key, provider in providers.REGISTRY.items():
        if provider.records is not None:
            continue
        for row in providers.rows_for(key):
            for column, value in row.items():
                assert not (isinstance(value, str) and INTERNAL_CODE.fullmatch(value)), (key, column, value)
