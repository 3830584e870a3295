"""Read use-cases of the service hall: the public catalogue, an applicant's applications, a department's queue.

Lists are keyset-paginated on the primary key with signed cursors, so a page costs one index range however many
applications there are (the composite indexes are declared on `Application`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from django.core.cache import cache
from django.db import connections, router
from django.db.models import Q, QuerySet

from rongcheng.accounts.models import Department
from rongcheng.hall import calendar as working
from rongcheng.hall.errors import ApplicationDenied, ApplicationNotFound, ServiceItemNotFound
from rongcheng.hall.models import Application, Countersign, CountersignState, FollowUp, Message, ServiceItem, State
from rongcheng.hall.permissions import (
    acts_for_party,
    is_applicant,
    is_officer,
    may_view_as_officer,
    officer_department,
    owns,
)
from rongcheng.hall.workflow import OPEN, RUNNING
from rongcheng.kernel.context import Account
from rongcheng.kernel.errors import NotAuthenticated, ValidationFailed
from rongcheng.kernel.pagination import MAX_LIMIT, Page, decode_cursor, encode_cursor
from rongcheng.registries.models import LegalEntity

Scope = Literal["department", "window", "intake", "countersign"]
SCOPES = ("todo", "department", "window", "intake", "countersign")


def service_items_search(
    *, query: str = "", department: str = "", kind: str = "", limit: int = 200
) -> list[ServiceItem]:
    qs = ServiceItem.objects.filter(active=True).select_related("department")
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(code__icontains=query) | Q(conditions__icontains=query))
    if department:
        qs = qs.filter(department__code=department)
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.order_by("code")[:limit])


_STAMP_SQL: dict[str, tuple[str, tuple[Any, ...]]] = {}  # by database vendor: the query compiled once


def service_catalogue_stamp() -> str:
    """A digest of everything the public catalogue's cards show, read in one narrow query (no model built, its SQL
    compiled once): the cached cards and pages are keyed on it, so any change of a service or of its department's
    name shows at once."""
    connection = connections[router.db_for_read(ServiceItem)]
    compiled = _STAMP_SQL.get(connection.vendor)
    if compiled is None:
        shown = (
            ServiceItem.objects.using(connection.alias).filter(active=True).order_by("code")
            .values_list("code", "name", "kind", "promised_days", "any_window", "department__name",
                         "department__short_name")
        )  # fmt: skip
        compiled = _STAMP_SQL[connection.vendor] = shown.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(*compiled)
        rows = cursor.fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:32]


def service_item_get(*, code: str) -> ServiceItem:
    item = ServiceItem.objects.select_related("department").filter(code=code, active=True).first()
    if item is None:
        raise ServiceItemNotFound(f"No active service has the code {code!r}.")
    return item


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}.",
            errors=[{"loc": ["query", "limit"], "rule": "limit.range", "msg": f"1..{MAX_LIMIT}"}],
        )
    return limit


def _keyset(qs: QuerySet[Application], cursor: str | None, limit: int, *, descending: bool) -> Page[Application]:
    limit = _limit(limit)
    if cursor:
        values = decode_cursor(cursor)
        after = values[0] if values and isinstance(values[0], int) else None
        if after is None:
            raise ValidationFailed(
                "The cursor is malformed.",
                errors=[{"loc": ["query", "cursor"], "rule": "cursor.shape", "msg": "invalid cursor"}],
            )
        qs = qs.filter(pk__lt=after) if descending else qs.filter(pk__gt=after)
    rows = list(qs.order_by("-pk" if descending else "pk")[: limit + 1])
    next_cursor = encode_cursor([rows[limit - 1].pk]) if len(rows) > limit else None
    return Page(items=_attach_references(rows[:limit]), next_cursor=next_cursor)


REFERENCE_CACHE_SECONDS = 60


def _attach_references(rows: list[Application]) -> list[Application]:
    """Each listed application's service and department from a short-lived process cache of those small tables:
    the list itself is then one index range without joins (joins cost more to plan than the range to read)."""
    cached: tuple[dict[int, ServiceItem], dict[int, Department]] | None = cache.get("hall.references")
    wanted = {(a.service_id, a.department_id) for a in rows}
    if cached is None or any(s not in cached[0] or d not in cached[1] for s, d in wanted):
        cached = (
            {item.pk: item for item in ServiceItem.objects.all()},
            {department.pk: department for department in Department.objects.all()},
        )
        cache.set("hall.references", cached, REFERENCE_CACHE_SECONDS)
    services, departments = cached
    for application in rows:
        application.service = services[application.service_id]
        application.department = departments[application.department_id]
    # The applicant legal entities (few rows have one): one query for the page, none when no row has one.
    entity_ids = {a.legal_entity_id for a in rows if a.legal_entity_id is not None}
    if entity_ids:
        entities = LegalEntity.objects.in_bulk(entity_ids)
        for application in rows:
            if application.legal_entity_id is not None:
                application.legal_entity = entities[application.legal_entity_id]
    return rows


def applications_of_applicant(*, user: Account, cursor: str | None = None, limit: int = 20) -> Page[Application]:
    """The account's own applications, newest first."""
    if not user.is_authenticated:
        raise NotAuthenticated("Sign in to see your applications.")
    qs = Application.objects.filter(applicant_id=user.pk)
    return _keyset(qs, cursor, limit, descending=True)


