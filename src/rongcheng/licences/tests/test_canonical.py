"""RFC 8785 canonical JSON, tested with the examples of the RFC that hold no floating-point numbers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rongcheng.licences.canonical import CanonicalJsonError, canonical_json


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units():
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
        '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode()


def test_rfc8785_section_3_2_2_strings_and_literals():
    """The string and literal members of the §3.2.2 example (its numbers are floats, refused here)."""
    value = {"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/", "literals": [None, True, False]}
    assert (
        canonical_json(value) == b'{"literals":[null,true,false],"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_rfc8785_appendix_b_integers():
    assert canonical_json([0, 1, -1, 9007199254740991, -9007199254740991]) == (
        b"[0,1,-1,9007199254740991,-9007199254740991]"
    )


@pytest.mark.parametrize(
    "value", [1.5, 2**53, -(2**53), {"a": float("nan")}, {1: "x"}, "\ud800", {"\udfff": 1}, object(), b"bytes"]
)
def test_unsupported_values_are_refused(value):
    with pytest.raises(CanonicalJsonError):
        canonical_json(value)


def test_nesting_is_bounded():
    value: list = []
    for _ in range(40):
        value = [value]
    with pytest.raises(CanonicalJsonError):
        canonical_json(value)


def test_escapes_of_control_characters_are_lowercase_hex():
    assert canonical_json("\x00\x1f\x7f") == b'"\\u0000\\u001f\x7f"'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_form_is_json_that_parses_back_to_the_same_value(value):
    try:
        encoded = canonical_json(value)
    except CanonicalJsonError:  # lone surrogates drawn by st.text()
        return
    assert json.loads(encoded) == value
    assert canonical_json(json.loads(encoded)) == encoded
