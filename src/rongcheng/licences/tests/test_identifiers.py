"""GB/T 36904 identifiers: the ISO/IEC 7064 MOD 37,36 check character against the published examples."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from rongcheng.licences.identifiers import (
    ALPHABET,
    LicenceIdentifierInvalid,
    check_character,
    check_holds,
    identifier_make,
    identifier_parse,
)

# standards.md §5: three public identifiers, the synthetic Fuzhou example and python-stdnum's doctest.
PUBLISHED = [
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
    "1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.J",
]


@pytest.mark.parametrize("identifier", PUBLISHED)
def test_published_identifiers_parse_and_their_check_character_is_recomputed(identifier):
    parsed = identifier_parse(identifier)
    assert str(parsed) == identifier
    body = parsed.type_code + parsed.issuer_code + parsed.serial + parsed.version
    assert check_character(body) == identifier[-1]


def test_stdnum_doctest_vector():
    assert check_character("A12425GABC1234002") == "M"
    assert check_holds("A12425GABC1234002M")
    assert not check_holds("A12425GABC1234002N")


def test_the_illustrative_document_example_does_not_check():
    """standards.md: `…B006.113700000045046442.209FA…49.001.M` is probably illustrative; it is not a valid form."""
    with pytest.raises(LicenceIdentifierInvalid):
        identifier_parse("1.2.156.3005.2.11100000000013338B006.113700000045046442.209FA49.001.M")


def test_identifier_make():
    made = identifier_make(type_code="11100000000013338W050", issuer_code="11350100MB0H732997",
                           serial="3501002017000123")  # fmt: skip
    assert str(made) == PUBLISHED[3]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (
            "1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.001.K",
            "identifier.check_character",
        ),
        (
            "1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000124.001.J",
            "identifier.check_character",
        ),
        ("1.2.156.3005.1.11100000000013338W050.11350100MB0H732997.3501002017000123.001.J", "identifier.format"),
        ("11100000000013338W05011350100MB0H7329973501002017000123001J", "identifier.format"),
        ("", "identifier.format"),
        ("1.2.156.3005.2.11100000000013338W050.11350100MB0H732997.3501002017000123.01.J", "identifier.format"),
        ("1.2.156.3005.2.<script>.x.y.001.J", "identifier.format"),
    ],
)
def test_malformed_and_wrong_check_character_are_told_apart(value, rule):
    with pytest.raises(LicenceIdentifierInvalid) as caught:
        identifier_parse(value)
    assert [e["rule"] for e in caught.value.errors] == [rule]
    assert caught.value.status == 422


def test_lowercase_input_is_accepted_as_its_uppercase_form():
    assert str(identifier_parse(PUBLISHED[0].lower())) == PUBLISHED[0]


bodies = st.text(alphabet=ALPHABET, min_size=1, max_size=60)


@given(bodies)
def test_agrees_with_python_stdnum(body):
    assert check_character(body) == mod_37_36.calc_check_digit(body)
    assert check_holds(body + check_character(body))


@given(bodies, st.data())
def test_every_single_substitution_is_detected(body, data):
    """ISO/IEC 7064 pure and hybrid systems detect all single-character substitution errors."""
    full = body + check_character(body)
    position = data.draw(st.integers(0, len(full) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != full[position]))
    altered = full[:position] + replacement + full[position + 1 :]
    assert not check_holds(altered)


def test_adjacent_transpositions_are_nearly_always_detected():
    """ISO/IEC 7064 hybrid systems catch nearly all adjacent transpositions, not all (e.g. IJ0 and JI0 both check):
    over a fixed random sample the rate is 0.9989."""
    rng = random.Random(7)
    tried = detected = 0
    for _ in range(20_000):
        body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 40)))
        full = body + check_character(body)
        position = rng.randrange(len(full) - 1)
        if full[position] == full[position + 1]:
            continue
        swapped = full[:position] + full[position + 1] + full[position] + full[position + 2 :]
        tried += 1
        detected += not check_holds(swapped)
    assert round(detected / tried, 4) == 0.9989
    assert check_character("IJ") == check_character("JI") == "0"  # the case hypothesis found
