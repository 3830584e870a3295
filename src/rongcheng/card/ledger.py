"""The ledger engine: book a list of transfers all-or-nothing (ADR 0012).

`book(specs)` validates every spec, locks every account named by any of them in ascending id order
(`SELECT … FOR UPDATE ORDER BY id`, so two bookings never wait on each other in a cycle), reads the keys already
used, applies the specs in order to the locked balances, and writes the transfers, their entries and the new
balances in three statements. If any spec is refused nothing is written: the specs of one call are a linked group.

A key already used by a transfer with the same contents returns that transfer (a retry); with other contents it is
refused (`TransferKeyReused`). Keys are checked after the locks are taken, so two retries of one transfer are
serialised by the locks of its accounts and the second sees the first.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from rongcheng.card.errors import (
    BalanceLimitExceeded,
    LedgerAccountNotFound,
    LedgerInputInvalid,
    PendingNotOpen,
    ReversalExceedsOriginal,
    TransferKeyReused,
    TransferNotFound,
)
from rongcheng.card.models import Entry, LedgerAccount, Phase, Transfer, TransferKind

MAX_AMOUNT = 10**12  # fen: ten thousand million yuan, far above any card movement, far below 2**53
KEY_MAX = 100


def amount_check(value: object, *, field_name: str = "amount") -> int:
    """A positive whole number of fen; floats (even 2.0), strings, booleans and Decimals are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LedgerInputInvalid(
            "The amount must be a whole number of fen.",
            errors=[{"loc": [field_name], "rule": "amount.integer", "msg": "a whole number of fen"}],
        )
    if not 0 < value <= MAX_AMOUNT:
        raise LedgerInputInvalid(
            f"The amount must be between 1 and {MAX_AMOUNT} fen.",
            errors=[{"loc": [field_name], "rule": "amount.range", "msg": f"1 to {MAX_AMOUNT} fen"}],
        )
    return value


