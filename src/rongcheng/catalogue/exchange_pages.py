"""A page of uploaded rows for the exchange, built by PostgreSQL as the JSON the API sends (projection and masking
done in SQL), so that the rows are neither decoded, masked nor encoded again in Python.

The masking in SQL is exactly `services._masked` (rongcheng.kernel.masking's rules, chosen by the value's shape) for
the values it can be sure of: strings (and nulls) whose shape Python and PostgreSQL judge alike. They judge alike
every string that does not begin with a digit (neither is then an ID number nor a phone to either) and every string
without a non-ASCII character Python counts as a digit (str.isdigit, regex \\d; PostgreSQL's [0-9] is ASCII). A page
holding any other value of a masked item (a number, a boolean, a string beginning with a digit and holding such a
digit) says so (`exact` false), and the caller reads it again and masks it in Python. A request for more than
`MAX_FIELDS` items (json_build_object's argument limit) is projected in Python too.

The SQL of a page depends on its shape (the fields wanted, which of them masked); `shape_guess` remembers the last
shape of each consumer, resource and request, so that the exchange can send the page ahead of the grant's query (the
page is still gated by a grant in force in SQL, and used only if the grant gives the shape guessed).
"""

from __future__ import annotations

import functools
import sys
from collections import OrderedDict
from threading import Lock
from typing import Any

from rongcheng.catalogue.models import DataResource, ResourceRow, SharingGrant

MAX_FIELDS = 45  # json_build_object takes at most 100 arguments: a key and a value per field
Shape = tuple[tuple[str, ...], frozenset[str]]  # the fields wanted, in order; those masked


@functools.cache
def non_ascii_digits() -> str:
    """A regular-expression class of every non-ASCII character Python counts as a digit (str.isdigit covers \\d)."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x80, sys.maxunicode + 1):
        if chr(code).isdigit():
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "[" + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in ranges) + "]"


# The masking of a string `s` (never NULL here), rule for rule as services._masked with mask_id_number, mask_phone
# and mask_name: "" stays ""; 15 or 18 characters beginning with six digits, an ID number; seven or more digits, a
# phone (eleven: 3 shown, 4 hidden, 4 shown; else all hidden but the last four); else a name (its first character).
_MASK = (
    "CASE WHEN {s} = '' THEN {s} "
    "WHEN char_length({s}) = 18 AND {s} ~ '^[0-9]{{6}}' THEN left({s}, 6) || '********' || substr({s}, 15) "
    "WHEN char_length({s}) = 15 AND {s} ~ '^[0-9]{{6}}' THEN left({s}, 6) || '******' || substr({s}, 13) "
    "WHEN {s} ~ '^[0-9]{{7,}}$' THEN CASE WHEN char_length({s}) = 11 THEN left({s}, 3) || '****' || right({s}, 4) "
    "ELSE repeat('*', char_length({s}) - 4) || right({s}, 4) END "
    "WHEN char_length({s}) <= 1 THEN {s} "
    "ELSE left({s}, 1) || repeat('*', char_length({s}) - 1) END"
)


def page_sql(shape: Shape, resource: str, resource_params: list[Any], offset: int, limit: int) -> tuple[str, list[Any]]:
    """The statement of a page of the resource `resource` (SQL giving its id, with `resource_params`) and its
    parameters. It answers one row: the page as JSON text (NULL when empty), the rows read (at most limit + 1, so
    that more than `limit` means more follow), and whether every masked value was masked exactly (else the page must
    be read again and masked in Python).

    A row whose keys are exactly the fields wanted (every row uploaded under the resource's current items, when all
    are wanted) is sent as it is stored; another is projected (a field it lacks is null). The masked fields' values
    are read once per row in the inner query and replace the row's own."""
    wanted, masked = shape
    inner, inner_params, exact, exact_params = [], [], [], []
    values: dict[str, str] = {}
    for n, name in enumerate(name for name in wanted if name in masked):
        inner.append(f", data ->> %s AS m{n}, jsonb_typeof(data -> %s) AS t{n}, data -> %s AS v{n}")
        inner_params.extend([name, name, name])
        values[name] = f"(CASE WHEN t{n} = 'string' THEN to_jsonb({_MASK.format(s=f'm{n}')}) ELSE v{n} END)"
        exact.append(f"(t{n} IS NULL OR t{n} = 'null' OR (t{n} = 'string' AND (left(m{n}, 1) !~ %s OR m{n} !~ %s)))")
        exact_params.extend(["[0-9]|" + non_ascii_digits(), non_ascii_digits()])
    same, same_params = "data", []
    for name, value in values.items():  # a masked value is never NULL in a row that has its key
        same = f"jsonb_set({same}, %s::text[], {value})"
        same_params.append([name])
    projected = ", ".join(f"%s::text, {values.get(name, 'data -> %s')}" for name in wanted)
    projected_params = [v for name in wanted for v in ((name,) if name in values else (name, name))]
    row = (f"CASE WHEN data ?& %s::text[] AND data - %s::text[] = '{{}}'::jsonb THEN {same} "
           f"ELSE jsonb_build_object({projected}) END")  # fmt: skip
    row_params = [list(wanted), list(wanted), *same_params, *projected_params]
    table = ResourceRow._meta.db_table
    sql = (
        f"WITH page AS MATERIALIZED (SELECT data, row_number{''.join(inner)} FROM {table} WHERE resource_id = "  # noqa: S608 - the model's table and fixed SQL
        f"{resource} AND row_number > %s ORDER BY row_number LIMIT %s) SELECT (SELECT json_agg({row} ORDER BY "
        f"row_number) FROM page)::text, (SELECT count(*) FROM page) + (SELECT count(*) FROM (SELECT 1 FROM {table} "
        f"WHERE resource_id = {resource} AND row_number > (SELECT max(row_number) FROM page) ORDER BY row_number "
        "LIMIT 1) AS after), "
        f"(SELECT coalesce(bool_and({' AND '.join(exact) or 'true'}), true) FROM page)"
    )
    return sql, [*inner_params, *resource_params, offset, limit, *row_params, *resource_params, *exact_params]


