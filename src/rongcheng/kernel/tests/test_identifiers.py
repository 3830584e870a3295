"""ID numbers (GB 11643) and credit codes (GB 32100, GB 11714): the vectors of standards.md §1 and §2, and properties.

python-stdnum serves as an oracle only where it is right: check characters. Its validators differ on purpose
(see the module docstring of rongcheng.kernel.identifiers), and the tests that show where are named after it.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from rongcheng.kernel.divisions import division_codes_ever_existed
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import (
    CREDIT_CODE_ALPHABET,
    KNOWN_PILOT_CODES_FAILING_CHECK,
    REGISTRATION_DEPARTMENTS,
    CreditCode,
    IdNumber,
    credit_code_check_character,
    credit_code_is_valid,
    credit_code_make,
    credit_code_validate,
    id_number_check_character,
    id_number_is_valid,
    id_number_make,
    id_number_validate,
    organization_code_check_character,
)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
TODAY = date(2026, 11, 29)
ALL_DIVISIONS = sorted(division_codes_ever_existed())
ID_CHARACTERS = "0123456789X"


def rules_of(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [error["rule"] for error in excinfo.value.errors]


def id_rules(value: str) -> list[str]:
    with pytest.raises(ValidationFailed) as excinfo:
        id_number_validate(value, today=TODAY)
    return rules_of(excinfo)


def credit_rules(value: str) -> list[str]:
    with pytest.raises(ValidationFailed) as excinfo:
        credit_code_validate(value)
    return rules_of(excinfo)


# Oracles written from the standards' own formulas, independent of the int(…, base) shortcuts under test.
def id_check_by_weights(body17: str) -> str:
    weights = [2 ** (18 - position) % 11 for position in range(1, 18)]
    assert weights == [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(digit) * weight for digit, weight in zip(body17, weights, strict=True))
    return "10X98765432"[total % 11]


def credit_check_by_weights(body17: str) -> str:
    weights = [3 ** (position - 1) % 31 for position in range(1, 18)]
    assert weights == [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(body17, weights, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def organization_check_by_weights(body8: str) -> str:
    values = [int(c) if c.isdigit() else ord(c) - ord("A") + 10 for c in body8]
    remainder = 11 - sum(v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


# --- ID numbers: standards.md §1 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "division_code", "birth_date", "sequence", "sex"),
    [
        ("350102198503120018", "350102", date(1985, 3, 12), 1, "male"),
        ("350103199001010020", "350103", date(1990, 1, 1), 2, "female"),
        ("350112201802090039", "350112", date(2018, 2, 9), 3, "male"),
        ("350128200002290055", "350128", date(2000, 2, 29), 5, "male"),
        ("35010219850312019X", "350102", date(1985, 3, 12), 19, "male"),
        ("350181197611300041", "350181", date(1976, 11, 30), 4, "female"),
        ("350104199912310178", "350104", date(1999, 12, 31), 17, "male"),
        ("350111198810100283", "350111", date(1988, 10, 10), 28, "female"),
        ("11010519491231002X", "110105", date(1949, 12, 31), 2, "female"),
        ("440524188001010014", "440524", date(1880, 1, 1), 1, "male"),
    ],
)
def test_valid_id_numbers_of_the_standard(value, division_code, birth_date, sequence, sex):
    assert id_number_validate(value, today=TODAY) == IdNumber(
        value=value, division_code=division_code, birth_date=birth_date, sequence=sequence, sex=sex
    )
    assert id_number_is_valid(value, today=TODAY)


@pytest.mark.parametrize(
    ("value", "rules"),
    [
        ("350102198503120010", ["id_number.checksum"]),  # check character changed
        ("350103199010010020", ["id_number.checksum"]),  # two digits transposed
        ("350102198502300017", ["id_number.birth_date"]),  # 1985-02-30; checksum right
        ("350102201902290019", ["id_number.birth_date"]),  # 2019-02-29; checksum right
        ("999999198503120018", ["id_number.division"]),  # checksum right
        ("35010219850312019x", ["id_number.lowercase_x"]),  # otherwise valid
        ("3501021985031200", ["id_number.length"]),
    ],
)
def test_invalid_id_numbers_of_the_standard(value, rules):
    assert id_rules(value) == rules
    assert not id_number_is_valid(value, today=TODAY)


def test_stdnum_rejects_a_valid_fuqing_number_because_it_checks_the_division_at_birth():
    # 350181 (福清市) dates from 1990; the holder, born 1976, keeps the code in force when the number was assigned.
    assert not ric.is_valid("350181197611300041")
    assert id_number_validate("350181197611300041", today=TODAY).division_code == "350181"


def test_stdnum_accepts_a_lower_case_x_that_we_reject():
    assert ric.is_valid("35010219850312019x")
    assert id_rules("35010219850312019x") == ["id_number.lowercase_x"]


def test_lower_case_x_does_not_hide_the_other_rules():
    assert id_rules("35010219850312018x") == ["id_number.lowercase_x", "id_number.checksum"]


def test_every_broken_semantic_rule_is_reported_together():
    assert id_rules("999999198502300010") == ["id_number.birth_date", "id_number.division", "id_number.checksum"]


@pytest.mark.parametrize(
    "value",
    [
        "3501021985031200X8",  # X inside the body
        "35010219850312001Y",
        "３５０１０２１９８５０３１２００１８",  # full-width digits: str.isdigit() would accept them
        "35010219850312001８",
        "35010-198503120018",
        "3501_2198503120018",  # int() would read the underscore as a separator
    ],
)
def test_id_number_charset(value):
    assert id_rules(value) == ["id_number.charset"]
    assert not id_number_is_valid(value, today=TODAY)


@pytest.mark.parametrize("value", ["", "35010219850312001", "3501021985031200181", "350102850312001"])
def test_id_number_length_including_legacy_15_digit_numbers(value):
    assert id_rules(value) == ["id_number.length"]


def test_birth_date_today_is_accepted_and_tomorrow_is_not():
    born_today = id_number_make(division_code="350102", birth_date=TODAY, sequence=1)
    born_tomorrow = id_number_make(division_code="350102", birth_date=date(2026, 11, 30), sequence=1)
    assert id_number_validate(born_today, today=TODAY).birth_date == TODAY
    assert id_rules(born_tomorrow) == ["id_number.birth_date"]
    assert not id_number_is_valid(born_tomorrow, today=TODAY)


@pytest.mark.parametrize("birth", ["17991231", "00000101", "19851301", "19850001", "19850100", "19000229"])
def test_birth_dates_that_are_not_real_dates_or_too_early(birth):
    body = f"350102{birth}001"
    assert id_rules(body + id_number_check_character(body)) == ["id_number.birth_date"]


def test_leap_day_of_a_year_divisible_by_400():
    body = "350102200002290010"[:17]
    assert id_number_validate(body + id_number_check_character(body), today=TODAY).birth_date == date(2000, 2, 29)


def test_default_today_is_the_real_date_and_rejects_the_far_future():
    body = "350102209901010010"[:17]
    with pytest.raises(ValidationFailed) as excinfo:
        id_number_validate(body + id_number_check_character(body))
    assert rules_of(excinfo) == ["id_number.birth_date"]


def test_errors_name_the_field_and_carry_the_problem_shape():
    with pytest.raises(ValidationFailed) as excinfo:
        id_number_validate("350102198503120010", field="holder_id_number", today=TODAY)
    assert excinfo.value.status == 422
    assert excinfo.value.errors == [
        {
            "loc": ["holder_id_number"],
            "rule": "id_number.checksum",
            "msg": "the check character does not match (ISO 7064 MOD 11-2)",
        }
    ]


def test_retired_divisions_are_accepted_in_id_numbers():
    for code in ["350182", "350126", "110103"]:  # 长乐市 (to 2017), 长乐县 (to 1994), 北京崇文区 (to 2010)
        value = id_number_make(division_code=code, birth_date=date(1980, 1, 1), sequence=1)
        assert id_number_validate(value, today=TODAY).division_code == code


def test_id_number_check_character_rejects_a_bad_body():
    assert id_number_check_character("35010219850312001") == "8"
    for body in ["3501021985031200", "3501021985031200X", "３5010219850312001"]:
        with pytest.raises(ValueError, match="17 digits"):
            id_number_check_character(body)


def test_id_number_make():
    assert id_number_make(division_code="350102", birth_date=date(1985, 3, 12), sequence=1) == "350102198503120018"
    assert id_number_make(division_code="350102", birth_date=date(1985, 3, 12), sequence=19) == "35010219850312019X"
    assert id_number_make(division_code="350181", birth_date=date(1976, 11, 30), sequence=4) == "350181197611300041"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"division_code": "350102", "birth_date": date(1985, 3, 12), "sequence": 1000}, "sequence"),
        ({"division_code": "350102", "birth_date": date(1985, 3, 12), "sequence": -1}, "sequence"),
        ({"division_code": "999999", "birth_date": date(1985, 3, 12), "sequence": 1}, "division"),
        ({"division_code": "35010", "birth_date": date(1985, 3, 12), "sequence": 1}, "division"),
        ({"division_code": "350102", "birth_date": date(1799, 12, 31), "sequence": 1}, "birth dates"),
    ],
)
def test_id_number_make_refuses_what_cannot_validate(arguments, message):
    with pytest.raises(ValueError, match=message):
        id_number_make(**arguments)


# --- ID numbers: properties -----------------------------------------------------------------------------------------

id_numbers = st.builds(
    id_number_make,
    division_code=st.sampled_from(ALL_DIVISIONS),
    birth_date=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=999),
)


@PROPERTY_SETTINGS
@given(
    division_code=st.sampled_from(ALL_DIVISIONS),
    birth_date=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_made_id_numbers_validate_and_round_trip(division_code, birth_date, sequence):
    value = id_number_make(division_code=division_code, birth_date=birth_date, sequence=sequence)
    assert id_number_validate(value, today=TODAY) == IdNumber(
        value=value,
        division_code=division_code,
        birth_date=birth_date,
        sequence=sequence,
        sex="male" if sequence % 2 == 1 else "female",
    )
    assert id_number_is_valid(value, today=TODAY)
    assert value[17] == id_check_by_weights(value[:17])
    assert value[17] == ric.calc_check_digit(value)


@PROPERTY_SETTINGS
@given(body=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_id_check_character_matches_the_weighted_sum_and_stdnum(body):
    assert id_number_check_character(body) == id_check_by_weights(body) == ric.calc_check_digit(body + "0")


@PROPERTY_SETTINGS
@given(value=id_numbers, data=st.data())
def test_any_single_substitution_of_an_id_number_is_rejected(value, data):
    position = data.draw(st.integers(min_value=0, max_value=17))
    replacement = data.draw(st.sampled_from([c for c in ID_CHARACTERS if c != value[position]]))
    changed = value[:position] + replacement + value[position + 1 :]
    assert id_rules(changed)
    assert not id_number_is_valid(changed, today=TODAY)


@PROPERTY_SETTINGS
@given(value=id_numbers, data=st.data())
def test_any_adjacent_transposition_of_an_id_number_is_rejected(value, data):
    candidates = [i for i in range(17) if value[i] != value[i + 1]]
    position = data.draw(st.sampled_from(candidates))
    swapped = value[:position] + value[position + 1] + value[position] + value[position + 2 :]
    assert id_rules(swapped)
    assert not id_number_is_valid(swapped, today=TODAY)


@PROPERTY_SETTINGS
@given(value=st.one_of(id_numbers, st.text(alphabet="0123456789Xx ", min_size=16, max_size=19)))
def test_is_valid_agrees_with_validate(value):
    try:
        id_number_validate(value, today=TODAY)
    except ValidationFailed:
        accepted = False
    else:
        accepted = True
    assert id_number_is_valid(value, today=TODAY) is accepted


# --- Credit codes: standards.md §2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "department", "category", "division_code", "organization_code"),
    [
        ("91350100MA2XN1Y057", "9", "1", "350100", "MA2XN1Y05"),
        ("92350102MA31GX2B31", "9", "2", "350102", "MA31GX2B3"),
        ("123501004885415710", "1", "2", "350100", "488541571"),
        ("51350103507406181U", "5", "1", "350103", "507406181"),
        ("11350000003623457D", "1", "1", "350000", "003623457"),
        ("93350181MA32TQ4H88", "9", "3", "350181", "MA32TQ4H8"),
        ("91350100M000100Y43", "9", "1", "350100", "M000100Y4"),  # the "官方示例" of bluesky335/IDCheck
        ("91110000600037341L", "9", "1", "110000", "600037341"),  # python-stdnum doctest
        ("9135010557098120XJ", "9", "1", "350105", "57098120X"),  # IDCheck test data
    ],
)
def test_valid_credit_codes_of_the_standard(value, department, category, division_code, organization_code):
    assert credit_code_validate(value) == CreditCode(
        value=value,
        registration_department=department,
        category=category,
        division_code=division_code,
        organization_code=organization_code,
    )
    assert credit_code_is_valid(value)


@pytest.mark.parametrize(
    ("value", "rules"),
    [
        ("91350100MA2XN1Y058", ["credit_code.check"]),  # position 18 changed
        ("91350100MA2XN1YO57", ["credit_code.charset"]),  # letter O
        # Position 17 changed: it is no longer the GB 11714 character, and position 18 no longer fits either.
        ("92350102MA31GX2B01", ["credit_code.organization_code_check", "credit_code.check"]),
        ("12350100488541571", ["credit_code.length"]),
        ("51350103507406181u", ["credit_code.lowercase"]),
        # Position 18 consistent, GB 11714 character wrong.
        ("91350100MA2XN1Y01T", ["credit_code.organization_code_check"]),
    ],
)
def test_invalid_credit_codes_of_the_standard(value, rules):
    assert credit_rules(value) == rules
    assert not credit_code_is_valid(value)


def test_stdnum_accepts_a_code_whose_organisation_check_character_is_wrong():
    assert uscc.is_valid("91350100MA2XN1Y01T")
    assert credit_rules("91350100MA2XN1Y01T") == ["credit_code.organization_code_check"]


@pytest.mark.parametrize("value", sorted(KNOWN_PILOT_CODES_FAILING_CHECK))
def test_known_fujian_pilot_codes_are_suspect_not_accepted_or_rejected(value):
    # standards.md §2: the computed position-18 characters are 1, R and J; the GB 11714 characters are right.
    assert credit_code_check_character(value[:17]) != value[17]
    assert organization_code_check_character(value[8:16]) == value[16]
    result = credit_code_validate(value)
    assert result.suspect
    assert result.suspect_rule == "credit_code.check"
    assert result.suspect_reason
    assert not credit_code_is_valid(value)


def test_computed_check_characters_of_the_pilot_codes():
    assert [credit_code_check_character(code[:17]) for code in sorted(KNOWN_PILOT_CODES_FAILING_CHECK)] == [
        "1",
        "J",
        "R",
    ]


def test_a_pilot_code_with_another_error_is_rejected():
    assert credit_rules("91350100M0001TGQXm") == ["credit_code.lowercase", "credit_code.check"]
    assert credit_rules("94350100M0001TGQXM") == ["credit_code.category", "credit_code.check"]


def test_other_codes_failing_only_position_18_are_rejected():
    # Right GB 11714 character, wrong position 18, not a known pilot code.
    assert credit_rules("91350100M0001TGQXA") == ["credit_code.check"]


def test_gb_11714_example():
    assert organization_code_check_character("D2143569") == "X"
    assert organization_check_by_weights("D2143569") == "X"


def test_organisation_check_accepts_letters_outside_the_credit_code_alphabet():
    for body in ["ZZZZZZZZ", "IOSVZ123", "Z0000000", "00000000"]:
        assert organization_code_check_character(body) == organization_check_by_weights(body)
    for body in ["D214356", "d2143569", "D214356Ä"]:
        with pytest.raises(ValueError, match="organisation code body"):
            organization_code_check_character(body)


def test_credit_code_check_character_rejects_a_bad_body():
    assert credit_code_check_character("91350100MA2XN1Y05") == "7"
    for body in ["91350100MA2XN1Y0", "91350100MA2XN1YO5", "91350100ma2xn1y05"]:
        with pytest.raises(ValueError, match="credit code body"):
            credit_code_check_character(body)


def test_letters_in_position_1_which_stdnum_rejects():
    for department, category in [("Y", "1"), ("N", "2"), ("A", "1"), ("G", "1"), ("J", "1"), ("Q", "3")]:
        code = credit_code_make(
            registration_department=department, category=category, division_code="350102", organization_body="MA2XN1Y0"
        )
        assert credit_code_validate(code).registration_department == department
        assert not uscc.is_valid(code)


@pytest.mark.parametrize(
    ("department", "category", "accepted"),
    [
        ("9", "1", True),
        ("9", "3", True),
        ("9", "4", False),  # GB 32100 defines 1-3 (and 9) for market regulation
        ("1", "4", False),
        ("5", "5", True),  # 居民委员会
        ("5", "6", False),
        ("Y", "1", True),
        ("Y", "2", False),
        ("3", "2", True),  # the list for 司法行政 is partial: any category 1-9 is accepted
        ("3", "0", False),
        ("B", "1", False),  # no such registration department
        ("0", "1", False),
    ],
)
def test_registration_department_and_category(department, category, accepted):
    body = department + category + "350102" + "MA2XN1Y0"
    body += organization_code_check_character(body[8:])
    code = body + credit_code_check_character(body)
    if accepted:
        assert credit_code_validate(code).category == category
    else:
        assert credit_rules(code) == ["credit_code.category"]


def test_every_listed_category_is_accepted():
    for department, known in REGISTRATION_DEPARTMENTS.items():
        for category in known.categories:
            credit_code_validate(
                credit_code_make(
                    registration_department=department,
                    category=category,
                    division_code="350100",
                    organization_body="00000001",
                )
            )


@pytest.mark.parametrize(
    ("division_code", "rules"),
    [
        ("999999", ["credit_code.division"]),
        ("35A100", ["credit_code.division"]),
        ("350182", []),  # retired 长乐市: codes outlive the division that registered them
        ("100000", []),  # central-level registration
    ],
)
def test_registration_division(division_code, rules):
    body = "91" + division_code + "MA2XN1Y0"
    body += organization_code_check_character(body[8:])
    code = body + credit_code_check_character(body)
    if rules:
        assert credit_rules(code) == rules
    else:
        assert credit_code_validate(code).division_code == division_code


def test_a_real_central_level_code():
    assert credit_code_validate("12100000400000624D").division_code == "100000"  # 清华大学


@pytest.mark.parametrize(
    "value",
    ["91350100MA2XN1Y0S7", "91350100MA2XN1Y0Z7", "９1350100MA2XN1Y057", "91350100MA2XN1Y0-7"],
)
def test_credit_code_charset(value):
    assert credit_rules(value) == ["credit_code.charset"]
    assert not credit_code_is_valid(value)


def test_lowercase_and_charset_are_reported_together():
    assert credit_rules("91350100ma2xn1yo57") == ["credit_code.lowercase", "credit_code.charset"]


def test_credit_code_errors_name_the_field():
    with pytest.raises(ValidationFailed) as excinfo:
        credit_code_validate("91350100MA2XN1Y058", field="holder_credit_code")
    assert excinfo.value.errors[0]["loc"] == ["holder_credit_code"]


def test_credit_code_make():
    made = credit_code_make(
        registration_department="9", category="1", division_code="350100", organization_body="MA2XN1Y0"
    )
    assert made == "91350100MA2XN1Y057"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"registration_department": "9", "category": "4"}, "not an organisation category"),
        ({"registration_department": "B", "category": "1"}, "not a registration department"),
        ({"division_code": "999999"}, "not a GB/T 2260"),
        ({"division_code": "35010"}, "not a GB/T 2260"),
        ({"organization_body": "MA2XN1YO"}, "organisation body"),
        ({"organization_body": "MA2XN1Y"}, "organisation body"),
    ],
)
def test_credit_code_make_refuses_what_cannot_validate(arguments, message):
    defaults = {
        "registration_department": "9",
        "category": "1",
        "division_code": "350100",
        "organization_body": "MA2XN1Y0",
    }
    with pytest.raises(ValueError, match=message):
        credit_code_make(**(defaults | arguments))


# --- Credit codes: properties ---------------------------------------------------------------------------------------

department_categories = sorted(
    (department, category) for department, known in REGISTRATION_DEPARTMENTS.items() for category in known.categories
)
credit_codes = st.builds(
    lambda pair, division_code, body: credit_code_make(
        registration_department=pair[0], category=pair[1], division_code=division_code, organization_body=body
    ),
    st.sampled_from(department_categories),
    st.sampled_from(ALL_DIVISIONS),
    st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=8, max_size=8),
)


def not_clean(value: str) -> bool:
    """Rejected, or at most suspect: never returned as a plain valid code."""
    try:
        return credit_code_validate(value).suspect
    except ValidationFailed:
        return True


@PROPERTY_SETTINGS
@given(
    pair=st.sampled_from(department_categories),
    division_code=st.sampled_from(ALL_DIVISIONS),
    body=st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=8, max_size=8),
)
def test_made_credit_codes_validate_and_round_trip(pair, division_code, body):
    value = credit_code_make(
        registration_department=pair[0], category=pair[1], division_code=division_code, organization_body=body
    )
    assert credit_code_validate(value) == CreditCode(
        value=value,
        registration_department=pair[0],
        category=pair[1],
        division_code=division_code,
        organization_code=body + value[16],
    )
    assert credit_code_is_valid(value)
    assert value[16] == organization_check_by_weights(body)
    assert value[17] == credit_check_by_weights(value[:17]) == uscc.calc_check_digit(value[:17])
    if value[:8].isdigit():
        assert uscc.is_valid(value)


@PROPERTY_SETTINGS
@given(body=st.text(alphabet=CREDIT_CODE_ALPHABET, min_size=17, max_size=17))
def test_credit_check_character_matches_the_weighted_sum_and_stdnum(body):
    assert credit_code_check_character(body) == credit_check_by_weights(body) == uscc.calc_check_digit(body)


@PROPERTY_SETTINGS
@given(body=st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=8))
def test_organisation_check_character_matches_the_weighted_sum(body):
    assert organization_code_check_character(body) == organization_check_by_weights(body)


@PROPERTY_SETTINGS
@given(value=credit_codes, data=st.data())
def test_any_single_substitution_of_a_credit_code_is_caught(value, data):
    # MOD 31 with weights 3^(i-1), all non-zero modulo the prime 31, catches every substitution in positions 1-17.
    position = data.draw(st.integers(min_value=0, max_value=17))
    replacement = data.draw(st.sampled_from([c for c in CREDIT_CODE_ALPHABET if c != value[position]]))
    changed = value[:position] + replacement + value[position + 1 :]
    assert not_clean(changed)
    assert not credit_code_is_valid(changed)


@PROPERTY_SETTINGS
@given(value=credit_codes, data=st.data())
def test_any_adjacent_transposition_of_a_credit_code_is_caught(value, data):
    # Swapping positions i, i+1 (i < 17) changes the MOD 31 sum by (a−b)·3^(i−1)·(1−3), non-zero modulo 31. Swapping
    # 17 and 18 may keep a consistent position 18 by chance, but then position 17 is no longer the GB 11714 character.
    candidates = [i for i in range(17) if value[i] != value[i + 1]]
    position = data.draw(st.sampled_from(candidates))
    swapped = value[:position] + value[position + 1] + value[position] + value[position + 2 :]
    assert not_clean(swapped)
    assert not credit_code_is_valid(swapped)


@PROPERTY_SETTINGS
@given(value=st.one_of(credit_codes, st.text(alphabet=CREDIT_CODE_ALPHABET + "abIO ", min_size=17, max_size=19)))
def test_credit_code_is_valid_agrees_with_validate(value):
    try:
        accepted = not credit_code_validate(value).suspect
    except ValidationFailed:
        accepted = False
    assert credit_code_is_valid(value) is accepted


@pytest.mark.parametrize("value", ["35010219850312001 ", " 35010219850312001", "350102 198503120018"])
def test_an_id_number_with_spaces_is_refused_saying_so(value):
    assert id_rules(value) == ["id_number.whitespace"]
    assert not id_number_is_valid(value, today=TODAY)


@pytest.mark.parametrize("value", ["91350100MA2XN1Y05 ", " 91350100MA2XN1Y057", "91350100MA2XN1Y057\t"])
def test_a_credit_code_with_spaces_is_refused_saying_so(value):
    assert credit_rules(value) == ["credit_code.whitespace"]
    assert not credit_code_is_valid(value)