def key_check(key: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= KEY_MAX or not key.isprintable() or key.strip() != key:
        raise LedgerInputInvalid(
            f"A client key is 1 to {KEY_MAX} printable characters.",
            errors=[{"loc": ["key"], "rule": "key.format", "msg": f"1 to {KEY_MAX} printable characters"}],
        )
    return key


@dataclass(frozen=True)
class TransferSpec:
    """One transfer to book. `phase` single moves money now; pending reserves it until `timeout_seconds`; post and
    void resolve `pending_id` (post may take less than was reserved). `reverses_id` makes a reversal (refund) of a
    posted transfer, never for more than is left of it. `overdraft` books even below the debit's lower limit
    (taps already made offline: the money is owed and recovered later)."""

    debit_id: int
    credit_id: int
    amount: int
    kind: str
    key: str = ""
    phase: str = Phase.SINGLE
    pending_id: int | None = None
    reverses_id: int | None = None
    timeout_seconds: int = 0
    overdraft: bool = False
    business_at: dt.datetime | None = None
    memo: str = ""
    batch_id: int | None = None  # an offline tap's batch: the transfer is the tap (ADR 0012)


@dataclass
class _State:
    accounts: dict[int, LedgerAccount]
    reversed_so_far: dict[int, int] = field(default_factory=dict)
    resolved: set[int] = field(default_factory=set)


_KINDS = frozenset(TransferKind.values)  # `.values` builds a new list at every call, on the path of every payment
_PHASES = frozenset(Phase.values)


def _validate(spec: TransferSpec) -> None:
    amount_check(spec.amount)
    if spec.debit_id == spec.credit_id:
        raise LedgerInputInvalid(
            "A transfer needs two different accounts.",
            errors=[{"loc": ["credit"], "rule": "accounts.distinct", "msg": "debit and credit differ"}],
        )
    if spec.kind not in _KINDS:
        raise LedgerInputInvalid(f"Unknown transfer kind {spec.kind!r}.")
    if spec.phase not in _PHASES:
        raise LedgerInputInvalid(f"Unknown phase {spec.phase!r}.")
    if (spec.phase in (Phase.POST, Phase.VOID)) != (spec.pending_id is not None):
        raise LedgerInputInvalid("Posting or voiding names its pending transfer, and only they do.")
    if spec.phase == Phase.PENDING and not 0 < spec.timeout_seconds <= 30 * 86400:
        raise LedgerInputInvalid("A pending transfer times out after 1 second to 30 days.")
    if spec.key:
        key_check(spec.key)
    if len(spec.memo) > 120:
        raise LedgerInputInvalid("A memo is at most 120 characters.")


def lock_accounts(ids: Iterable[int]) -> dict[int, LedgerAccount]:
    """Lock the accounts in ascending id order; every writer of the ledger locks through here."""
    wanted = sorted(set(ids))
    accounts = {a.id: a for a in LedgerAccount.objects.select_for_update().filter(id__in=wanted).order_by("id")}
    missing = [i for i in wanted if i not in accounts]
    if missing:
        raise LedgerAccountNotFound(f"No ledger account with id {missing[0]}.")
    return accounts


def _same(transfer: Transfer, spec: TransferSpec) -> bool:
    return (
        transfer.debit_id == spec.debit_id
        and transfer.credit_id == spec.credit_id
        and transfer.amount == spec.amount
        and transfer.kind == spec.kind
        and transfer.phase == spec.phase
        and transfer.pending_id == spec.pending_id
        and transfer.reverses_id == spec.reverses_id
        and transfer.batch_id == spec.batch_id
    )


def _debit_room(account: LedgerAccount) -> int | None:
    if account.lower_limit is None:
        return None
    return account.balance - account.pending_debits - account.lower_limit


def _check_debit(account: LedgerAccount, amount: int, spec: TransferSpec) -> None:
    room = _debit_room(account)
    if room is not None and amount > room and not spec.overdraft:
        raise BalanceLimitExceeded(
            f"The account {account.code} has {max(room, 0)} fen available; {amount} fen were asked.",
            account=account.code, available=max(room, 0), amount=amount,
        )  # fmt: skip


def _check_credit(account: LedgerAccount, amount: int) -> None:
    if account.upper_limit is not None and account.balance + account.pending_credits + amount > account.upper_limit:
        raise BalanceLimitExceeded(
            f"The account {account.code} may hold at most {account.upper_limit} fen.",
            account=account.code, upper_limit=account.upper_limit, amount=amount,
        )  # fmt: skip


def book(specs: Sequence[TransferSpec], *, now: dt.datetime | None = None) -> list[Transfer]:
    """Book `specs` all-or-nothing and return their transfers in order (the earlier ones if this is a retry)."""
    if not specs:
        raise LedgerInputInvalid("Nothing to book.")
    for spec in specs:
        _validate(spec)
    keys = [spec.key or uuid.uuid4().hex for spec in specs]
    if len(set(keys)) != len(keys):
        raise LedgerInputInvalid("Each transfer of a group needs its own key.")
    try:
        if _one_round_trip(specs):
            if connection.in_atomic_block:  # a savepoint, so that a caller who catches a refusal may go on
                with transaction.atomic():
                    return _book_function(specs, keys, now)
            return _book_function(specs, keys, now)  # one statement: its own transaction
        with transaction.atomic():
            return _book_locked(specs, keys, now)
    except IntegrityError as exc:
        # Two different requests raced with one key on different accounts: the loser sees the winner now.
        existing = Transfer.objects.filter(key__in=keys).first()
        if existing is not None:
            raise TransferKeyReused(f"The key {existing.key} names another transfer.", key=existing.key) from exc
        raise


FUNCTION_GROUP_MAX = 8  # larger groups (tap batches) book faster in the set-wise Python path


def _one_round_trip(specs: Sequence[TransferSpec]) -> bool:
    return (
        connection.vendor == "postgresql"
        and len(specs) <= FUNCTION_GROUP_MAX
        and all(s.phase == Phase.SINGLE and s.reverses_id is None and s.batch_id is None for s in specs)
    )


def _book_function(specs: Sequence[TransferSpec], keys: list[str], now: dt.datetime | None) -> list[Transfer]:
    """Immediate transfers on PostgreSQL: one call of `card_book` (migration 0004), which does what `_book_locked`
    does, in the database; its refusals come back as the same domain errors."""
    moment = timezone.now()
    business_default = now or moment
    group = uuid.uuid4().hex if len(specs) > 1 else ""
    business = [s.business_at or business_default for s in specs]
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ids, replay, overdrafts FROM card_book(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], "
                "%s::text[], %s::timestamptz[], %s::text[], %s::boolean[], %s, %s)",
                [
                    pg_ints(s.debit_id for s in specs), pg_ints(s.credit_id for s in specs),
                    pg_ints(s.amount for s in specs), pg_texts(str(s.kind) for s in specs), pg_texts(keys),
                    pg_times(business), pg_texts(s.memo for s in specs), pg_bools(s.overdraft for s in specs),
                    group, moment,
                ],
            )  # fmt: skip
            ids, replay, overdrafts = cursor.fetchone()
    except DatabaseError as exc:
        function_refusal(exc)
        raise
    if replay:
        found = Transfer.objects.in_bulk(ids)
        return [found[i] for i in ids]
    transfers = []
    for spec, key, new_id, over, at in zip(specs, keys, ids, overdrafts, business, strict=True):
        transfer = Transfer(
            id=new_id, key=key, kind=spec.kind, phase=Phase.SINGLE, amount=spec.amount, debit_id=spec.debit_id,
            credit_id=spec.credit_id, linked_group=group, overdraft=over, memo=spec.memo, created_at=moment,
            business_at=at,
        )  # fmt: skip
        transfer._state.adding = False
        transfer._state.db = connection.alias
        transfers.append(transfer)
    return transfers


