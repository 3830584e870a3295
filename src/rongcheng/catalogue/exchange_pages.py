"""A page of uploaded rows for the exchange, built by PostgreSQL as the JSON the API sends (projected in SQL, the
masked fields as each row keeps them), so that the rows are neither decoded, masked nor encoded again in Python.

Masking is not computed here: every uploaded row keeps its personal data items already masked (`ResourceRow.masked`,
`models.masked_form`: exactly `kernel.masking.mask_by_shape`, ADR 0021), and a masked field of the page is taken
from there. A row whose kept form lacks a masked field wanted (written without it, or a value whose form is not kept)
makes the page say so (`exact` false), and the caller reads it again and masks it in Python. A request for more than
`MAX_FIELDS` items (json_build_object's argument limit) is projected in Python too.

The SQL of a page depends on its shape (the fields wanted, which of them masked); `shape_guess` remembers the last
shape of each consumer, resource and request, so that the exchange can send the page ahead of the grant's query (the
page is still gated by a grant in force in SQL, and used only if the grant gives the shape guessed).
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Any

from rongcheng.catalogue.models import DataResource, ResourceRow, SharingGrant

MAX_FIELDS = 45  # json_build_object takes at most 100 arguments: a key and a value per field
Shape = tuple[tuple[str, ...], frozenset[str]]  # the fields wanted, in order; those masked


def page_sql(shape: Shape, resource: str, resource_params: list[Any], offset: int, limit: int) -> tuple[str, list[Any]]:
    """The statement of a page of the resource `resource` (SQL giving its id, with `resource_params`) and its
    parameters. It answers one row: the page as JSON text (NULL when empty), the rows read (at most limit + 1, so
    that more than `limit` means more follow), and whether every row kept the masked form of each masked field (else
    the page must be read again and masked in Python).

    A row whose keys are exactly the fields wanted (every row uploaded under the resource's current items, when all
    are wanted) is sent as it is stored, its masked fields replaced by their kept forms; another is projected (a
    field it lacks is null)."""
    wanted, masked = shape
    masked_wanted = [name for name in wanted if name in masked]
    projected = ", ".join(f"%s::text, {'masked' if name in masked else 'data'} -> %s" for name in wanted)
    projected_params = [v for name in wanted for v in (name, name)]
    same, same_params = "data", []
    for name in masked_wanted:  # jsonb_set, a field at a time, costs PostgreSQL less than data || jsonb_build_object
        same = f"jsonb_set({same}, %s::text[], masked -> %s)"
        same_params.extend([[name], name])
    if masked_wanted:
        exact = "coalesce(bool_and(coalesce(masked ?& %s::text[], false)), true)"
        exact_params: list[Any] = [masked_wanted]
    else:
        exact, exact_params = "true", []
    row = (f"CASE WHEN data ?& %s::text[] AND data - %s::text[] = '{{}}'::jsonb THEN {same} "
           f"ELSE jsonb_build_object({projected}) END")  # fmt: skip
    row_params = [list(wanted), list(wanted), *same_params, *projected_params]
    table = ResourceRow._meta.db_table
    kept_column = ", masked" if masked_wanted else ""
    # One pass over the page as the index gives it: the JSON, the count, the last row number and the masked forms'
    # test, all aggregates of the same scan. (A materialised CTE of the page read three times by three subqueries
    # cost PostgreSQL ~1.5 ms more a page of 1,000: copying the rows into it and scanning it again; psql 2026-12-07.)
    sql = (
        "SELECT agg.body, agg.n + (SELECT count(*) FROM (SELECT 1 FROM "  # noqa: S608 - the model's table and fixed SQL
        f"{table} WHERE resource_id = {resource} AND row_number > agg.last ORDER BY row_number LIMIT 1) AS after), "
        f"agg.exact FROM (SELECT json_agg({row} ORDER BY row_number)::text AS body, count(*) AS n, "
        f"max(row_number) AS last, {exact} AS exact FROM (SELECT data{kept_column}, row_number FROM {table} "
        f"WHERE resource_id = {resource} AND row_number > %s ORDER BY row_number LIMIT %s) AS page) AS agg"
    )
    return sql, [*resource_params, *row_params, *exact_params, *resource_params, offset, limit]


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
