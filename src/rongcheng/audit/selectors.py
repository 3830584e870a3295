"""Reading the audit trail: the staff search, the chain walk and its verification.

The chain primitives live here because verification is a read; the sealer in `services` uses the same ones, so a
record is hashed identically when it is sealed and when it is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from rongcheng.audit.models import AuditAnchor, AuditChainLink, AuditPending, AuditRecord
from rongcheng.kernel.crypto import constant_time_equal, hmac_sm3, sm3_digest
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.pagination import Page, decode_cursor, encode_cursor

# The values the chain MACs, in the order `chain_rows` and the sealer read them. A field is added at the end, and
# hashed only when it holds a value (see `record_canonical_dict`), so records written before it still verify.
RECORD_FIELDS: tuple[str, ...] = (
    "id",
    "occurred_at",
    "actor_kind",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "source_address",
    "purpose",
    "detail",
    "request_id",
)
# The key of a record's detail that lists the targets of a page read at once (`audit_record_page`): integer keys as
# text, ascending. The record names no single target, the chain seals the list with the rest of the detail, and on
# PostgreSQL a GiST index over the list's span, first to last (migration 0005, partial on records that have the key),
# finds the records that may list a target, the list itself tested on those (`target_condition`).
TARGETS = "targets"
# The largest target a page's list may hold (PostgreSQL's bigint): a search for a longer number finds no page record.
_TARGET_DIGITS = re.compile(r"[0-9]{1,18}")
GENESIS_MAC = sm3_digest(b"rongcheng.audit.chain.v1.genesis")
VERIFY_CHUNK = 2000
SEARCH_MAX_LIMIT = 200


def chain_key() -> bytes:
    """Read on each use so a test or a key rotation tool can change it without restarting."""
    key = settings.AUDIT_CHAIN_KEY
    return key.encode() if isinstance(key, str) else bytes(key)


def _utc_text(value: dt.datetime) -> str:
    utc = value.astimezone(dt.UTC)
    if utc.year >= 1000:  # isoformat writes what this strftime writes, in less time; strftime's %Y pads no year below
        return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_canonical_dict(values: Sequence[Any]) -> dict[str, Any]:
    """A record as JSON-ready values, the same whichever database it was read from (UTC time, text address).

    An empty request id is left out: a record written before the trail kept request ids (or outside any request) then
    hashes exactly as it did when it was sealed, while a record that has one is sealed with it, so changing, adding
    or removing a request id breaks the chain like any other change.
    """
    fields = dict(zip(RECORD_FIELDS, values, strict=True))
    fields["occurred_at"] = _utc_text(fields["occurred_at"])
    if fields["source_address"] is not None:
        fields["source_address"] = str(fields["source_address"])
    if not fields["request_id"]:
        del fields["request_id"]
    return fields


def record_canonical_bytes(values: Sequence[Any]) -> bytes:
    """The bytes the chain MACs: key order and JSON spacing fixed, so an export line can be re-checked offline.

    `values` follow RECORD_FIELDS, as read back from the database, never as passed by the caller: the database may
    normalise (jsonb reorders keys, inet compresses IPv6), and sealing and verifying must hash the same thing.
    """
    document = record_canonical_dict(values)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()


def chain_mac(key: bytes, previous_mac: bytes, sequence: int, values: Sequence[Any]) -> bytes:
    return hmac_sm3(key, previous_mac + sequence.to_bytes(8, "big") + record_canonical_bytes(values))


def detail_canonical(detail: Any) -> str:
    """A record's detail as `record_canonical_bytes` writes it inside the record (key order and spacing fixed)."""
    return json.dumps(detail, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


# The fields in the order json.dumps(sort_keys=True) writes them, each with its key as written before its value.
_DETAIL, _OCCURRED_AT, _SOURCE_ADDRESS, _REQUEST_ID = (
    RECORD_FIELDS.index(name) for name in ("detail", "occurred_at", "source_address", "request_id")
)
_SORTED_FIELDS = tuple(
    (index, json.dumps(name) + ":") for index, name in sorted(enumerate(RECORD_FIELDS), key=lambda field: field[1])
)
_encode_text = json.encoder.encode_basestring  # what json.dumps uses for a string when ensure_ascii=False


def record_canonical_text(values: Sequence[Any], detail_text: str) -> str:
    """`record_canonical_bytes(values)` decoded, written field by field, with the detail given as its canonical text
    (`detail_canonical`): the sealer writes a page of records that share one detail, and canonicalises it once;
    the time may be given as its UTC text already (`_utc_text`'s form).
    Strings, integers and nulls are written as json.dumps writes them; any other value by json.dumps itself.
    audit/tests/test_selectors.py checks it against `record_canonical_bytes` value for value."""
    parts = ["{"]
    for index, key in _SORTED_FIELDS:
        value = values[index]
        if index == _DETAIL:
            text = detail_text
        elif index == _OCCURRED_AT:  # a time, or its UTC text as `_utc_text` writes it (PostgreSQL's to_char)
            text = '"' + (value if type(value) is str else _utc_text(value)) + '"'
        elif index == _REQUEST_ID and not value:
            continue
        elif value is None:
            text = "null"
        elif index == _SOURCE_ADDRESS or type(value) is str:
            text = _encode_text(str(value))
        elif type(value) is int:
            text = int.__repr__(value)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
        parts.append(key)
        parts.append(text)
        parts.append(",")
    parts[-1] = "}"
    return "".join(parts)


def anchor_mac(key: bytes, *, sequence: int, mac: bytes, purged_count: int, export_digest: str) -> bytes:
    body = b"anchor" + sequence.to_bytes(8, "big") + mac + purged_count.to_bytes(8, "big") + export_digest.encode()
    return hmac_sm3(key, body)


@dataclass(frozen=True)
class ChainHead:
    sequence: int
    mac: bytes


def chain_start() -> tuple[ChainHead, AuditAnchor | None]:
    """Where the chain begins: after the latest purge anchor, else at the genesis value."""
    anchor = AuditAnchor.objects.order_by("-sequence").first()
    if anchor is None:
        return ChainHead(0, GENESIS_MAC), None
    return ChainHead(anchor.sequence, bytes(anchor.mac)), anchor


def chain_head() -> ChainHead:
    """The last link, which the next sealed record chains onto."""
    last = AuditChainLink.objects.order_by("-sequence").values_list("sequence", "mac").first()
    if last is not None:
        return ChainHead(last[0], bytes(last[1]))
    return chain_start()[0]


@dataclass(frozen=True)
class ChainRow:
    sequence: int
    mac: bytes
    values: tuple[Any, ...]

    @property
    def record_id(self) -> int:
        return int(self.values[0])

    @property
    def occurred_at(self) -> dt.datetime:
        value: dt.datetime = self.values[1]
        return value


@contextmanager
def read_snapshot() -> Iterator[None]:
    """On PostgreSQL, one read-only REPEATABLE READ transaction for a walk over the chain.

    Every query then sees the same snapshot while sealing and purging go on, and the cursor streams rows; outside a
    transaction Django's cursor is declared WITH HOLD, which makes PostgreSQL materialise the whole result first.
    SQLite gets no transaction: BEGIN IMMEDIATE would block every writer for the length of the walk, and one
    statement already reads one snapshot there.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def chain_rows(*, after_sequence: int, chunk_size: int = VERIFY_CHUNK) -> Iterator[ChainRow]:
    """Links with their records in chain order, streamed (a server-side cursor on PostgreSQL): flat memory.

    An inner join: a link whose record was deleted does not appear, and the caller sees a gap in the sequence.
    """
    columns = ("sequence", "mac", *(f"record__{name}" for name in RECORD_FIELDS))
    rows = (
        AuditChainLink.objects.filter(sequence__gt=after_sequence)
        .order_by("sequence")
        .values_list(*columns)
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield ChainRow(sequence=row[0], mac=bytes(row[1]), values=tuple(row[2:]))


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_record_id: int | None
    reason: str
    head_sequence: int = 0
    head_mac: str = ""
    unsealed: int = 0
    oldest_unsealed_at: dt.datetime | None = None

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"audit chain intact: {self.checked} records checked, head {self.head_sequence}:{self.head_mac}, "
                f"{self.unsealed} awaiting sealing"
            )
        where = f" at record {self.first_bad_record_id}" if self.first_bad_record_id is not None else ""
        return f"audit chain broken{where}: {self.reason}"


def _diagnose_gap(expected_sequence: int, next_row: ChainRow) -> tuple[int, str]:
    """The walk skipped a sequence number: either the link is there and its record is gone, or both are gone."""
    missing = AuditChainLink.objects.filter(sequence=expected_sequence).values_list("record_id", flat=True).first()
    if missing is not None:
        return missing, "record deleted"
    return next_row.record_id, f"preceding record deleted (link {expected_sequence} missing)"


@dataclass(frozen=True)
class _Suspect:
    sequence: int
    record_id: int
    stored_mac: bytes
    computed_mac: bytes


def _diagnose_mismatch(key: bytes, suspect: _Suspect, following: ChainRow) -> str:
    """Which half of a link failed: the next link chains onto the genuine MAC, whichever that is."""
    if following.sequence == suspect.sequence + 1:
        if constant_time_equal(chain_mac(key, suspect.stored_mac, following.sequence, following.values), following.mac):
            return "content changed"
        if constant_time_equal(
            chain_mac(key, suspect.computed_mac, following.sequence, following.values), following.mac
        ):
            return "link MAC altered"
    return "content or order changed"


def audit_verify(*, expect: tuple[int, bytes] | None = None) -> VerifyResult:
    """Recompute the chain and name the first record where it breaks.

    `expect` is a (sequence, mac) pair kept outside the database (the sealer logs the head): it catches the one attack
    the chain cannot see by itself, deleting its most recent links together with their records.

    The walk runs in a `read_snapshot`, so sealing and purging can go on meanwhile.
    """
    with read_snapshot():
        return _verify(expect)


def _verify(expect: tuple[int, bytes] | None) -> VerifyResult:
    key = chain_key()
    start, anchor = chain_start()
    unsealed = AuditPending.objects.count()
    oldest = AuditPending.objects.order_by("record_id").values_list("record__occurred_at", flat=True).first()

    def result(ok: bool, checked: int, record_id: int | None, reason: str, head: ChainHead) -> VerifyResult:
        return VerifyResult(ok, checked, record_id, reason, head.sequence, head.mac.hex(), unsealed, oldest)

    if anchor is not None:
        expected_anchor = anchor_mac(
            key,
            sequence=anchor.sequence,
            mac=bytes(anchor.mac),
            purged_count=anchor.purged_count,
            export_digest=anchor.export_digest,
        )
        if not constant_time_equal(expected_anchor, bytes(anchor.anchor_mac)):
            return result(False, 0, None, f"purge anchor at link {anchor.sequence} forged", start)

    previous = start
    checked = 0
    suspect: _Suspect | None = None  # a link whose MAC did not match; the next link tells which half was altered
    for row in chain_rows(after_sequence=start.sequence):
        expected_sequence = previous.sequence + 1
        if suspect is not None:
            return result(False, checked, suspect.record_id, _diagnose_mismatch(key, suspect, row), previous)
        if row.sequence != expected_sequence:
            record_id, reason = _diagnose_gap(expected_sequence, row)
            return result(False, checked, record_id, reason, previous)
        if expect is not None and row.sequence == expect[0] and not constant_time_equal(row.mac, expect[1]):
            return result(False, checked, row.record_id, "differs from the expected head", previous)
        computed = chain_mac(key, previous.mac, row.sequence, row.values)
        if constant_time_equal(computed, row.mac):
            checked += 1
        else:
            suspect = _Suspect(row.sequence, row.record_id, stored_mac=row.mac, computed_mac=computed)
        previous = ChainHead(row.sequence, row.mac)
    if suspect is not None:
        return result(False, checked, suspect.record_id, "content changed or link MAC altered", previous)

    # The stream joined links to records, so a link left behind by a deleted last record did not appear in it. Links
    # sealed while the walk ran (SQLite has no snapshot for it) have their records and are checked next time.
    orphan = (
        AuditChainLink.objects.filter(sequence__gt=previous.sequence)
        .exclude(Exists(AuditRecord.objects.filter(pk=OuterRef("record_id"))))
        .order_by("sequence")
        .values_list("record_id", flat=True)
        .first()
    )
    if orphan is not None:
        return result(False, checked, orphan, "record deleted", previous)
    if expect is not None and expect[0] > previous.sequence:
        return result(False, checked, None, f"chain truncated: expected link {expect[0]} missing", previous)

    outside = (
        AuditRecord.objects.filter(link__isnull=True, pending__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if outside is not None:
        return result(False, checked, outside, "not in the chain and not awaiting sealing", previous)
    return result(True, checked, None, "", previous)


@dataclass(frozen=True)
class AuditSearch:
    """The staff search: each non-empty field narrows the result; dates are inclusive, in the local time zone."""

    actor: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    request_id: str = ""
    occurred_from: dt.date | None = None
    occurred_to: dt.date | None = None

    def as_detail(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items() if value not in ("", None)}


def _start_of_day(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class _SpanCovers(Func):
    """PostgreSQL: whether the span of a record's listed targets, first to last (`int8range`, bounds included), covers
    an integer target: the expression of the GiST index audit_record_targets_span_idx (migration 0005), written as
    the index writes it so that the planner uses the index."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        detail, target = self.get_source_expressions()
        detail_sql, detail_params = compiler.compile(detail)
        target_sql, target_params = compiler.compile(target)
        listed = f"({detail_sql} -> '{TARGETS}')"
        sql = f"int8range(({listed} ->> 0)::bigint, ({listed} ->> -1)::bigint, '[]') @> ({target_sql})::bigint"
        return sql, [*detail_params, *detail_params, *target_params]


def target_condition(target_id: str | int) -> Q:
    """The records about one target: those naming it (`target_id`, the b-tree audit_record_target_idx), and on
    PostgreSQL the records of a page read at once that list it in their detail's TARGETS: found by the span of
    their list (the GiST index audit_record_targets_span_idx over first and last listed, the list ascending), then
    the list itself tested (`@>`, exact: a target inside the span that the page did not read is not found). The
    condition repeats the index's predicate so the planner may use it; the two arms are read as a BitmapOr. A
    target that is not an integer key (a search for text) finds no page record: their lists hold integer keys only.
    Combine it with the target type as for a single target."""
    target = str(target_id)
    condition = Q(target_id=target)
    if connection.vendor == "postgresql" and _TARGET_DIGITS.fullmatch(target):
        listed = {f"detail__{TARGETS}__contains": [target]}
        condition |= Q(_SpanCovers(F("detail"), Value(int(target))), target_id="", detail__has_key=TARGETS, **listed)
    return condition


def audit_record_filter(search: AuditSearch) -> QuerySet[AuditRecord]:
    qs = AuditRecord.objects.all()
    if search.actor:
        qs = qs.filter(Q(actor_id=search.actor) | Q(actor_label=search.actor))
    if search.action:
        qs = qs.filter(action__startswith=search.action)
    if search.target_type:
        qs = qs.filter(target_type=search.target_type)
    if search.target_id:
        qs = qs.filter(target_condition(search.target_id))
    if search.outcome:
        qs = qs.filter(outcome=search.outcome)
    if search.request_id:
        # The index leaves out empty ids; SQLite uses a partial index only when the query repeats its condition.
        qs = qs.filter(request_id=search.request_id).exclude(request_id="")
    if search.occurred_from:
        qs = qs.filter(occurred_at__gte=_start_of_day(search.occurred_from))
    if search.occurred_to:
        qs = qs.filter(occurred_at__lt=_start_of_day(search.occurred_to + dt.timedelta(days=1)))
    return qs


def audit_record_search(*, search: AuditSearch, cursor: str | None = None, limit: int = 50) -> Page[AuditRecord]:
    """Newest first, keyset-paginated on id: stable while records keep arriving, no COUNT over millions of rows."""
    if limit < 1 or limit > SEARCH_MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {SEARCH_MAX_LIMIT}.",
            errors=[{"loc": ["query", "limit"], "rule": "limit.range", "msg": f"1..{SEARCH_MAX_LIMIT}"}],
        )
    qs = audit_record_filter(search).order_by("-id")
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != 1 or not isinstance(values[0], int):
            raise ValidationFailed(
                "The cursor is malformed.",
                errors=[{"loc": ["query", "cursor"], "rule": "cursor.shape", "msg": "invalid cursor"}],
            )
        qs = qs.filter(id__lt=values[0])
    rows = list(qs[: limit + 1])
    next_cursor = encode_cursor([rows[limit - 1].pk]) if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