def pg_ints(values: Iterable[int]) -> str:
    """An array literal of whole numbers, for `%s::bigint[]`. One string parameter instead of a list: the driver
    adapts a list element by element in Python (quoting each on the client), which cost a tap batch of 2,000 more
    than the database spent booking it; `str.join` over ints costs a fraction of that."""
    return "{" + ",".join(map(str, values)) + "}"


def pg_bools(values: Iterable[bool]) -> str:
    return "{" + ",".join("t" if v else "f" for v in values) + "}"


def pg_times(values: Iterable[dt.datetime | str]) -> str:
    """Aware datetimes in ISO 8601 (no character an array literal would need quoted), for `%s::timestamptz[]`. A
    text is one already in the form `datetime.isoformat` gives (a tap's time as its terminal sent it, checked by the
    caller), taken as it is."""
    return "{" + ",".join(v if isinstance(v, str) else v.isoformat() for v in values) + "}"


def pg_texts(values: Iterable[str]) -> str:
    """Every element double-quoted, backslash and double quote escaped, for `%s::text[]`. When no element holds
    either character (a tap batch's keys never do), the elements are joined as they are, in one `str.join`."""
    values = list(values)
    plain = "".join(values)  # (the quoted join itself holds '"' between elements: look at the elements alone)
    if '"' not in plain and "\\" not in plain:
        return '{"' + '","'.join(values) + '"}' if values else "{}"
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


