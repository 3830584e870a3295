"""Fees of services paid through the city card's unified payment: approval issues the bill, conclusion waits for
its payment, and the payment (card.events.BillPaid) is noted on the application once."""

from __future__ import annotations

import pytest
from django.utils import translation

from rongcheng.accounts.models import AccountKind
from rongcheng.audit.models import AuditRecord
from rongcheng.card import services as card_services
from rongcheng.card.events import BillPaid
from rongcheng.card.models import Bill, BillStatus
from rongcheng.card.tests import factories as card_factories
from rongcheng.hall import services
from rongcheng.hall.errors import TransitionGuardFailed
from rongcheng.hall.models import ApplicationEvent, State
from rongcheng.hall.tests import factories as f
from rongcheng.hall.workflow import fee_amount
from rongcheng.kernel import events

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "fen"),
    [("不收费", 0), ("工本费 10元", 1000), ("每证12.5 元", 1250), ("每本 0.05元", 5), ("依据第3条收取", 0), ("", 0)],
)
def test_the_fee_is_the_first_amount_in_yuan_of_the_catalogue_text(text: str, fen: int) -> None:
    item = f.service(fees=text)
    application = f.submitted(f.applicant(), item)
    assert fee_amount(application) == fen


def test_approval_bills_the_fee_and_conclusion_waits_until_it_is_paid(django_capture_on_commit_callbacks) -> None:
    item = f.service(fees="营业执照工本费 10元")
    resident, officer = f.applicant(), f.officer()
    application = f.walk(f.submitted(resident, item), officer, "accept", "review", "approve")
    bill = Bill.objects.get()
    assert (bill.amount, bill.status, bill.reference) == (1000, BillStatus.UNPAID, f"hall:{application.number}")
    assert (bill.department_id, bill.payer_index, bill.item) == (
        application.department_id, resident.id_number_index, item.name,
    )  # fmt: skip
    told = [m.text for m in application.messages.all() if bill.payment_code in m.text]
    assert told == [
        f"请缴纳{item.name}费用 10.00 元，缴款码 {bill.payment_code}"
        "（市民卡或银行、网上渠道均可缴纳），缴费后即可办结。"
    ]
    (bill_message,) = [m for m in application.messages.all() if bill.payment_code in m.text]
    with translation.override("en"):  # an English reader reads it in English
        assert bill_message.shown == (
            f"Please pay the fee of {item.name}: 10.00 yuan, payment code {bill.payment_code} (by city card, at a "
            "bank or online). Once it is paid the application can be concluded."
        )

    with pytest.raises(TransitionGuardFailed) as refused:
        services.application_transition(user=officer, application_id=application.pk, transition="conclude")
    assert refused.value.errors[0]["rule"] == "fee.unpaid"
    application.refresh_from_db()
    assert application.state == State.APPROVED
    assert not ApplicationEvent.objects.filter(application=application, transition="conclude").exists()

    channel = card_factories.account("bank-channel", "add_transfer", kind=AccountKind.API_CLIENT)
    with django_capture_on_commit_callbacks(execute=True):
        card_services.bill_pay_by_channel(payment_code=bill.payment_code, channel="bank", actor=channel, key="b1")
    receipt = Bill.objects.get().receipt
    noted = ApplicationEvent.objects.get(application=application, transition="fee_paid")
    assert (noted.from_state, noted.to_state) == (State.APPROVED, State.APPROVED)
    assert noted.reason == f"已缴费 10.00 元，票据号 {receipt.number}"
    assert AuditRecord.objects.filter(action="hall.application.fee_paid", target_id=str(application.pk)).count() == 1
    assert application.messages.filter(text__contains=receipt.number).count() == 1

    concluded = services.application_transition(user=officer, application_id=application.pk, transition="conclude")
    assert concluded.state == State.CONCLUDED


def test_a_payment_delivered_twice_is_noted_once_and_other_bills_are_ignored() -> None:
    item = f.service(fees="10元")
    application = f.walk(f.submitted(f.applicant(), item), f.officer(), "accept", "review", "approve")
    bill = Bill.objects.get()
    paid = BillPaid(
        bill_id=bill.pk, payment_code=bill.payment_code, department_id=bill.department_id, reference=bill.reference,
        amount=bill.amount, receipt_number="R123",
    )  # fmt: skip
    services.fee_paid_record(paid)
    services.fee_paid_record(paid)
    events.deliver(BillPaid(bill_id=0, payment_code="x", department_id=bill.department_id, reference="water:1",
                            amount=5, receipt_number="R9"))  # fmt: skip
    other_department = BillPaid(bill_id=0, payment_code="x", department_id=bill.department_id + 999,
                                reference=bill.reference, amount=5, receipt_number="R8")  # fmt: skip
    services.fee_paid_record(other_department)
    assert ApplicationEvent.objects.filter(application=application, transition="fee_paid").count() == 1
    # the applicant's timeline names the payment in words, not by the event's code name
    from django.test import Client

    client = Client()
    client.force_login(application.applicant)
    page = client.get(f"/hall/applications/{application.pk}/").content.decode()
    assert "缴纳费用" in page
    assert "fee_paid" not in page


def test_a_service_without_fee_issues_no_bill_and_concludes() -> None:
    item = f.service(fees="不收费")
    application = f.walk(f.submitted(f.applicant(), item), f.officer(), "accept", "review", "approve", "conclude")
    assert application.state == State.CONCLUDED
    assert not Bill.objects.exists()


def test_the_workbench_says_the_fee_is_unpaid_when_conclusion_waits_for_it() -> None:
    """An officer who presses 办结 before the applicant has paid reads why and the bill's payment code, not the
    vague "input does not meet the requirements"."""
    from django.test import Client

    item = f.service(fees="工本费 20元")
    officer = f.officer()
    application = f.walk(f.submitted(f.applicant(), item), officer, "accept", "review", "approve")
    bill = Bill.objects.get()
    client = Client()
    client.force_login(officer)
    page = client.post(
        f"/hall/workbench/{application.pk}/transition/", {"transition": "conclude"}, follow=True
    ).content.decode()
    assert f"申请人尚未缴纳本事项的费用（缴款码 {bill.payment_code}），缴费后才能办结。" in page
    assert "输入不符合要求" not in page
