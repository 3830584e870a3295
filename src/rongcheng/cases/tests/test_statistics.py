"""The indicators of standards.md §6 / issue 14, with exact values over cases built through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from rongcheng.cases import services
from rongcheng.cases.models import Case
from rongcheng.cases.statistics import hot_spots, indicators, month_bounds
from rongcheng.cases.tests import factories as f

pytestmark = pytest.mark.django_db


def test_formulas_count_postponed_and_open_overdue_cases():
    f.world()
    resident, centre, unit, worker = f.resident(), f.centre(), f.unit_officer(), f.grid_worker()

    def dispatched():
        return f.walk(f.reported(resident), (centre, "register"), (centre, "dispatch"), (unit, "start"))

    # 1: closed on time, reworked once. 2: closed late. 3: open and overdue. 4: postponed. 5: extended, open.
    # 6: reported, not registered. 7: rejected. 8: merged (left out entirely). 9: simple procedure (grid worker).
    one = dispatched()
    f.walk(one, (unit, "report_back"), report_back={"photos": [f.jpeg()]})
    services.case_transition(user=worker, number=one.number, name="verify_fail", reason="未修好")
    f.walk(one, (unit, "report_back"), (worker, "verify_pass"), (centre, "close"))
    two = dispatched()
    f.walk(two, (unit, "report_back"), (worker, "verify_pass"), report_back={"photos": [f.jpeg()]})
    Case.objects.filter(pk=two.pk).update(deadline=timezone.now() - dt.timedelta(hours=1))
    services.case_transition(user=centre, number=two.number, name="close")
    three = dispatched()
    Case.objects.filter(pk=three.pk).update(deadline=timezone.now() - dt.timedelta(hours=1))
    four = dispatched()
    services.clock_request_submit(user=unit, number=four.number, kind="postponement", reason="施工")
    services.case_transition(user=centre, number=four.number, name="postpone")
    five = dispatched()
    services.clock_request_submit(user=unit, number=five.number, kind="extension", days=3, reason="采购")
    services.case_transition(user=centre, number=five.number, name="extend")
    f.reported(resident)
    services.case_transition(user=centre, number=f.reported(resident).number, name="reject", reason="不属于城管")
    eight = f.reported(resident)
    services.case_transition(user=centre, number=eight.number, name="merge", merge_into=three.number)
    f.reported(worker, channel="grid_worker", simple_procedure=True)

    today = timezone.localdate()
    [row] = indicators(group="street", start=today, end=today)
    assert (row.key, row.name) == ("350102001", "东街街道")
    assert (row.reported, row.registered, row.simple, row.due, row.postponed) == (8, 6, 1, 5, 1)
    assert (row.closed, row.on_time, row.overdue_open, row.reworked, row.extended) == (2, 1, 1, 1, 1)
    assert row.registration_rate == Decimal("0.7500")  # 6 ÷ 8
    assert row.closing_rate == Decimal("0.5000")  # 2 ÷ (5 − 1)
    assert row.on_time_rate == Decimal("0.3333")  # 1 ÷ (2 + 1)
    assert row.rework_rate == Decimal("0.2000")  # 1 ÷ 5
    assert row.extension_rate == Decimal("0.2000")
    # 100 × (0.2 × 0.5 + 0.4 × 0.3333 + 0.2 × 0.8 + 0.2 × 0.8)
    assert row.composite == Decimal("55.33")


def test_an_empty_denominator_is_none_not_zero():
    f.world()
    f.reported(f.resident())
    today = timezone.localdate()
    [row] = indicators(group="unit", start=today, end=today)
    assert row.name == "（未派遣）"
    assert row.registration_rate == Decimal(0)
    assert row.closing_rate is None
    assert row.composite is None


def test_month_bounds():
    assert month_bounds("2026-12") == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert month_bounds("2027-02") == (dt.date(2027, 2, 1), dt.date(2027, 2, 28))


def test_hot_spots_are_the_streets_and_categories_reported_most_in_the_month():
    f.world()
    f.category("E0102", name="暴露垃圾")
    resident, centre = f.resident(), f.centre()
    for _ in range(3):
        f.reported(resident, category_code="E0102", lon=119.305)  # 南街街道
    first = f.reported(resident)  # 东街街道, C0101
    f.reported(resident)
    f.walk(f.reported(resident), (centre, "merge"), merge={"merge_into": first.number})
    f.reported(resident, category_code="E0102")  # 东街街道
    start, end = month_bounds(timezone.localdate().strftime("%Y-%m"))
    spots = hot_spots(start=start, end=end)
    assert [(h.street_name, h.category_name, h.reported) for h in spots] == [
        ("南街街道", "暴露垃圾", 3),
        ("东街街道", "井盖", 2),  # the merged duplicate is not counted
        ("东街街道", "暴露垃圾", 1),
    ]
    last_year = dt.date(start.year - 1, start.month, 1)
    assert hot_spots(start=last_year, end=last_year + dt.timedelta(days=27)) == []


def test_the_rates_in_integers_are_the_decimal_rates_rounded_half_up():
    """`Row` works the rates out in integers; they are exactly the quotients quantized half up as Decimals, and the
    composite is the weighted sum of those rates quantized to hundredths."""
    from decimal import ROUND_HALF_UP

    from rongcheng.cases.statistics import Row

    def rate(num: int, den: int) -> Decimal | None:
        return None if den <= 0 else (Decimal(num) / Decimal(den)).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    checked = 0
    for due in (0, 1, 2, 3, 7, 8, 16, 40, 400, 4001):
        for closed in {0, 1, due // 3, due // 2, due}:
            for postponed in {0, 1, due // 8}:
                if postponed > due - closed:
                    continue
                on_time, overdue, reworked, extended = closed // 2, due // 7, (due + 1) // 3, due // 5
                row = Row("k", "n", due + 5, due + 2, 1, due, postponed, closed, on_time, overdue, reworked, extended)
                closing, in_time = rate(closed, due - postponed), rate(on_time, closed + overdue)
                rework, extension = rate(reworked, due), rate(extended, due)
                assert row.registration_rate == rate(due + 2, due + 5)
                assert (row.closing_rate, row.on_time_rate) == (closing, in_time)
                assert (row.rework_rate, row.extension_rate) == (rework, extension)
                if closing is None or in_time is None or rework is None or extension is None:
                    assert row.composite is None
                else:
                    weighted = 100 * (Decimal("0.2") * closing + Decimal("0.4") * in_time
                                      + Decimal("0.2") * (1 - rework) + Decimal("0.2") * (1 - extension))  # fmt: skip
                    assert row.composite == weighted.quantize(Decimal("0.01"), ROUND_HALF_UP)
                    assert str(row.composite) == str(weighted.quantize(Decimal("0.01"), ROUND_HALF_UP))
                checked += 1
    assert checked > 50