_TO_ONE_LOCK = (
    f"SELECT id, code, balance, pending_credits, lower_limit, upper_limit, currency "  # noqa: S608
    f"FROM {LedgerAccount._meta.db_table} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE"
)
_TO_ONE_WRITE = f"""
WITH u AS MATERIALIZED (  -- the transfers' ids drawn here, in order, so that nothing below joins back by key
    SELECT u.*, nextval(%(sequence)s::regclass) AS tid
      FROM unnest(%(keys)s::text[], %(amounts)s::bigint[], %(debits)s::bigint[], %(overs)s::boolean[],
                  %(business)s::timestamptz[], %(before)s::bigint[], %(credit_before)s::bigint[])
           WITH ORDINALITY AS u(k, a, d, o, b, db, cb, pos)
), at AS (  -- an account's entries are never dated before its last one (ADR 0012), read before the update below
    SELECT id, greatest(%(moment)s::timestamptz, posted_until) AS at
      FROM {LedgerAccount._meta.db_table} WHERE id = ANY(%(account_ids)s::bigint[])
), t AS (
    INSERT INTO {Transfer._meta.db_table} (id, key, kind, phase, amount, debit_id, credit_id, pending_id,
                                           reverses_id, linked_group, timeout_at, overdraft, memo, created_at,
                                           business_at, batch_id)
    SELECT tid, k, %(kind)s, 'single', a, d, %(credit)s, NULL, NULL, %(group)s, NULL, o, '', %(moment)s, b,
           %(batch)s::bigint
      FROM u ORDER BY pos
), e AS (
    INSERT INTO {Entry._meta.db_table} (transfer_id, account_id, amount, balance_before, balance_after, at)
    SELECT u.tid, x.account, x.amount, x.before, x.before + x.amount, at.at
      FROM u CROSS JOIN LATERAL (VALUES (u.d, -u.a, u.db, 0), (%(credit)s, u.a, u.cb, 1))
           AS x(account, amount, before, side)
      JOIN at ON at.id = x.account
     ORDER BY u.pos, x.side
), b AS (
    UPDATE {LedgerAccount._meta.db_table} AS acc SET balance = n.balance, posted_until = at.at
      FROM unnest(%(account_ids)s::bigint[], %(balances)s::bigint[]) AS n(id, balance) JOIN at ON at.id = n.id
     WHERE acc.id = n.id
)
SELECT tid FROM u ORDER BY pos
"""  # noqa: S608 (the models' own tables; every value a parameter)


_SEQUENCE: dict[str, str] = {}


def _transfer_sequence(cursor: Any) -> str:
    """The sequence of the transfers' identity column (looked up once per process): `book_to_one` draws a batch's
    ids from it in tap order before inserting, as the column's default would, so that the entries and the caller
    have them without joining the inserted rows back by key."""
    name = _SEQUENCE.get(connection.alias)
    if name is None:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Transfer._meta.db_table])
        name = _SEQUENCE[connection.alias] = cursor.fetchone()[0]
    return name


def book_to_one(
    *,
    debits: Sequence[int],
    credit_id: int,
    amounts: Sequence[int],
    keys: Sequence[str],
    business: Sequence[dt.datetime | str],
    kind: str,
    batch_id: int | None = None,
) -> list[int]:
    """PostgreSQL, set-based: transfer `amounts[i]` from `debits[i]` to `credit_id` for every i, in order, all or
    nothing, each booked even below its debit's lower limit (offline taps: the money was spent; `overdraft` records
    it); returns the transfers' ids in order. The keys must be new (a key already used fails the whole booking with
    IntegrityError: the caller has already set aside what was booked before).

    Two statements whatever the number of transfers: (1) every account named, locked in ascending id order as
    `lock_accounts` does, with its balance, limits and currency; (2) the transfers, their entries (balance before
    and after, replayed in order in Python from the locked balances) and each account's new balance, once per
    account, as one statement of arrays; the transfers' ids are drawn from their sequence in order at its start, so
    the entries and the ids returned take them by position (no join back by key). The checks are those of `_apply`
    for an overdraft transfer: one currency, the credit's upper limit (against the batch's total, since credits only
    raise it). `batch_id` names the batch of offline taps the transfers are (ADR 0012, "Taps folded into their
    transfers"). A business time is an aware datetime or its ISO 8601 text as `pg_times` takes it."""
    if connection.vendor != "postgresql":
        raise LedgerInputInvalid("Set-based booking needs PostgreSQL; book() the specs elsewhere.")
    if not amounts or not len(debits) == len(amounts) == len(keys) == len(business):
        raise LedgerInputInvalid("One debit, amount, key and business time per transfer.")
    if kind not in TransferKind.values:
        raise LedgerInputInvalid(f"Unknown transfer kind {kind!r}.")
    if not all(type(amount) is int and 0 < amount <= MAX_AMOUNT for amount in amounts):
        for amount in amounts:  # the same refusal as elsewhere, for the first amount that is not one
            amount_check(amount)
    if len(set(keys)) != len(keys):
        raise LedgerInputInvalid("Each transfer of a group needs its own key.")
    for key in keys:
        key_check(key)
    # what does not depend on the balances is built before the accounts are locked (a hot credit account, the
    # operator's payable in a tap batch, is held for the rest only)
    literals: dict[str, Any] = {
        "keys": pg_texts(keys), "amounts": pg_ints(amounts), "debits": pg_ints(debits),
        "business": pg_times(business), "kind": kind, "credit": credit_id,
        "group": uuid.uuid4().hex if len(keys) > 1 else "", "batch": batch_id,
    }  # fmt: skip
    wanted = sorted({*debits, credit_id})
    wanted_literal = pg_ints(wanted)
    moment = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_TO_ONE_LOCK, [wanted_literal])
        rows = {row[0]: row for row in cursor.fetchall()}
        missing = [i for i in wanted if i not in rows]
        if missing:
            raise LedgerAccountNotFound(f"No ledger account with id {missing[0]}.")
        credit = rows[credit_id]
        if any(row[6] != credit[6] for row in rows.values()):
            raise LedgerInputInvalid("Both accounts of a transfer hold the same currency.")
        if credit_id in set(debits):
            raise LedgerInputInvalid("A transfer moves between two accounts.")
        total = sum(amounts)
        if credit[5] is not None and credit[2] + credit[3] + total > credit[5]:
            raise BalanceLimitExceeded(
                f"The account {credit[1]} may hold at most {credit[5]} fen.",
                account=credit[1], upper_limit=credit[5], amount=total,
            )  # fmt: skip
        balances = {account_id: row[2] for account_id, row in rows.items()}
        lower = {account_id: row[4] for account_id, row in rows.items()}
        before: list[int] = []
        overs: list[bool] = []
        credit_before: list[int] = []
        running = balances[credit_id]
        for debit_id, amount in zip(debits, amounts, strict=True):
            balance = balances[debit_id]
            before.append(balance)
            balance -= amount
            balances[debit_id] = balance
            limit = lower[debit_id]
            overs.append(limit is not None and balance < limit)
            credit_before.append(running)
            running += amount
        balances[credit_id] = running
        cursor.execute(
            _TO_ONE_WRITE,
            {
                **literals, "overs": pg_bools(overs), "before": pg_ints(before),
                "credit_before": pg_ints(credit_before), "moment": moment, "account_ids": wanted_literal,
                "balances": pg_ints(balances[i] for i in wanted), "sequence": _transfer_sequence(cursor),
            },
        )  # fmt: skip
        return [row[0] for row in cursor.fetchall()]


