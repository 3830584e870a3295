"""City card ledger: single payments per second through the service against a raw SQL transfer function in the same
run, payments with a hot fee account, offline tap batches booked per second, and the time to clear a day.

The raw SQL transfer is the physical limit of the same row changes: one PL/pgSQL call (on SQLite, the same
statements from Python) that locks both accounts in id order, checks the purse's limit, inserts the transfer and its
two entries and updates both balances. The service path is `card_pay` (card and merchant looked up, status checked,
the ledger engine's key check, limit check, transfer, entries, balances) and the ledger engine alone (`book`).
On PostgreSQL the engine books immediate transfers with one call of the `card_book` function (migration 0004), which
commits by itself outside a transaction, and a payment of an amount through the service is one statement (`card_pay`,
migration 0007: merchant, actor, card and state checked, then `card_book`); the statement count printed is for one
payment. The hot case books each payment with its fee to one fee account (a linked group of two transfers), so every
payment waits on that account's row lock. On PostgreSQL both rates are also taken with several payers at once
(`--payers`, default 4: processes of their own, each with its own connection, merchant and cards), as a city's
terminals pay together and PostgreSQL flushes their commits together; one connection gives the latency-bound rate.
Offline taps are uploaded through `tap_batch_upload` (MAC, parsing, duplicates and gaps, set-based booking) and
compared in the same run with the same rows written by hand: per batch, the accounts locked, then transfers (each
the tap, naming its batch: migration 0015), entries, balances and the cards' counters written from arrays in one
transaction (the physical limit of those rows with their indexes and
reference checks, migration 0011). On PostgreSQL the upload is also timed with several terminals uploading at once
(`--uploaders`, default 2: processes of their own, each with its own connection and terminal of the same operator,
each tapping cards of its own, as a card is in one vehicle at a time; `--shared-cards`: every batch over the same
cards, the worst case for locks), as a city's terminals upload together; two goal lines, one per rate, say which is
which. Clearing time is measured on the taps booked and
extrapolated linearly to 15 million taps.

    uv run python bench/card_ledger.py --database postgresql            # the figures of the closing note
    uv run python bench/card_ledger.py --smoke
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _django import counting_statements, setup_django, throwaway_database
from _smoke import goal, parse_arguments

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_transfer(p_debit bigint, p_credit bigint, p_amount bigint, p_key text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE d_balance bigint; c_balance bigint; d_limit bigint; t_id bigint; moment timestamptz := now();
BEGIN
    PERFORM 1 FROM card_ledgeraccount WHERE id IN (p_debit, p_credit) ORDER BY id FOR UPDATE;
    SELECT balance, lower_limit INTO d_balance, d_limit FROM card_ledgeraccount WHERE id = p_debit;
    SELECT balance INTO c_balance FROM card_ledgeraccount WHERE id = p_credit;
    IF d_limit IS NOT NULL AND d_balance - p_amount < d_limit THEN RAISE EXCEPTION 'limit'; END IF;
    INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, linked_group, overdraft, memo,
                               created_at, business_at)
        VALUES (p_key, 'payment', 'single', p_amount, p_debit, p_credit, '', false, '', moment, moment)
        RETURNING id INTO t_id;
    INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) VALUES
        (t_id, p_debit, -p_amount, d_balance, d_balance - p_amount, moment),
        (t_id, p_credit, p_amount, c_balance, c_balance + p_amount, moment);
    UPDATE card_ledgeraccount SET balance = balance - p_amount WHERE id = p_debit;
    UPDATE card_ledgeraccount SET balance = balance + p_amount WHERE id = p_credit;
    RETURN t_id;
END $$;
"""