def gated_resource() -> str:
    """SQL giving the id of the resource of a code only if it has no backing provider and the consumer holds a grant
    in force for it; its parameters: code, consumer id, today."""
    resources, grants = DataResource._meta.db_table, SharingGrant._meta.db_table
    return (
        f"(SELECT r.id FROM {resources} r WHERE r.code = %s AND r.backing = '' AND EXISTS (SELECT 1 FROM {grants} g "  # noqa: S608 - the models' tables
        "WHERE g.resource_id = r.id AND g.consumer_id = %s AND g.revoked_at IS NULL AND g.expires_on >= %s))"
    )


_guesses: OrderedDict[tuple[Any, ...], Shape] = OrderedDict()
_guesses_lock = Lock()
GUESSES_KEPT = 1024


def shape_guess(key: tuple[Any, ...]) -> Shape | None:
    with _guesses_lock:
        return _guesses.get(key)


def shape_remember(key: tuple[Any, ...], shape: Shape) -> None:
    with _guesses_lock:
        _guesses[key] = shape
        _guesses.move_to_end(key)
        while len(_guesses) > GUESSES_KEPT:
            _guesses.popitem(last=False)


# Resources backed by a provider (platform data, a registry's records) have no uploaded rows: the exchange does not
# send a page of uploaded rows ahead of the grant's query for a code last seen backed (planning that statement cost
# PostgreSQL ~0.7 ms a call for an empty answer). A wrong guess costs only that page read after the grant's query.
_backed: OrderedDict[str, bool] = OrderedDict()


def backed_guess(code: str) -> bool:
    with _guesses_lock:
        return _backed.get(code, False)


def backed_remember(code: str, backed: bool) -> None:
    with _guesses_lock:
        if _backed.get(code, False) == backed:
            return
        _backed[code] = backed
        _backed.move_to_end(code)
        while len(_backed) > GUESSES_KEPT:
            _backed.popitem(last=False)