def function_refusal(exc: DatabaseError) -> None:
    """Raise the domain error a refusal of `card_book` stands for (SQLSTATE class RC); other errors pass."""
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None)
    if not isinstance(state, str) or not state.startswith("RC"):
        return
    detail = json.loads(getattr(getattr(cause, "diag", None), "message_detail", None) or "{}")
    if state == "RC404":
        raise LedgerAccountNotFound(f"No ledger account with id {detail.get('id')}.") from None
    if state == "RC409":
        key = str(detail.get("key"))
        raise TransferKeyReused(f"The key {key} already names a transfer with other contents.", key=key) from None
    if state == "RC422":
        raise LedgerInputInvalid("Both accounts of a transfer hold the same currency.") from None
    if state == "RCLOW":
        raise BalanceLimitExceeded(
            f"The account {detail['account']} has {detail['available']} fen available; {detail['amount']} fen were "
            "asked.", account=detail["account"], available=detail["available"], amount=detail["amount"],
        ) from None  # fmt: skip
    if state == "RCUPP":
        raise BalanceLimitExceeded(
            f"The account {detail['account']} may hold at most {detail['upper_limit']} fen.",
            account=detail["account"], upper_limit=detail["upper_limit"], amount=detail["amount"],
        ) from None  # fmt: skip


