"""The case lifecycle through the services: every row of the table walked, the clock, bad input refused with
nothing stored, and who may take which step."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rongcheng.audit.models import AuditRecord
from rongcheng.cases import selectors, services
from rongcheng.cases.errors import (
    CaseDenied,
    CaseGuardFailed,
    CaseInputInvalid,
    CaseTransitionNotAllowed,
    CaseTransitionUnknown,
    CategoryNotFound,
    Open311KeyInvalid,
    OutsideCity,
    PhotoInvalid,
)
from rongcheng.cases.models import Case, CaseEvent, CasePhoto, CaseSubscription, CaseUnit, ClockRequest
from rongcheng.cases.photos import MAX_BYTES, photo_root
from rongcheng.cases.tests import factories as f
from rongcheng.cases.workflow import TRANSITIONS, transitions_for
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.kernel.transitions import walk

pytestmark = pytest.mark.django_db


def _full(case, centre, unit, worker):
    return f.walk(
        case,
        (centre, "register"),
        (centre, "dispatch"),
        (unit, "start"),
        (unit, "report_back"),
        (worker, "verify_pass"),
        (centre, "close"),
        report_back={"photos": [f.jpeg(color="green")]},
    )


def test_table_reaches_every_state_from_collected():
    seen, edges = walk(TRANSITIONS, "collected")
    assert seen == TRANSITIONS.states()
    assert len({name for _, name, _ in edges}) == len(TRANSITIONS)


def test_resident_report_to_evaluation():
    f.world()
    resident, centre, unit, worker = f.resident(), f.centre(), f.unit_officer(), f.grid_worker()
    case = f.reported(resident, address="东街口 3 号")
    assert case.state == "collected"
    assert case.cell_code == f.CELL
    assert case.street_code == "350102001"
    assert case.district_code == "350102"
    assert case.place_name == "鼓楼区 东街街道 第一社区 01网格"
    assert len(case.number) == 16
    assert case.number.startswith(timezone.localdate().strftime("%Y%m%d"))
    case = _full(case, centre, unit, worker)
    assert case.state == "closed"
    assert case.closed_on_time is True
    assert list(CaseUnit.objects.filter(case=case).values_list("unit__code", "role")) == [("FZ-SZ", "main")]
    case = services.case_transition(user=resident, number=case.number, name="rate", rating=5, reason="很快")
    assert (case.state, case.rating, case.rating_comment) == ("evaluated", 5, "很快")
    steps = list(CaseEvent.objects.filter(case=case).values_list("transition", flat=True))
    assert steps == ["report", "register", "dispatch", "start", "report_back", "verify_pass", "close", "rate"]
    actions = set(AuditRecord.objects.filter(target_id=case.number).values_list("action", flat=True))
    assert {"cases.case.report", "cases.case.dispatch", "cases.case.close", "cases.case.rate"} <= actions
    assert list(CasePhoto.objects.filter(case=case).values_list("stage", flat=True)) == ["report", "feedback"]
    assert (photo_root() / CasePhoto.objects.filter(case=case).order_by("id")[0].path).read_bytes()[:2] == b"\xff\xd8"


def test_deadline_in_working_days_ends_at_close_of_day():
    f.world()
    centre = f.centre()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"))
    deadline = timezone.localtime(case.deadline)
    assert (deadline.hour, deadline.minute) == (17, 30)
    assert deadline.date() > timezone.localdate()


def test_rework_reopen_and_the_clock_restarted():
    f.world()
    resident, centre, unit, worker = f.resident(), f.centre(), f.unit_officer(), f.grid_worker()
    case = f.walk(
        f.reported(resident),
        (centre, "register"),
        (centre, "dispatch"),
        (unit, "start"),
        (unit, "report_back"),
        report_back={"photos": [f.jpeg()]},
    )
    case = services.case_transition(user=worker, number=case.number, name="verify_fail", reason="井盖仍松动")
    assert (case.state, case.rework_count) == ("handling", 1)
    case = f.walk(case, (unit, "report_back"), (worker, "verify_pass"), (centre, "close"))
    case = services.case_transition(user=resident, number=case.number, name="reopen", reason="又坏了")
    assert (case.state, case.reopen_count, case.closed_at) == ("handling", 1, None)


def test_reopen_after_the_period_is_refused():
    f.world()
    resident, centre, unit, worker = f.resident(), f.centre(), f.unit_officer(), f.grid_worker()
    case = _full(f.reported(resident), centre, unit, worker)
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - dt.timedelta(days=8))
    with pytest.raises(CaseGuardFailed):
        services.case_transition(user=resident, number=case.number, name="reopen", reason="又坏了")
    assert Case.objects.get(pk=case.pk).state == "closed"


def test_return_goes_to_arbitration_and_redispatch_to_another_unit():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    other = f.unit_officer("FZ-YL", "福州市园林中心")
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"))
    case = services.case_transition(user=unit, number=case.number, name="return", reason="不属于本单位")
    assert case.state == "disputed"
    assert case.arbitration_deadline is not None
    assert [c.number for c in selectors.centre_queue(user=centre, queue="disputed")] == [case.number]
    case = services.case_transition(user=centre, number=case.number, name="redispatch", unit_codes=["FZ-YL", "FZ-SZ"])
    assert case.state == "dispatched"
    assert Case.objects.values_list("unit__code", flat=True).get(pk=case.pk) == "FZ-YL"
    assert sorted(CaseUnit.objects.filter(case=case).values_list("unit__code", "role")) == [
        ("FZ-SZ", "assist"),
        ("FZ-YL", "main"),
    ]
    with pytest.raises(CaseDenied):  # the old main unit is only 协办 now
        services.case_transition(user=unit, number=case.number, name="start")
    assert services.case_transition(user=other, number=case.number, name="start").state == "handling"


def test_routing_table_by_street_wins_over_default_unit():
    f.world()
    admin = f.staff("cases.manage_routing")
    f.department("FZ-GL-CG", "鼓楼区城市管理局")
    services.route_set(user=admin, category_code="C0101", unit_code="FZ-GL-CG", street_code="350102001")
    centre = f.centre()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"))
    assert Case.objects.values_list("unit__code", flat=True).get(pk=case.pk) == "FZ-GL-CG"
    elsewhere = f.walk(f.reported(f.resident(), lon=119.305), (centre, "register"), (centre, "dispatch"))
    assert Case.objects.values_list("unit__code", flat=True).get(pk=elsewhere.pk) == "FZ-SZ"
    with pytest.raises(CaseDenied):
        services.route_set(user=centre, category_code="C0101", unit_code="FZ-SZ")


def test_extension_and_postponement_change_the_clock_only_when_approved():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"), (unit, "start"))
    before = case.deadline
    assert before is not None
    services.clock_request_submit(user=unit, number=case.number, kind="extension", days=2, reason="需采购配件")
    assert Case.objects.get(pk=case.pk).deadline == before
    case = services.case_transition(user=centre, number=case.number, name="extend")
    assert (case.deadline or before) > before
    assert case.extension_count == 1
    assert ClockRequest.objects.get().state == "approved"
    services.clock_request_submit(user=unit, number=case.number, kind="postponement", reason="待道路施工结束")
    assert Case.objects.get(pk=case.pk).clock_stopped_at is None
    case = services.case_transition(user=centre, number=case.number, name="postpone")
    assert case.state == "postponed"
    assert case.clock_stopped_at is not None
    assert case.postponed_ever
    extended = case.deadline
    assert extended is not None
    case = services.case_transition(user=centre, number=case.number, name="resume")
    assert case.state == "handling"
    assert case.clock_stopped_at is None
    assert (case.deadline or extended) >= extended


def test_postpone_without_request_is_refused():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"), (unit, "start"))
    with pytest.raises(CaseGuardFailed):
        services.case_transition(user=centre, number=case.number, name="postpone")
    assert Case.objects.get(pk=case.pk).state == "handling"


def test_report_back_needs_the_category_photos():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"), (unit, "start"))
    with pytest.raises(CaseGuardFailed):
        services.case_transition(user=unit, number=case.number, name="report_back")
    assert Case.objects.get(pk=case.pk).state == "handling"


def test_supervision_of_cases_near_and_past_deadline():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    case = f.walk(f.reported(f.resident()), (centre, "register"), (centre, "dispatch"), (unit, "start"))
    Case.objects.filter(pk=case.pk).update(deadline=timezone.now() - dt.timedelta(hours=1))
    assert services.cases_supervise_due() == 1
    assert Case.objects.get(pk=case.pk).escalation_level == 2
    assert services.cases_supervise_due() == 0
    assert [c.number for c in selectors.centre_queue(user=centre, queue="overdue")] == [case.number]


def test_hotline_call_masks_the_phone_and_is_called_back():
    f.world()
    operator, centre, unit, worker = f.operator(), f.centre(), f.unit_officer(), f.grid_worker()
    case = f.reported(operator, channel="hotline", hotline_kind="complaint", caller_phone="13812345678", photos=[])
    assert case.caller_phone_masked == "138****5678"
    assert "13812345678" not in str(list(AuditRecord.objects.values_list("detail", flat=True)))
    case = _full(case, centre, unit, worker)
    with pytest.raises(CaseDenied):
        services.case_transition(user=f.resident(), number=case.number, name="rate", rating=4)
    case = services.case_transition(user=operator, number=case.number, name="callback", rating=4, reason="满意")
    assert (case.state, case.rating) == ("evaluated", 4)


def test_grid_worker_simple_procedure_is_closed_at_once_and_counted_apart():
    f.world()
    worker = f.grid_worker()
    case = f.reported(worker, channel="grid_worker", simple_procedure=True)
    assert case.state == "closed"
    assert case.simple_procedure
    assert case.registered_at is not None
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal: residents do not close on the spot
        f.reported(f.resident(), simple_procedure=True)


def test_duplicates_are_suggested_and_merged_with_the_reporter_subscribed():
    f.world()
    centre = f.centre()
    first = f.reported(f.resident())
    second_reporter = f.resident()
    near = services.duplicates_near(category=first.category, lon=f.LON + 0.0001, lat=f.LAT)
    assert [c.number for c in near] == [first.number]
    assert services.duplicates_near(category=first.category, lon=f.LON + 0.002, lat=f.LAT) == []
    second = f.reported(second_reporter, lon=f.LON + 0.0001)
    second = services.case_transition(user=centre, number=second.number, name="merge", merge_into=first.number)
    assert second.state == "merged"
    assert second.merged_into_id == first.pk
    assert CaseSubscription.objects.filter(case=first, user=second_reporter).exists()
    assert [c.number for c in selectors.reports_of(user=second_reporter)] == [second.number, first.number]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"lon": f.OUTSIDE[0], "lat": f.OUTSIDE[1]}, OutsideCity),
        ({"category_code": "C9999"}, CategoryNotFound),
        ({"photos": [b"%PDF-1.7 not an image"]}, PhotoInvalid),
        ({"photos": [b"\xff\xd8\xff\xe0" + b"0" * 100]}, PhotoInvalid),
        ({"photos": [b"\xff\xd8" + b"0" * (MAX_BYTES + 1)]}, PhotoInvalid),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(fields, error):
    f.world()
    resident = f.resident()
    with pytest.raises(error):
        f.reported(resident, **fields)
    assert Case.objects.count() == 0
    assert CasePhoto.objects.count() == 0
    assert not photo_root().exists()
    assert AuditRecord.objects.filter(action="cases.case.report", outcome="denied").count() == 1


def test_anonymous_report_only_where_the_category_allows_it():
    f.world()
    f.category("E0104", name="暴露垃圾", major_name="市容环境类", anonymous_allowed=False)
    assert f.reported(None).reporter_label == "匿名"
    with pytest.raises(CaseDenied):
        f.reported(None, category_code="E0104")


@pytest.mark.parametrize(
    ("who", "name"),
    [("resident", "register"), ("unit", "register"), ("worker", "dispatch"), ("operator", "dispatch")],
)
def test_steps_by_the_wrong_role_are_refused_and_audited(who, name):
    f.world()
    users = {"resident": f.resident(), "unit": f.unit_officer(), "worker": f.grid_worker(), "operator": f.operator()}
    centre = f.centre()
    case = f.reported(f.resident())
    if name == "dispatch":
        case = services.case_transition(user=centre, number=case.number, name="register")
    with pytest.raises(CaseDenied):
        services.case_transition(user=users[who], number=case.number, name=name)
    assert Case.objects.get(pk=case.pk).state == case.state
    assert AuditRecord.objects.filter(action=f"cases.case.{name}", outcome="denied").count() == 1


def test_records_carry_the_address_and_id_of_the_request_refusals_included():
    f.world()
    centre, resident = f.centre(), f.resident()
    case = f.reported(resident)
    with request_from("192.0.2.7") as context:
        services.case_transition(user=centre, number=case.number, name="register")
        with pytest.raises(CaseDenied):
            services.case_transition(user=resident, number=case.number, name="dispatch")
    records = AuditRecord.objects.filter(action__in=["cases.case.register", "cases.case.dispatch"]).order_by("id")
    assert [(r.action, r.outcome, r.source_address, r.request_id) for r in records] == [
        ("cases.case.register", "success", "192.0.2.7", context.request_id),
        ("cases.case.dispatch", "denied", "192.0.2.7", context.request_id),
    ]


def test_unknown_transition_and_wrong_state():
    f.world()
    centre = f.centre()
    case = f.reported(f.resident())
    with pytest.raises(CaseTransitionUnknown):
        services.case_transition(user=centre, number=case.number, name="teleport")
    with pytest.raises(CaseTransitionNotAllowed):
        services.case_transition(user=centre, number=case.number, name="close")
    assert Case.objects.get(pk=case.pk).state == "collected"


def test_grid_worker_verifies_only_in_their_cells():
    f.world()
    centre, unit = f.centre(), f.unit_officer()
    elsewhere = f.grid_worker(cell=f.CELL2)
    case = f.walk(
        f.reported(f.resident()),
        (centre, "register"),
        (centre, "dispatch"),
        (unit, "start"),
        (unit, "report_back"),
        report_back={"photos": [f.jpeg()]},
    )
    with pytest.raises(CaseDenied):
        services.case_transition(user=elsewhere, number=case.number, name="verify_pass")
    assert selectors.worker_queue(user=elsewhere) == []


def test_reporter_sees_own_case_others_do_not():
    f.world()
    resident = f.resident()
    case = f.reported(resident)
    assert selectors.case_get(user=resident, number=case.number) == case
    with pytest.raises(CaseDenied):
        selectors.case_get(user=f.resident(), number=case.number)
    with pytest.raises(CaseDenied):
        selectors.centre_queue(user=resident, queue="register")


def test_open311_keys_are_hashed_and_revocable():
    admin = f.staff("cases.manage_open311key")
    row, key = services.open311_key_issue(user=admin, name="市水务集团工单系统")
    assert key not in str(row.__dict__)
    assert services.open311_key_check(key) == row
    services.open311_key_revoke(user=admin, key_id=row.pk)
    with pytest.raises(Open311KeyInvalid):
        services.open311_key_check(key)
    with pytest.raises(CaseDenied):
        services.open311_key_issue(user=f.centre(), name="x")


def test_grid_workers_of_thematic_grids_share_the_one_grid():
    f.world()
    admin = f.staff("cases.manage_routing")
    worker = f.staff("cases.verify_case")
    services.grid_assign(user=admin, worker=worker, cell_code=f.CELL, theme="public_security")
    services.grid_assign(user=admin, worker=worker, cell_code=f.CELL, theme="environment")
    assert selectors.worker_cells(user=worker) == [f.CELL]
    with pytest.raises(CaseInputInvalid):
        services.grid_assign(user=admin, worker=worker, cell_code=f.CELL, theme="weather")
    with pytest.raises(CaseInputInvalid):
        services.grid_assign(user=admin, worker=f.resident(), cell_code=f.CELL)
    with pytest.raises(CaseDenied):
        services.grid_assign(user=f.centre(), worker=worker, cell_code=f.CELL)


def test_the_reporter_of_a_new_case_is_offered_no_step_until_it_is_closed():
    f.world()
    resident, centre = f.resident(), f.centre()
    case = f.reported(resident)
    assert transitions_for(resident, case) == []  # 简易程序结案 is the grid worker's, taken at intake
    assert [t.name for t in transitions_for(centre, case)] == ["register", "reject", "merge"]
