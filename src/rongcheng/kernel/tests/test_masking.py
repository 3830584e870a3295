from hypothesis import given
from hypothesis import strategies as st

from rongcheng.kernel.masking import mask_id_number, mask_name, mask_phone


def test_id_number_hides_the_birth_date():
    assert mask_id_number("350102198503120018") == "350102********0018"
    assert mask_id_number("35010219850312019X") == "350102********019X"


def test_legacy_and_odd_lengths_reveal_nothing_of_the_date():
    assert mask_id_number("350102850312001") == "350102******001"
    assert mask_id_number("12345") == "*****"


def test_mobile_keeps_first_three_and_last_four():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0591-8765432") == "********5432"
    assert mask_phone("110") == "***"


def test_name_keeps_the_family_name():
    assert mask_name("林则徐") == "林**"
    assert mask_name("林") == "林"


@given(st.from_regex(r"\A[0-9]{17}[0-9X]\Z"))
def test_masked_id_never_contains_the_birth_date(value):
    masked = mask_id_number(value)
    assert len(masked) == 18
    assert masked[6:14] == "********"
    assert masked[:6] == value[:6]
    assert masked[14:] == value[14:]