def _book_locked(specs: Sequence[TransferSpec], keys: list[str], now: dt.datetime | None) -> list[Transfer]:
    pendings: dict[int, Transfer] = {}
    pending_ids = {s.pending_id for s in specs if s.pending_id is not None}
    if pending_ids:
        pendings = {t.id: t for t in Transfer.objects.filter(id__in=pending_ids, phase=Phase.PENDING)}
        if len(pendings) != len(pending_ids):
            raise TransferNotFound("No pending transfer with that id.")
    originals: dict[int, Transfer] = {}
    reverse_ids = {s.reverses_id for s in specs if s.reverses_id is not None}
    if reverse_ids:
        originals = {t.id: t for t in Transfer.objects.filter(id__in=reverse_ids, phase__in=(Phase.SINGLE, Phase.POST))}
        if len(originals) != len(reverse_ids):
            raise TransferNotFound("No posted transfer with that id to reverse.")
    for spec in specs:
        pending = pendings.get(spec.pending_id) if spec.pending_id is not None else None
        if pending is not None and (pending.debit_id, pending.credit_id) != (spec.debit_id, spec.credit_id):
            raise LedgerInputInvalid("A post or void moves between the pending transfer's accounts.")
        original = originals.get(spec.reverses_id) if spec.reverses_id is not None else None
        if original is not None and (original.debit_id, original.credit_id) != (spec.credit_id, spec.debit_id):
            raise LedgerInputInvalid("A reversal moves back between the original's accounts.")
    state = _State(lock_accounts(i for s in specs for i in (s.debit_id, s.credit_id)))
    existing = {t.key: t for t in Transfer.objects.filter(key__in=keys)}
    if existing:
        if len(existing) == len(keys) and all(_same(existing[k], s) for k, s in zip(keys, specs, strict=True)):
            return [existing[k] for k in keys]
        reused = next(iter(existing))
        raise TransferKeyReused(f"The key {reused} already names a transfer with other contents.", key=reused)
    moment = timezone.now()
    business_default = now or moment
    group = uuid.uuid4().hex if len(specs) > 1 else ""
    transfers: list[Transfer] = []
    moves: list[tuple[int, int, int]] = []  # (transfer position, account id, signed amount)
    for position, (spec, key) in enumerate(zip(specs, keys, strict=True)):
        transfer = _apply(spec, key, state, pendings, originals, moment, business_default, group)
        transfers.append(transfer)
        if spec.phase in (Phase.SINGLE, Phase.POST):
            moves.append((position, spec.debit_id, -spec.amount))
            moves.append((position, spec.credit_id, spec.amount))
    _transfers_insert(transfers)
    moved: dict[int, int] = defaultdict(int)
    for _position, account_id, signed in moves:
        moved[account_id] += signed
    # the balances before this booking, replayed move by move for the entries
    running = {account_id: account.balance - moved[account_id] for account_id, account in state.accounts.items()}
    entries = []
    for position, account_id, signed in moves:
        before = running[account_id]
        running[account_id] = before + signed
        at = state.accounts[account_id].posted_until or moment
        entries.append((transfers[position].id, account_id, signed, before, before + signed, at))
    _entries_insert(entries)
    _accounts_save(state.accounts.values())
    return transfers


_TRANSFER_COLUMNS = (
    "key", "kind", "phase", "amount", "debit_id", "credit_id", "pending_id", "reverses_id", "linked_group",
    "timeout_at", "overdraft", "memo", "created_at", "business_at", "batch_id",
)  # fmt: skip
_CHUNK = 500


def _transfers_insert(transfers: list[Transfer]) -> None:
    """One INSERT … RETURNING id per 500 transfers, in order (as Django's bulk_create relies on), without the ORM's
    per-field compilation, which costs more than the database's work for a booking of one or two transfers."""
    adapt = connection.ops.adapt_datetimefield_value
    table = Transfer._meta.db_table
    row_sql = "(" + ", ".join(["%s"] * len(_TRANSFER_COLUMNS)) + ")"
    if connection.vendor == "postgresql" and len(transfers) > 1:
        _transfers_insert_unnest(transfers)
        return
    with connection.cursor() as cursor:
        for start in range(0, len(transfers), _CHUNK):
            chunk = transfers[start : start + _CHUNK]
            params: list[Any] = []
            for t in chunk:
                params.extend((
                    t.key, t.kind, t.phase, t.amount, t.debit_id, t.credit_id, t.pending_id, t.reverses_id,
                    t.linked_group, adapt(t.timeout_at), t.overdraft, t.memo, adapt(t.created_at), adapt(t.business_at),
                    t.batch_id,
                ))  # fmt: skip
            cursor.execute(
                # S608: the table and columns are the model's own, every value a placeholder
                f"INSERT INTO {table} ({', '.join(_TRANSFER_COLUMNS)}) VALUES {', '.join([row_sql] * len(chunk))} "  # noqa: S608
                "RETURNING id",
                params,
            )
            for transfer, (new_id,) in zip(chunk, cursor.fetchall(), strict=True):
                transfer.id = new_id
                transfer._state.adding = False
                transfer._state.db = connection.alias


