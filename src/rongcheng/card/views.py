"""Pages of the city card: the resident's cards, balance, history, receipts, loss report and QR code; merchants'
transactions and settlements; finance staff's clearing and reconciliation; the public receipt verification. The same
services and selectors as the API; a domain error comes back as a message."""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rongcheng.card import selectors, services
from rongcheng.card.lifecycle import TRANSITIONS, USABLE_STATES
from rongcheng.card.models import CardForm, CardStatus, ClearingRun
from rongcheng.card.permissions import FINANCE, has
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.ratelimit import rate_limit_request, rate_limited


def _user(request: HttpRequest) -> Any:
    note_actor(request.user)
    return request.user


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@login_required
def my_cards(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    owned = selectors.cards_of(user)
    cards = [{"card": c, "balance": _yuan(c.purse.balance)} for c in owned]
    payable = [{"card": c, "balance": _yuan(c.purse.balance)} for c in owned if c.status in USABLE_STATES]
    bills = [{"bill": b, "amount": _yuan(b.amount)} for b in selectors.bills_unpaid_of(user)]
    # One virtual card per resident (services.virtual_card_open hands back the one they have): the button shows
    # only while they have none that is usable, lost or frozen.
    has_virtual = any(c.form == CardForm.VIRTUAL and c.status in _VIRTUAL_HELD for c in owned)
    return render(request, "card/my_cards.html", {
        "cards": cards, "payable": payable, "bills": bills, "receipts": selectors.receipts_of(user),
        "may_open_virtual": not has_virtual, "merchants": selectors.merchants_of(user),
    })  # fmt: skip


_VIRTUAL_HELD = (CardStatus.ACTIVE, CardStatus.LOST, CardStatus.FROZEN)


def _memo(memo: str) -> str:
    """A transfer's memo as the page's language says it: the ledger stores the fare rule's own words (换乘优惠, the
    transfer discount) and otherwise what the channel or merchant sent (a top-up's reference), shown as sent."""
    return _("换乘优惠") if memo == "换乘优惠" else memo


@login_required
@require_POST
@rate_limited("card.resident")
def bill_pay(request: HttpRequest, payment_code: str) -> HttpResponse:
    """The resident pays a bill issued to them (a hall service's fee, a department's charge) with one of their
    cards; the receipt is shown. A bill is paid once: the ledger key is the bill's, so a second click books nothing."""
    user = _user(request)
    bill = selectors.bill_by_code(payment_code)
    index = getattr(user, "id_number_index", "")
    if bill is None or not index or bill.payer_index != index:
        raise Http404
    card = selectors.card_for_holder(user, str(request.POST.get("card", ""))[:16])
    if card is None:
        messages.error(request, _("请选择您的一张市民卡。"))
        return HttpResponseRedirect(reverse("card:mine"))
    try:
        paid = services.bill_pay_by_card(
            payment_code=bill.payment_code, number=card.number, user=user, key=f"u{user.pk}:bill:{bill.payment_code}"
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("card:mine"))
    messages.success(request, _("缴费成功，电子票据已开具。"))
    return HttpResponseRedirect(reverse("card:receipt-verify", args=[paid.receipt.number]))


@login_required
@require_POST
def virtual_open(request: HttpRequest) -> HttpResponse:
    try:
        card = services.virtual_card_open(user=_user(request))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("card:mine"))
    messages.success(request, _("手机虚拟卡已开通。"))
    return HttpResponseRedirect(reverse("card:detail", args=[card.reference]))


def _own_card(request: HttpRequest, reference: str) -> Any:
    card = selectors.card_for_holder(_user(request), reference)
    if card is None:
        raise Http404
    return card


@login_required
def card_detail(request: HttpRequest, reference: str) -> HttpResponse:
    card = _own_card(request, reference)
    history = [
        {"line": line, "amount": _yuan(line.amount), "balance": _yuan(line.balance_after), "memo": _memo(line.memo)}
        for line in selectors.card_history(card)
    ]
    may_report = TRANSITIONS.get("report_loss", card.status) is not None
    return render(request, "card/detail.html", {
        "card": card, "balance": _yuan(card.purse.balance), "history": history, "may_report": may_report,
    })  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def report_loss(request: HttpRequest, reference: str) -> HttpResponse:
    """Reporting a card lost stops it at once and cannot be undone online: the page says what follows and the
    report is taken only with the box "I confirm" ticked (checked again here, not only by the browser)."""
    card = _own_card(request, reference)
    if TRANSITIONS.get("report_loss", card.status) is None:
        return HttpResponseRedirect(reverse("card:detail", args=[card.reference]))
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.card_transition(number=card.number, action="report_loss", actor=_user(request))
            messages.success(request, _("已挂失：此卡已停止支付，请到服务网点补卡，余额将转入新卡。"))
        except DomainError as exc:
            messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("card:detail", args=[card.reference]))
    error = request.method == "POST"
    return render(request, "card/report_loss.html", {
        "card": card, "balance": _yuan(card.purse.balance), "error": error,
    }, status=422 if error else 200)  # fmt: skip


@login_required
def qr_code(request: HttpRequest, reference: str) -> HttpResponse:
    card = _own_card(request, reference)
    try:
        code = services.qr_code_issue(number=card.number, user=_user(request))
    except DomainError as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("card:detail", args=[card.reference]))
    # segno's own inline SVG (no XML declaration), the library the licences' and credit reports' QR codes use.
    svg = segno.make(code, error="m").svg_inline(scale=8, svgclass="qr", lineclass="qr-line")
    return render(request, "card/qr.html", {"card": card, "svg": svg, "lifetime": services.QR_LIFETIME})


