from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from rongcheng.demo.generator import BIRTH_END, BIRTH_START, entity_rows, person_rows, place_rows
from rongcheng.kernel.identifiers import credit_code_validate, id_number_validate


def test_same_seed_same_city():
    assert list(person_rows(7, 0, 200)) == list(person_rows(7, 0, 200))
    assert list(person_rows(7, 0, 200)) != list(person_rows(8, 0, 200))


def test_a_chunk_does_not_depend_on_earlier_chunks():
    whole = list(person_rows(7, 0, 300))
    assert [p.id_number for p in person_rows(7, 100, 100)] == [p.id_number for p in whole[100:200]]


def test_persons_have_valid_consistent_id_numbers():
    rows = list(person_rows(2017, 0, 5_000))
    assert len({row.id_number for row in rows}) == 5_000
    for row in rows:
        parsed = id_number_validate(row.id_number)
        assert parsed.birth_date == row.birth_date
        assert parsed.sex == row.sex
        assert parsed.division_code == row.division_code
        assert BIRTH_START <= row.birth_date <= BIRTH_END
        assert len(row.phone) == 11


def test_changle_code_follows_the_date_of_first_registration():
    rows = list(person_rows(2017, 0, 20_000))
    changle = [row for row in rows if row.division_code in {"350182", "350112"}]
    assert changle
    for row in changle:
        expected = "350112" if row.birth_date >= date(2017, 10, 1) else "350182"
        assert row.division_code == expected


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.integers(0, 8_500_000))
def test_id_numbers_never_collide_across_distant_chunks(seed, start):
    near = {row.id_number for row in person_rows(seed, 0, 500)}
    far = {row.id_number for row in person_rows(seed, start + 500, 500)}
    assert near.isdisjoint(far)


def test_entities_have_valid_credit_codes():
    rows = list(entity_rows(2017, 0, 2_000, persons=100))
    assert len({row.credit_code for row in rows}) == 2_000
    for row in rows:
        parsed = credit_code_validate(row.credit_code)
        assert not parsed.suspect
        assert parsed.division_code == row.division_code
        assert (parsed.registration_department, parsed.category) == (row.registration_department, row.category)
        assert 0 <= row.representative_index < 100


def test_grid_cells_lie_under_their_community():
    rows = list(place_rows(2017))
    codes = {row.code: row for row in rows}
    cells = [row for row in rows if row.level == "grid"]
    assert len(cells) == 13 * 4 * 3 * 4
    for cell in cells:
        assert cell.parent_code is not None
        assert len(cell.code) == 14
        assert codes[cell.parent_code].level == "community"
        assert cell.code.startswith(cell.parent_code)
        assert cell.box is not None
        assert cell.box[0] < cell.box[2]
        assert cell.box[1] < cell.box[3]