_TRANSFER_TYPES = (
    "text", "text", "text", "bigint", "bigint", "bigint", "bigint", "bigint", "text", "timestamptz", "boolean", "text",
    "timestamptz", "timestamptz", "bigint",
)  # fmt: skip


def _transfers_insert_unnest(transfers: list[Transfer]) -> None:
    """PostgreSQL: one INSERT … SELECT FROM unnest(arrays) RETURNING id (ids in the arrays' order, as Django's own
    bulk_create relies on). Fourteen parameters whatever the batch size: a VALUES list of 7,000 placeholders cost
    more to build and split in the driver than the database spent inserting (half of a tap batch's time)."""
    table = Transfer._meta.db_table
    columns: list[list[Any]] = [[] for _ in _TRANSFER_COLUMNS]
    for t in transfers:
        values = (
            t.key, t.kind, t.phase, t.amount, t.debit_id, t.credit_id, t.pending_id, t.reverses_id, t.linked_group,
            t.timeout_at, t.overdraft, t.memo, t.created_at, t.business_at, t.batch_id,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    arrays = ", ".join(f"%s::{kind}[]" for kind in _TRANSFER_TYPES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(_TRANSFER_COLUMNS)}) SELECT * FROM unnest({arrays}) RETURNING id",  # noqa: S608
            columns,
        )
        for transfer, (new_id,) in zip(transfers, cursor.fetchall(), strict=True):
            transfer.id = new_id
            transfer._state.adding = False
            transfer._state.db = connection.alias


