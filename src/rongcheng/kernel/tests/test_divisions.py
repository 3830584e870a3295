"""GB/T 2260 with history: python-stdnum's national table, and the Fuzhou facts of standards.md §3."""

from __future__ import annotations

import pytest

from rongcheng.kernel import divisions
from rongcheng.kernel.divisions import (
    FUZHOU_COUNTIES,
    Division,
    division_codes_ever_existed,
    division_ever_existed,
    division_get,
    division_in_force,
    divisions_under,
)


def test_changle_city_and_district_both_exist_with_their_periods():
    assert division_ever_existed("350182")
    assert division_ever_existed("350112")
    assert division_in_force("350182", 2016)
    assert not division_in_force("350182", 2020)
    assert division_in_force("350112", 2020)
    assert not division_in_force("350112", 2016)
    # The table counts years; the change fell inside 2017, so both are in force that year.
    assert division_in_force("350182", 2017)
    assert division_in_force("350112", 2017)


def test_the_overlay_adds_the_mca_revisions_of_the_changle_change():
    city = division_get("350182")
    district = division_get("350112")
    assert city is not None
    assert district is not None
    assert city.periods == (
        Division(
            code="350182",
            name="长乐市",
            province="福建省",
            prefecture="福州市",
            county="长乐市",
            level="county",
            valid_from_year=1994,
            valid_to_year=2017,
            valid_to_revision="201709",
        ),
    )
    assert district.periods == (
        Division(
            code="350112",
            name="长乐区",
            province="福建省",
            prefecture="福州市",
            county="长乐区",
            level="county",
            valid_from_year=2017,
            valid_to_year=None,
            valid_from_revision="201710",
        ),
    )


def test_loc_dat_itself_agrees_with_standards_section_3():
    """If a python-stdnum upgrade changes these, the overlay starts overriding the table: review it then."""
    _provinces, raw = divisions._parse_loc_dat(divisions._read_loc_dat())
    years = {code: [(p.name, p.valid_from_year, p.valid_to_year) for p in periods] for code, periods in raw.items()}
    assert years["350112"] == [("长乐区", 2017, None)]
    assert years["350182"] == [("长乐市", 1994, 2017)]
    assert years["350111"] == [("郊区", 1983, 1994), ("晋安区", 1995, None)]
    assert years["350181"] == [("福清市", 1990, None)]  # why stdnum rejects 350181197611300041
    assert years["350128"] == [("平潭县", 1983, None)]
    assert "350183" not in years  # 平潭综合实验区 has no code of its own


def test_unknown_codes_never_existed():
    for code in ["999999", "350199", "3501", "35", "", "35010２"]:
        assert not division_ever_existed(code)
        assert division_get(code) is None
        assert not division_in_force(code, 2017)


@pytest.mark.parametrize(
    ("code", "name", "province", "prefecture"),
    [
        ("110105", "朝阳区", "北京市", ""),  # under Beijing's 市辖区, which is no prefecture
        ("440305", "南山区", "广东省", "深圳市"),
        ("350102", "鼓楼区", "福建省", "福州市"),
    ],
)
def test_codes_of_other_provinces_exist(code, name, province, prefecture):
    record = division_get(code)
    assert record is not None
    assert (record.name, record.current.province, record.current.prefecture) == (name, province, prefecture)
    assert record.level == "county"
    assert division_in_force(code, 2017)


def test_a_code_retired_elsewhere_in_china_still_exists():
    record = division_get("110103")  # 北京崇文区, merged into 东城区 in 2010
    assert record is not None
    assert record.name == "崇文区"
    assert division_ever_existed("110103")
    assert division_in_force("110103", 2009)
    assert division_in_force("110103", 2010)
    assert not division_in_force("110103", 2011)


def test_a_code_with_two_names():
    record = division_get("350111")
    assert record is not None
    assert [(p.name, p.valid_from_year, p.valid_to_year) for p in record.periods] == [
        ("郊区", 1983, 1994),
        ("晋安区", 1995, None),
    ]
    assert record.name == "晋安区"
    period_1990 = record.period_in(1990)
    assert period_1990 is not None
    assert period_1990.name == "郊区"
    assert record.period_in(1980) is None


def test_levels_and_names_of_higher_divisions():
    province = division_get("350000")
    prefecture = division_get("350100")
    assert province is not None
    assert prefecture is not None
    assert (province.level, province.name, province.current.county) == ("province", "福建省", "")
    assert (prefecture.level, prefecture.name, prefecture.current.prefecture) == ("prefecture", "福州市", "福州市")


def test_the_table_covers_the_whole_country():
    codes = division_codes_ever_existed()
    assert len(codes) > 6_000
    assert {code[:2] for code in codes} >= {"11", "35", "44", "65", "71", "81", "82"}
    assert all(len(code) == 6 and code.isdigit() for code in codes)


def test_divisions_under_fuzhou_keep_history_and_leave_out_statistical_groupings():
    all_codes = [record.code for record in divisions_under("3501")]
    assert all_codes == [
        "350102", "350103", "350104", "350105", "350111", "350112", "350121", "350122", "350123", "350124",
        "350125", "350126", "350127", "350128", "350181", "350182",
    ]  # fmt: skip
    with_groupings = [record.code for record in divisions_under("3501", include_statistical_groupings=True)]
    assert with_groupings == sorted([*all_codes, "350101", "350120"])


def test_divisions_under_fuzhou_in_force_in_a_year():
    assert [r.code for r in divisions_under("3501", in_force_year=2020)] == [
        "350102", "350103", "350104", "350105", "350111", "350112", "350121", "350122", "350123", "350124",
        "350125", "350128", "350181",
    ]  # fmt: skip
    in_2016 = [r.code for r in divisions_under("3501", in_force_year=2016)]
    assert "350182" in in_2016
    assert "350112" not in in_2016


def test_divisions_under_a_province_are_county_level():
    fujian = divisions_under("35")
    assert len(fujian) > 80
    assert all(record.level == "county" and record.code.startswith("35") for record in fujian)


def test_fuzhou_counties_of_standards_section_3():
    assert [(d.code, d.name, d.valid_from_year, d.valid_to_year) for d in FUZHOU_COUNTIES] == [
        ("350102", "鼓楼区", 1983, None),
        ("350103", "台江区", 1983, None),
        ("350104", "仓山区", 1983, None),
        ("350105", "马尾区", 1983, None),
        ("350111", "晋安区", 1995, None),
        ("350112", "长乐区", 2017, None),
        ("350121", "闽侯县", None, None),
        ("350122", "连江县", 1983, None),
        ("350123", "罗源县", 1983, None),
        ("350124", "闽清县", 1983, None),
        ("350125", "永泰县", 1983, None),
        ("350128", "平潭县", 1983, None),
        ("350181", "福清市", 1990, None),
        ("350182", "长乐市", 1994, 2017),
    ]
    assert len(FUZHOU_COUNTIES) == 14
    assert FUZHOU_COUNTIES[0].prefecture == "福州市"
    assert FUZHOU_COUNTIES[-1].valid_to_revision == "201709"
    assert tuple(FUZHOU_COUNTIES[:2]) == tuple(FUZHOU_COUNTIES)[:2]


def test_a_changed_table_format_fails_loudly():
    with pytest.raises(RuntimeError, match="format changed"):
        divisions._parse_loc_dat('35 province="福建省"\n  0102 name="鼓楼区"\n')
    with pytest.raises(RuntimeError, match="format changed"):
        divisions._parse_loc_dat('35 province="福建省"\n  0102 county="[1983]鼓楼区"\n')
