import pytest

from rongcheng.licences.selectors import licence_verify
from rongcheng.licences.tests.factories import department, issue_marriage, marriage_type, officer, with_key

pytestmark = pytest.mark.django_db


def test_smoke():
    dept = with_key(department())
    marriage_type(dept)
    licence = issue_marriage(officer(dept))
    result = licence_verify(licence.identifier)
    assert result.authentic, result
    assert result.currently_valid
    print(licence.identifier, result)