def _entries_insert(entries: list[tuple[int, int, int, int, int, dt.datetime]]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    table = Entry._meta.db_table
    if connection.vendor == "postgresql" and len(entries) > 2:
        columns = [list(column) for column in zip(*entries, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (transfer_id, account_id, amount, balance_before, balance_after, at) "  # noqa: S608
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::timestamptz[])",
                columns,
            )
        return
    row_sql = "(%s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(entries), _CHUNK):
            chunk = entries[start : start + _CHUNK]
            params: list[Any] = []
            for transfer_id, account_id, amount, before, after, at in chunk:
                params.extend((transfer_id, account_id, amount, before, after, adapt(at)))
            cursor.execute(
                f"INSERT INTO {table} (transfer_id, account_id, amount, balance_before, balance_after, at) "  # noqa: S608
                f"VALUES {', '.join([row_sql] * len(chunk))}",
                params,
            )


_ACCOUNT_UPDATE = (
    f"UPDATE {LedgerAccount._meta.db_table} SET balance = %s, pending_debits = %s, pending_credits = %s, "  # noqa: S608
    "posted_until = %s WHERE id = %s"
)


def _accounts_save(accounts: Iterable[LedgerAccount]) -> None:
    """The new balances of the locked accounts, one prepared statement for all (Django's bulk_update builds a CASE
    per column, which costs more than the rest of a booking)."""
    adapt = connection.ops.adapt_datetimefield_value
    rows = [(a.balance, a.pending_debits, a.pending_credits, adapt(a.posted_until), a.id) for a in accounts]
    with connection.cursor() as cursor:
        if len(rows) == 1:
            cursor.execute(_ACCOUNT_UPDATE, rows[0])
        else:
            cursor.executemany(_ACCOUNT_UPDATE, rows)


def _apply(
    spec: TransferSpec,
    key: str,
    state: _State,
    pendings: dict[int, Transfer],
    originals: dict[int, Transfer],
    moment: dt.datetime,
    business_default: dt.datetime,
    group: str,
) -> Transfer:
    debit, credit = state.accounts[spec.debit_id], state.accounts[spec.credit_id]
    if debit.currency != credit.currency:
        raise LedgerInputInvalid("Both accounts of a transfer hold the same currency.")
    timeout_at = None
    if spec.phase == Phase.PENDING:
        _check_debit(debit, spec.amount, spec)
        _check_credit(credit, spec.amount)
        debit.pending_debits += spec.amount
        credit.pending_credits += spec.amount
        timeout_at = moment + dt.timedelta(seconds=spec.timeout_seconds)
    elif spec.phase in (Phase.POST, Phase.VOID):
        pending = pendings[spec.pending_id]  # type: ignore[index]
        if pending.id in state.resolved or Transfer.objects.filter(pending_id=pending.id).exists():
            raise PendingNotOpen(f"The pending transfer {pending.key} was already posted or voided.")
        if spec.phase == Phase.POST and pending.timeout_at is not None and pending.timeout_at <= moment:
            raise PendingNotOpen(f"The pending transfer {pending.key} timed out; it will be voided.")
        if spec.amount > pending.amount or (spec.phase == Phase.VOID and spec.amount != pending.amount):
            raise LedgerInputInvalid("A post takes at most the pending amount; a void releases all of it.")
        state.resolved.add(pending.id)
        debit.pending_debits -= pending.amount
        credit.pending_credits -= pending.amount
        if spec.phase == Phase.POST:
            debit.balance -= spec.amount
            credit.balance += spec.amount
    else:
        if spec.reverses_id is not None:
            original = originals[spec.reverses_id]
            done = state.reversed_so_far.get(original.id)
            if done is None:
                done = Transfer.objects.filter(reverses_id=original.id).aggregate(s=Sum("amount"))["s"] or 0
            if done + spec.amount > original.amount:
                raise ReversalExceedsOriginal(
                    f"Only {original.amount - done} fen of the original {original.amount} fen are left to refund.",
                    left=original.amount - done,
                )  # fmt: skip
            state.reversed_so_far[original.id] = done + spec.amount
        _check_debit(debit, spec.amount, spec)
        _check_credit(credit, spec.amount)
        debit.balance -= spec.amount
        credit.balance += spec.amount
    if spec.phase in (Phase.SINGLE, Phase.POST):
        for account in (debit, credit):
            account.posted_until = max(moment, account.posted_until) if account.posted_until else moment
    overdraft = spec.overdraft and debit.lower_limit is not None and debit.balance < debit.lower_limit
    return Transfer(
        key=key, kind=spec.kind, phase=spec.phase, amount=spec.amount, debit=debit,
        credit=credit, pending_id=spec.pending_id, reverses_id=spec.reverses_id, linked_group=group,
        timeout_at=timeout_at, overdraft=overdraft, memo=spec.memo, created_at=moment,
        business_at=spec.business_at or business_default, batch_id=spec.batch_id,
    )  # fmt: skip


def account_open(
    *, code: str, kind: str, name: str = "", lower_limit: int | None = None, upper_limit: int | None = None
) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        code=code,
        defaults={
            "kind": kind, "name": name, "lower_limit": lower_limit, "upper_limit": upper_limit,
            "created_at": timezone.now(),
        },
    )  # fmt: skip
    return account


def pending_expire(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Void the pending transfers whose timeout has passed; returns how many (the clean-up job runs this)."""
    moment = now or timezone.now()
    due = list(
        Transfer.objects.filter(phase=Phase.PENDING, timeout_at__lte=moment, resolutions__isnull=True).order_by("id")[
            :limit
        ]
    )
    voided = 0
    for pending in due:
        try:
            book(
                [
                    TransferSpec(
                        debit_id=pending.debit_id, credit_id=pending.credit_id, amount=pending.amount,
                        kind=pending.kind, key=f"expire:{pending.id}", phase=Phase.VOID, pending_id=pending.id,
                        memo="timeout",
                    )
                ]
            )  # fmt: skip
            voided += 1
        except PendingNotOpen:
            continue
    return voided


def balance_as_of(account_id: int, moment: dt.datetime) -> int:
    """The posted balance at `moment`: one indexed query for the latest entry at or before it."""
    row = (
        Entry.objects.filter(account_id=account_id, at__lte=moment)
        .order_by("-at", "-id")
        .values_list("balance_after", flat=True)
        .first()
    )
    return int(row or 0)