def application_for_applicant(*, user: Account, application_id: int) -> Application:
    application = (
        Application.objects.select_related("service", "department", "window", "legal_entity")
        .prefetch_related("provided", "events", "messages", "countersigns__department")
        .filter(pk=application_id)
        .first()
    )
    # An entity's application is the entity's: seen by the account that made it while it still represents the entity.
    if application is None or not owns(user, application) or not acts_for_party(user, application):
        raise ApplicationNotFound(f"You have no application {application_id}.")
    return application


def application_for_officer(*, user: Account, application_id: int) -> Application:
    if not is_officer(user):
        raise ApplicationDenied("Only officers of the service hall see the workbench.")
    application = (
        Application.objects.select_related("service", "department", "window", "applicant", "legal_entity")
        .prefetch_related("provided", "events", "countersigns__department")
        .filter(pk=application_id)
        .first()
    )
    if application is None:
        raise ApplicationNotFound(f"No application {application_id}.")
    countersigning = any(c.department_id == user.department_id for c in application.countersigns.all())
    if not may_view_as_officer(user, application, countersigning):
        raise ApplicationNotFound(f"No application {application_id} in your department's reach.")
    return application


def application_view(*, user: Account, application_id: int) -> Application:
    """The application as its applicant or as an officer in reach sees it."""
    if is_applicant(user):
        return application_for_applicant(user=user, application_id=application_id)
    return application_for_officer(user=user, application_id=application_id)


def workbench_queue(
    *,
    user: Account,
    scope: str = "department",
    state: str = "",
    service: str = "",
    overdue: bool = False,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[Application]:
    """An officer's queue, oldest first: their department's applications, those accepted at their window, those
    waiting for acceptance that their window may accept (their own and every 全城通办 service), or those their
    department is asked to countersign."""
    if not is_officer(user):
        raise ApplicationDenied("Only officers of the service hall see the workbench.")
    if scope not in SCOPES:
        raise ValidationFailed(
            f"scope is one of {', '.join(SCOPES)}.",
            errors=[{"loc": ["query", "scope"], "rule": "scope.choice", "msg": "unknown scope"}],
        )
    if state and state not in State.values:
        raise ValidationFailed(
            "Unknown state.", errors=[{"loc": ["query", "state"], "rule": "state.choice", "msg": "unknown state"}]
        )
    department = officer_department(user)
    # A draft is its applicant's until submitted: no scope, no state filter shows an officer one (nor its prefill).
    qs = Application.objects.exclude(state=State.DRAFT)
    if scope == "todo":
        # What waits for this officer: the department's open applications, every application their window may
        # accept (their own services' and every 全城通办 one), and those their department is asked to countersign.
        waiting = (
            Q(department_id=department, state__in=OPEN)
            | Q(state=State.SUBMITTED, service__any_window=True)
            | Q(state=State.COUNTERSIGNING, pk__in=Countersign.objects.filter(
                department_id=department, state=CountersignState.PENDING).values("application_id"))
        )  # fmt: skip
        qs = qs.filter(waiting)
        if state:
            qs = qs.filter(state=state)
    elif scope == "department":
        qs = qs.filter(department_id=department)
        qs = qs.filter(state=state) if state else qs.filter(state__in=OPEN | {State.CORRECTION.value})
    elif scope == "window":
        qs = qs.filter(window_id=department)
        if state:
            qs = qs.filter(state=state)
    elif scope == "intake":
        qs = qs.filter(state=State.SUBMITTED).filter(Q(department_id=department) | Q(service__any_window=True))
    else:
        qs = qs.filter(
            countersigns__department_id=department, countersigns__state=CountersignState.PENDING,
            state=State.COUNTERSIGNING,
        )  # fmt: skip
    if service:
        qs = qs.filter(service__code=service)
    if overdue:
        qs = qs.filter(state__in=RUNNING, deadline__lt=working.today())
    return _keyset(qs, cursor, limit, descending=False)


def follow_ups_open(*, user: Account) -> list[FollowUp]:
    if not is_officer(user):
        raise ApplicationDenied("Only officers answer follow-ups.")
    return list(
        FollowUp.objects.filter(department_id=officer_department(user), answered_at__isnull=True)
        .select_related("rating__application__service")
        .order_by("id")[:200]
    )


def messages_of(*, user: Account, limit: int = 50) -> list[Message]:
    if not user.is_authenticated:
        raise NotAuthenticated("Sign in to see your messages.")
    return list(Message.objects.filter(recipient_id=user.pk).select_related("application").order_by("-id")[:limit])


def countersigns_pending(*, application: Application) -> list[Countersign]:
    return [c for c in application.countersigns.all() if c.state == CountersignState.PENDING]


# The city's working-day calendar, for the apps above the hall (city cases, credit, the data catalogue) that count
# their deadlines in working days on the same holidays and 调休 as the hall.
def city_today() -> dt.date:
    """The city's current date (Asia/Shanghai)."""
    return working.today()


def working_days_add(start: dt.date, days: int) -> dt.date:
    """The date `days` working days after `start` (the start day itself does not count)."""
    return working.working_days_add(start, days)


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    return working.working_days_between(start, end)