def _run(
    kind: str, payments: int, taps: int, batch: int, payers: int, uploaders: int, shared_cards: bool = False
) -> None:
    with throwaway_database(kind) as env:
        setup_django(env)
        from django.db import connection, transaction
        from django.utils import timezone

        from rongcheng.accounts.models import AccountKind, User
        from rongcheng.audit.services import Actor
        from rongcheng.card import ledger, selectors, services
        from rongcheng.card.ledger import TransferSpec
        from rongcheng.card.models import Card, LedgerAccount, Transfer

        system = Actor.system("bench/card_ledger.py")
        owner = User.objects.create(username="bench-merchant", kind=AccountKind.API_CLIENT)
        bus = services.merchant_register(
            code="BENCH-BUS", name="公交", kind="bus", fee_rate=60, owner=owner, actor=system
        )
        fee = services.system_account(services.FEE_INCOME)
        bank = services.system_account(services.BANK)
        cards = [services.card_issue(actor=system) for _ in range(max(50, payments // 20))]
        ledger.book([TransferSpec(bank.id, c.purse_id, 100_000, "top_up") for c in cards])
        cards = list(Card.objects.filter(pk__in=[c.pk for c in cards]))

        def via_service(n: int, tag: str) -> None:
            for i in range(n):
                card = cards[i % len(cards)]
                services.card_pay(number=card.number, merchant_code=bus.code, actor=owner, key=f"{tag}{i}", amount=2)

        def via_request(n: int, tag: str) -> None:
            """What the API's payment does around the service: the request's idempotency record (advisory lock,
            lookup, savepoint, the answer stored in the payment's transaction) and the answer's serialization."""
            for i in range(n):
                card = cards[i % len(cards)]
                body = {"card": card.number, "merchant": bus.code, "amount": 2}

                def run(number: str = card.number, key: str = f"u{owner.pk}:{tag}{i}") -> dict[str, Any]:
                    paid = services.card_pay(number=number, merchant_code=bus.code, actor=owner, key=key, amount=2)
                    return services.transfer_view(paid)

                services.idempotent(scope=f"user:{owner.pk}", key=f"{tag}{i}", body=body, run=run)

        def via_ledger(n: int, tag: str, hot: bool) -> None:
            for i in range(n):
                purse = cards[i % len(cards)].purse_id
                specs = [TransferSpec(purse, bus.payable_id, 2, "payment", key=f"{tag}{i}")]
                if hot:
                    specs.append(TransferSpec(bus.payable_id, fee.id, 1, "fee", key=f"{tag}{i}f"))
                ledger.book(specs)

        if kind == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(PG_FUNCTION)

        def raw(n: int, tag: str) -> None:
            for i in range(n):
                purse = cards[i % len(cards)].purse_id
                with transaction.atomic(), connection.cursor() as cursor:
                    if kind == "postgresql":
                        cursor.execute("SELECT bench_transfer(%s, %s, 2, %s)", [purse, bus.payable_id, f"{tag}{i}"])
                        continue
                    low, high = sorted((purse, bus.payable_id))
                    cursor.execute("SELECT id, balance FROM card_ledgeraccount WHERE id IN (%s, %s)", [low, high])
                    balances = dict(cursor.fetchall())
                    now = timezone.now()
                    cursor.execute(
                        "INSERT INTO card_transfer (key, kind, phase, amount, debit_id, credit_id, linked_group, "
                        "overdraft, memo, created_at, business_at) VALUES (%s, 'payment', 'single', 2, %s, %s, '', "
                        "0, '', %s, %s)",
                        [f"{tag}{i}", purse, bus.payable_id, now, now],
                    )
                    transfer_id = cursor.lastrowid
                    cursor.execute(
                        "INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) "
                        "VALUES (%s, %s, -2, %s, %s, %s), (%s, %s, 2, %s, %s, %s)",
                        [transfer_id, purse, balances[purse], balances[purse] - 2, now,
                         transfer_id, bus.payable_id, balances[bus.payable_id], balances[bus.payable_id] + 2, now],
                    )  # fmt: skip
                    cursor.execute("UPDATE card_ledgeraccount SET balance = balance - 2 WHERE id = %s", [purse])
                    cursor.execute(
                        "UPDATE card_ledgeraccount SET balance = balance + 2 WHERE id = %s", [bus.payable_id]
                    )

        via_service(5, "warm-s")
        raw(5, "warm-r")
        # The paths take turns in rounds, so that a change of the machine's load during the run weighs on each
        # alike (the ratio is what the goal is about).
        works: dict[str, Callable[[int, str], None]] = {
            "service": lambda n, tag: via_service(n, f"s{tag}"),
            "ledger": lambda n, tag: via_ledger(n, f"l{tag}", False),
            "hot": lambda n, tag: via_ledger(n, f"h{tag}", True),
            "raw": lambda n, tag: raw(n, f"r{tag}"),
            "request": lambda n, tag: via_request(n, f"q{tag}"),
        }
        rounds = 20 if payments >= 400 else 1  # short turns: a burst of load elsewhere weighs on every path alike
        spent = dict.fromkeys(works, 0.0)
        done = dict.fromkeys(works, 0)
        for round_number in range(rounds):
            share = payments // rounds
            for name, work in works.items():
                began = time.perf_counter()
                work(share, f"{round_number}-")
                spent[name] += time.perf_counter() - began
                done[name] += share
        service_rate, ledger_rate, hot_rate, raw_rate, request_rate = (done[n] / spent[n] for n in works)
        with counting_statements() as statements:
            via_service(1, "count")
        with counting_statements() as request_statements:
            via_request(1, "count")

        # Payers at once (PostgreSQL): a city's payments arrive from many terminals together, so the rate the
        # machine sustains is that of several connections, whose commits PostgreSQL flushes together. Each payer
        # is a process of its own with its own connection, merchant and cards (no row shared between payers); the
        # service and the raw SQL function take turns in rounds, as above.
        concurrent: dict[str, float] = {}
        if kind == "postgresql" and payers > 1:
            merchants = [bus] + [
                services.merchant_register(
                    code=f"BENCH-BUS-{n}", name="公交", kind="bus", fee_rate=60, owner=owner, actor=system
                )
                for n in range(1, payers)
            ]
            own = [cards[n::payers] for n in range(payers)]

            def pay(path: str, payer: int, count: int, tag: str) -> None:
                merchant = merchants[payer]
                for i in range(count):
                    card = own[payer][i % len(own[payer])]
                    if path == "service":
                        services.card_pay(number=card.number, merchant_code=merchant.code, actor=owner,
                                          key=f"{tag}-{payer}-{i}", amount=2)  # fmt: skip
                        continue
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute("SELECT bench_transfer(%s, %s, 2, %s)",
                                       [card.purse_id, merchant.payable_id, f"{tag}-{payer}-{i}"])  # fmt: skip

            spent_at_once = {"service": 0.0, "raw": 0.0}
            count = max(1, payments // payers // 5)
            for round_number in range(5):
                for path in spent_at_once:
                    spent_at_once[path] += _at_once(pay, path, payers, count, f"p{path[0]}{round_number}")
            concurrent = {path: count * payers * 5 / spent for path, spent in spent_at_once.items()}

        terminal, key = services.terminal_register(merchant=bus, code="BENCH-T1", actor=system)
        raw_terminal, _raw_key = services.terminal_register(merchant=bus, code="BENCH-T2", actor=system)
        raw_credit = raw_terminal.payable_id  # its part of the operator's payable, which the service credits
        if raw_credit is None:
            raise SystemExit("a terminal registered without its part of the payable")
        day = timezone.localdate() - dt.timedelta(days=1)
        noon = dt.datetime.combine(day, dt.time(12), tzinfo=services.CITY_ZONE).isoformat()
        counters: dict[str, int] = {}
        batches = []
        for start in range(0, taps, batch):
            rows = []
            for i in range(start, min(start + batch, taps)):
                number = cards[i % len(cards)].number
                counters[number] = counters.get(number, 0) + 1
                rows.append({"card": number, "counter": counters[number], "amount": 100, "at": noon})
            batches.append(rows)
        purses = {c.number: (c.id, c.purse_id) for c in cards}
        sequence = ""
        if kind == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence('card_transfer', 'id')")
                sequence = cursor.fetchone()[0]

        def raw_taps(batch_number: int, rows: list[dict[str, Any]]) -> None:
            """The same rows by hand, on PostgreSQL, as the service writes them since migration 0015 (a tap is its
            transfer): the batch's row, the accounts locked, then the transfers naming the batch (their ids drawn
            from the sequence in tap order, as the service does), their entries, the balances and each card's row
            (its highest tap counter, written again with the same value here so as not to disturb the service's
            counters) from arrays in one statement."""
            from rongcheng.card.ledger import pg_ints
            from rongcheng.card.models import TapBatch

            at = dt.datetime.fromisoformat(noon)
            debits = [purses[r["card"]][1] for r in rows]
            credit = raw_credit
            with transaction.atomic(), connection.cursor() as cursor:
                batch_row = TapBatch.objects.create(
                    terminal=raw_terminal, number=batch_number, uploaded_at=timezone.now(), taps=len(rows)
                )
                wanted = sorted({*debits, credit})
                cursor.execute(
                    "SELECT id, balance FROM card_ledgeraccount WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                    [pg_ints(wanted)],
                )
                balances = dict(cursor.fetchall())
                before, credit_before = [], []
                for debit in debits:
                    before.append(balances[debit])
                    balances[debit] -= 100
                    credit_before.append(balances[credit])
                    balances[credit] += 100
                now = timezone.now()
                cursor.execute(
                    "WITH u AS MATERIALIZED (SELECT u.*, nextval(%s::regclass) AS tid "
                    "  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
                    "  WITH ORDINALITY AS u(d, db, cb, card, pos)), "
                    "t AS (INSERT INTO card_transfer (id, key, kind, phase, amount, debit_id, credit_id, linked_group, "
                    "  overdraft, memo, created_at, business_at, batch_id) "
                    "  SELECT tid, %s || pos, 'tap', 'single', 100, d, %s, '', false, '', %s, %s, %s "
                    "  FROM u ORDER BY pos), "
                    "e AS (INSERT INTO card_entry (transfer_id, account_id, amount, balance_before, balance_after, at) "
                    "  SELECT u.tid, x.a, x.m, x.b, x.b + x.m, %s FROM u CROSS JOIN "
                    "  LATERAL (VALUES (u.d, -100, u.db, 0), (%s, 100, u.cb, 1)) AS x(a, m, b, side) "
                    "  ORDER BY u.pos, x.side), "
                    "b AS (UPDATE card_ledgeraccount a SET balance = n.b, posted_until = %s "
                    "  FROM unnest(%s::bigint[], %s::bigint[]) AS n(id, b) WHERE a.id = n.id) "
                    "UPDATE card_card SET tap_counter = tap_counter WHERE id IN (SELECT DISTINCT card FROM u)",
                    [sequence, pg_ints(debits), pg_ints(before), pg_ints(credit_before),
                     pg_ints(purses[r["card"]][0] for r in rows), f"rawtap:{batch_number}:", credit, now,
                     at, batch_row.pk, now, credit, now, pg_ints(wanted),
                     pg_ints(balances[i] for i in wanted)],
                )  # fmt: skip

        # the terminals' MACs, computed before the clock starts: the terminal's work, not the platform's (the upload
        # computes the MAC again to verify it, and that is timed)
        macs = [services.tap_batch_mac(key, terminal.code, n, rows) for n, rows in enumerate(batches, start=1)]
        # the service and the hand-written rows take turns batch by batch, as the payments do in rounds
        tap_spent = raw_tap_spent = 0.0
        for batch_number, (rows, mac) in enumerate(zip(batches, macs, strict=True), start=1):
            began = time.perf_counter()
            services.tap_batch_upload(
                terminal_code=terminal.code, batch_number=batch_number, taps=rows, actor=owner, mac=mac
            )
            tap_spent += time.perf_counter() - began
            if kind == "postgresql":
                began = time.perf_counter()
                raw_taps(batch_number, rows)
                raw_tap_spent += time.perf_counter() - began
        tap_rate = taps / tap_spent
        raw_tap_rate = taps / raw_tap_spent if raw_tap_spent else None

        # Terminals uploading at once (PostgreSQL): a city's thousands of terminals upload together, so the rate the
        # machine books is that of several connections; one upload's Python (MAC, parsing, arrays) runs beside
        # another's statements. Each uploader is a process of its own with its own terminal of the same operator;
        # with --shared-cards their batches tap the same cards (counters continuing card by card, batches dealt in
        # turn): the worst case for locks, every batch locking the same card rows and purses. Each terminal's taps
        # credit its own part of the operator's payable (ADR 0012, sixth pass), so terminals over cards of their own
        # lock no row in common. Lock order (ADR 0012): a terminal's own row, then the batch's cards in id order, then
        # its accounts in id order; no cycle, so no deadlock (a deadlock would fail an uploader, and the run).
        at_once_taps = 0
        at_once_rate = None
        over = "the same cards" if shared_cards else "cards of their own"
        if kind == "postgresql" and uploaders > 1:
            fleet = [
                services.terminal_register(merchant=bus, code=f"BENCH-U{n}", actor=system) for n in range(uploaders)
            ]
            per_uploader = max(1, len(batches) // uploaders)  # about as many taps as on one connection
            dealt: list[list[tuple[list[dict[str, Any]], str]]] = [[] for _ in range(uploaders)]
            # The city's case (default): a card is in one vehicle at a time, so each terminal's batches tap cards of
            # its own (a pool of `batch` cards per terminal, each once a batch). `--shared-cards`: the worst case,
            # every batch of every terminal over the same cards, which then wait on each other's card rows.
            pools = (
                [cards] * uploaders
                if shared_cards
                else [[services.card_issue(actor=system) for _ in range(batch)] for _ in range(uploaders)]
            )
            positions = [0] * uploaders
            for turn in range(per_uploader * uploaders):
                rows = []
                pool = pools[turn % uploaders] if not shared_cards else cards
                for _ in range(batch):
                    if shared_cards:
                        number = cards[positions[0] % len(cards)].number
                        positions[0] += 1
                    else:
                        number = pool[positions[turn % uploaders] % len(pool)].number
                        positions[turn % uploaders] += 1
                    counters[number] = counters.get(number, 0) + 1
                    rows.append({"card": number, "counter": counters[number], "amount": 100, "at": noon})
                fleet_terminal, fleet_key = fleet[turn % uploaders]
                turns = dealt[turn % uploaders]
                turns.append((rows, services.tap_batch_mac(fleet_key, fleet_terminal.code, len(turns) + 1, rows)))

            def upload(_path: str, uploader: int, _count: int, _tag: str) -> None:
                code = fleet[uploader][0].code
                for number, (rows, mac) in enumerate(dealt[uploader], start=1):
                    services.tap_batch_upload(terminal_code=code, batch_number=number, taps=rows, actor=owner, mac=mac)

            at_once_seconds = _at_once(upload, "service", uploaders, per_uploader, "u")
            at_once_taps = per_uploader * uploaders * batch
            at_once_rate = at_once_taps / at_once_seconds
            booked = Transfer.objects.filter(batch__terminal__in=[t for t, _k in fleet]).count()
            if booked != at_once_taps:
                raise SystemExit(f"{booked} taps booked of {at_once_taps} uploaded at once")

        finance = Actor.system("bench clearing")
        began = time.perf_counter()
        services.clearing_run(business_date=day, actor=finance)
        clearing_seconds = time.perf_counter() - began
        problems = selectors.ledger_check()
        total = sum(LedgerAccount.objects.values_list("balance", flat=True))
        connection.close()

    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    print(f"{kind}: {payments} payments a pass over {len(cards)} cards; {taps} taps in batches of {batch}")
    print(f"  load average at the end: {' '.join(load)}")
    print(f"  card_pay through the service:          {service_rate:9.1f} payments/s ({statements})")
    print(f"  ledger engine alone (book):            {ledger_rate:9.1f} payments/s")
    print(f"  ledger with a hot fee account (2 legs): {hot_rate:8.1f} payments/s")
    print(f"  raw SQL transfer function:             {raw_rate:9.1f} payments/s")
    print(f"  with the API's idempotency record:     {request_rate:9.1f} payments/s ({request_statements})")
    print(f"  offline taps booked (tap_batch_upload): {tap_rate:8.1f} taps/s (one connection)")
    if raw_tap_rate is not None:
        print(f"  the same tap rows written by hand:     {raw_tap_rate:9.1f} taps/s (one connection)")
        print("    (per tap a transfer naming its batch and two entries; per batch the balances, the cards' counters:")
        print("    the rows the service writes since migration 0015)")
    if at_once_rate is not None:
        print(f"  {uploaders} terminals uploading at once ({over}): {at_once_rate:9.1f} taps/s ({at_once_taps} taps)")
    cleared = taps * (2 if raw_tap_rate is not None else 1) + at_once_taps  # the hand-written taps are cleared too
    day_estimate = clearing_seconds / max(cleared, 1) * 15_000_000
    print(
        f"  clearing {cleared} taps: {clearing_seconds:.3f} s; "
        f"15 million taps by extrapolation: {day_estimate / 60:.1f} min"
    )
    if problems or total != 0:
        raise SystemExit(f"the ledger is unsound after the run: {problems[:5]}, sum {total}")
    ratio = service_rate / raw_rate
    print("goals (issue 16) and figures of this run:")
    if concurrent:
        at_once, at_once_ratio = concurrent["service"], concurrent["service"] / concurrent["raw"]
        print(f"  {payers} payers at once, through the service: {at_once:9.1f} payments/s")
        print(f"  {payers} payers at once, raw SQL function:    {concurrent['raw']:9.1f} payments/s")
        goal(f"single payments through the service >= 1000/s ({kind}, {payers} payers at once)", f"{at_once:.0f}/s",
             at_once >= 1000)  # fmt: skip
        goal(f"single payments through the service >= 0.5 of the raw SQL function ({kind}, {payers} payers at once)",
             f"{at_once_ratio:.2f}", at_once_ratio >= 0.5)  # fmt: skip
    goal(f"single payments through the service >= 1000/s ({kind}, one connection)", f"{service_rate:.0f}/s",
         service_rate >= 1000)  # fmt: skip
    goal(f"single payments through the service >= 0.5 of the raw SQL function ({kind}, one connection)",
         f"{ratio:.2f}", ratio >= 0.5)  # fmt: skip
    hot_ratio = hot_rate / raw_rate
    goal(
        f"rate with a hot fee account in every payment stated ({kind}; no target)",
        f"{hot_rate:.0f}/s, {hot_ratio:.2f} of the raw SQL function", True,
    )  # fmt: skip
    tap_figure = f"{tap_rate:.0f}/s"
    if raw_tap_rate is not None:
        tap_figure += f" ({tap_rate / raw_tap_rate:.2f} of the same rows written by hand)"
    if at_once_rate is not None:
        goal(f"offline taps booked >= 30000/s ({kind}, {uploaders} terminals uploading at once, {over})",
             f"{at_once_rate:.0f}/s", at_once_rate >= 30_000)  # fmt: skip
    goal(f"offline taps booked >= 30000/s ({kind}, one connection)", tap_figure, tap_rate >= 30_000)
    goal("clearing 15 million taps within 2 hours (extrapolated)", f"{day_estimate / 60:.1f} min", day_estimate < 7200)


def _at_once(work: Callable[[str, int, int, str], None], path: str, payers: int, count: int, tag: str) -> float:
    """`work(path, payer, count, tag)` in `payers` forked processes started together (each opens its own database
    connection); the seconds from the first start to the last end."""
    from django.db import connections

    connections.close_all()  # the children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(payers), context.Queue()

    def payer(number: int) -> None:
        barrier.wait()
        began = time.time()
        work(path, number, count, tag)
        results.put((began, time.time()))
        connections.close_all()

    processes = [context.Process(target=payer, args=(n,)) for n in range(payers)]
    for process in processes:
        process.start()
    spans = [results.get() for _ in processes]
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a payer process failed (exit {process.exitcode})")
    return float(max(end for _, end in spans) - min(began for began, _ in spans))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--payments", type=int, default=3000)
    parser.add_argument("--taps", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--payers", type=int, default=4, help="payers at once for the second rate (PostgreSQL)")
    parser.add_argument(
        "--uploaders", type=int, default=2, help="terminals uploading tap batches at once (PostgreSQL; 1: none)"
    )
    parser.add_argument(
        "--shared-cards",
        action="store_true",
        help="terminals uploading at once tap the same cards (the worst case for locks; default: cards of their own)",
    )
    args = parse_arguments(parser, payments=20, taps=300, batch=100, payers=2, uploaders=2)
    _run(args.database, args.payments, args.taps, args.batch, args.payers, args.uploaders, args.shared_cards)


if __name__ == "__main__":
    main()