def _moment(signed: str) -> Any:
    """The signed ISO timestamp as a moment the page shows in the city's time (never the raw UTC string with its
    microseconds); what cannot be read is shown as signed."""
    try:
        return dt.datetime.fromisoformat(signed)
    except ValueError:
        return signed


def receipt_verify(request: HttpRequest, number: str) -> HttpResponse:
    rate_limit_request("card.verify", request)
    import json

    try:
        receipt, authentic = services.receipt_verify(number)
    except DomainError:
        return render(request, "card/receipt_verify.html", {"number": number[:24], "missing": True}, status=404)
    content = json.loads(receipt.content)
    content["amount"] = _yuan(int(content.get("amount_fen", 0)))
    content["paid_at_shown"] = _moment(str(content.get("paid_at", "")))
    return render(request, "card/receipt_verify.html", {
        "number": receipt.number, "authentic": authentic, "content": content, "key_id": receipt.key_id,
    })  # fmt: skip


@login_required
def merchant_home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    merchants = selectors.merchants_of(user)
    if not merchants:
        raise PermissionDenied
    rows = []
    for merchant in merchants:
        accounts = set(selectors.merchant_account_ids(merchant))  # its payable and its terminals' parts of it
        transactions = [
            {"t": t, "amount": _yuan(t.amount if t.credit_id in accounts else -t.amount)}
            for t in selectors.merchant_transactions(merchant, limit=50)
        ]
        settlements = [
            {"line": line, "gross": _yuan(line.gross), "fees": _yuan(line.fees), "net": _yuan(line.net)}
            for line in merchant.clearing_lines.select_related("run").order_by("-run__business_date", "-run__sequence")[
                :30
            ]
        ]
        rows.append({"merchant": merchant, "transactions": transactions, "settlements": settlements})
    return render(request, "card/merchant.html", {"rows": rows, "merchants": merchants})


def _finance(request: HttpRequest) -> Any:
    user = _user(request)
    if not has(user, FINANCE):
        raise PermissionDenied
    return user


@login_required
@require_http_methods(["GET", "POST"])
def clearing(request: HttpRequest) -> HttpResponse:
    user = _finance(request)
    if request.method == "POST":
        try:
            day = dt.date.fromisoformat(request.POST.get("business_date", ""))
            run = services.clearing_run(business_date=day, actor=user)
            messages.success(request, _("清分完成。"))
            return HttpResponseRedirect(reverse("card:clearing-run", args=[run.pk]))
        except ValueError:
            messages.error(request, _("请填写业务日期（年-月-日）。"))
        except DomainError as exc:
            messages.error(request, exc.detail)
    runs = selectors.clearing_runs()
    yesterday = timezone.localdate() - dt.timedelta(days=1)  # the city's yesterday, not the server's
    return render(request, "card/clearing.html", {"runs": runs, "yesterday": yesterday})


@login_required
def clearing_run(request: HttpRequest, run_id: int) -> HttpResponse:
    _finance(request)
    run = ClearingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404
    lines = [
        {"line": line, "gross": _yuan(line.gross), "refunds": _yuan(line.refunds), "fees": _yuan(line.fees),
         "net": _yuan(line.net)}
        for line in run.lines.select_related("merchant").order_by("merchant__code")
    ]  # fmt: skip
    return render(request, "card/clearing_run.html", {"run": run, "lines": lines})


@login_required
@require_http_methods(["GET", "POST"])
def reconcile(request: HttpRequest) -> HttpResponse:
    user = _finance(request)
    report = None
    if request.method == "POST":
        try:
            day = dt.date.fromisoformat(request.POST.get("business_date", ""))
            upload = request.FILES.get("statement")
            text = upload.read().decode("utf-8", "replace") if upload else request.POST.get("statement", "")
            report = services.reconcile(
                business_date=day, channel=request.POST.get("channel", "bank"), statement=text, actor=user
            )
        except ValueError:
            messages.error(request, _("请填写业务日期（年-月-日）。"))
        except DomainError as exc:
            messages.error(request, exc.detail)
    return render(request, "card/reconcile.html", {"report": _report_shown(report), "today": timezone.localdate()})


def _report_shown(report: services.Reconciliation | None) -> dict[str, Any] | None:
    """The reconciliation with its amounts in 元 (the statement file is in 分, the pages speak 元)."""
    if report is None:
        return None
    return {
        "balanced": report.balanced, "matched": report.matched,
        "ours_only": [{"reference": i["reference"], "amount": _yuan(i["amount"])} for i in report.ours_only],
        "theirs_only": [{"reference": i["reference"], "amount": _yuan(i["amount"])} for i in report.theirs_only],
        "amount_differs": [
            {"reference": i["reference"], "ours": _yuan(i["ours"]), "theirs": _yuan(i["theirs"])}
            for i in report.amount_differs
        ],
    }  # fmt: skip


app_urlpatterns = [
    path("", my_cards, name="mine"),
    path("virtual/", virtual_open, name="virtual-open"),
    path("cards/<str:reference>/", card_detail, name="detail"),
    path("cards/<str:reference>/report-loss/", report_loss, name="report-loss"),
    path("cards/<str:reference>/qr/", qr_code, name="qr"),
    path("receipts/<str:number>/", receipt_verify, name="receipt-verify"),
    path("bills/<str:payment_code>/pay/", bill_pay, name="bill-pay"),
    path("merchant/", merchant_home, name="merchant"),
    path("finance/clearing/", clearing, name="clearing"),
    path("finance/clearing/<int:run_id>/", clearing_run, name="clearing-run"),
    path("finance/reconcile/", reconcile, name="reconcile"),
]
