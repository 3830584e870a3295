"""City cases' reads: a case for whoever may see it, the queues of the command centre, the units and the grid
workers, a reporter's own reports, the public list (Open311) and the statistics of digital city management."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from rongcheng.accounts.models import Department
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.cases import permissions as perms
from rongcheng.cases.errors import CaseDenied, CaseNotFound
from rongcheng.cases.models import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseSubscription,
    CaseUnit,
    Category,
    ClockRequest,
    GridAssignment,
    Open311Key,
    RequestState,
    Route,
    State,
)
from rongcheng.cases.workflow import DONE, FINAL, OPEN, RUNNING
from rongcheng.divisions.models import Division, GridCell
from rongcheng.kernel.context import Account
from rongcheng.kernel.errors import NotAuthenticated
from rongcheng.staff.permissions import departments_with

QUEUE_LIMIT = 100
# Sensitive categories are shown to the public at about 100 m (three decimals of a degree).
PUBLIC_ROUNDING = 3


def categories_active() -> QuerySet[Category]:
    return Category.objects.filter(active=True).select_related("default_unit").order_by("code")


def case_get(*, user: Account, number: str) -> Case:
    """The case with its private fields, for its reporter, a subscriber and the staff concerned."""
    case = Case.objects.select_related("category", "unit").filter(number=number).first()
    if case is None:
        raise CaseNotFound("No case with this number.")
    if not is_signed_in(user):
        raise NotAuthenticated("Sign in to see this case.")
    if perms.may_view(user, case) or CaseSubscription.objects.filter(case=case, user=user).exists():
        return case
    raise CaseDenied("This case is not yours to see.")


def case_public(*, number: str) -> Case:
    case = Case.objects.select_related("category", "unit").filter(number=number).first()
    if case is None or case.state in FINAL:
        raise CaseNotFound("No case with this number.")
    return case


def public_location(case: Case) -> tuple[float, float]:
    if case.category.sensitive:
        return round(case.longitude, PUBLIC_ROUNDING), round(case.latitude, PUBLIC_ROUNDING)
    return case.longitude, case.latitude


def case_timeline(case: Case) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case).order_by("at", "id"))


def case_photos(case: Case) -> list[CasePhoto]:
    return list(CasePhoto.objects.filter(case=case).order_by("id"))


def case_units(case: Case) -> list[CaseUnit]:
    return list(CaseUnit.objects.filter(case=case).select_related("unit").order_by("role", "id"))


def case_pending_request(case: Case) -> ClockRequest | None:
    return ClockRequest.objects.filter(case=case, state=RequestState.PENDING).first()


def reports_of(*, user: Account, limit: int = 50) -> list[Case]:
    if not is_signed_in(user):
        raise NotAuthenticated("Sign in to see your reports.")
    subscribed = CaseSubscription.objects.filter(user=user).values("case_id")
    return list(
        Case.objects.filter(Q(reporter=user) | Q(pk__in=subscribed)).select_related("category").order_by("-id")[:limit]
    )


def _base() -> QuerySet[Case]:
    return Case.objects.select_related("category", "unit")


QUEUES = ("register", "dispatch", "overdue", "disputed", "requests", "verified")


def centre_queue(*, user: Account, queue: str, now: dt.datetime | None = None, limit: int = QUEUE_LIMIT) -> list[Case]:
    """The command centre's queues: to register (信息收集), to dispatch (立案), overdue (clock past deadline),
    disputed (退单 to arbitrate), requests (延期/缓办 waiting), verified (to close)."""
    if not perms.is_centre(user):
        raise CaseDenied("The command centre's queues are for its staff.")
    now = now or timezone.now()
    qs = _base()
    if queue == "register":
        qs = qs.filter(state=State.COLLECTED).order_by("id")
    elif queue == "dispatch":
        qs = qs.filter(state=State.REGISTERED).order_by("id")
    elif queue == "overdue":
        qs = qs.filter(state__in=RUNNING, deadline__lt=now).order_by("deadline", "id")
    elif queue == "disputed":
        qs = qs.filter(state=State.DISPUTED).order_by("arbitration_deadline", "id")
    elif queue == "requests":
        waiting = ClockRequest.objects.filter(state=RequestState.PENDING).values("case_id")
        qs = qs.filter(pk__in=waiting).order_by("id")
    elif queue == "verified":
        qs = qs.filter(state=State.VERIFIED).order_by("id")
    else:
        raise CaseNotFound("No such queue.")
    return list(qs.only(*QUEUE_COLUMNS)[:limit])


# What a queue shows (the API's `CaseOut`, the pages' table): a hundred cases built whole, forty columns and ten
# date-times each with their category and unit, cost more than finding them.
QUEUE_COLUMNS = (
    "number", "category", "category__code", "category__name", "channel", "hotline_kind", "state", "urgency",
    "description", "address", "longitude", "latitude", "cell_code", "street_code", "district_code", "place_name",
    "unit", "unit__code", "unit__name", "deadline", "simple_procedure", "rework_count", "escalation_level", "rating",
    "created_at", "updated_at",
)  # fmt: skip


def centre_queue_counts(*, user: Account, now: dt.datetime | None = None) -> dict[str, int]:
    if not perms.is_centre(user):
        raise CaseDenied("The command centre's queues are for its staff.")
    now = now or timezone.now()
    counts = dict(
        Case.objects.filter(state__in=(State.COLLECTED, State.REGISTERED, State.DISPUTED, State.VERIFIED))
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return {
        "register": counts.get(State.COLLECTED, 0),
        "dispatch": counts.get(State.REGISTERED, 0),
        "overdue": Case.objects.filter(state__in=RUNNING, deadline__lt=now).count(),
        "disputed": counts.get(State.DISPUTED, 0),
        "requests": ClockRequest.objects.filter(state=RequestState.PENDING).count(),
        "verified": counts.get(State.VERIFIED, 0),
    }


def unit_queue(*, user: Account, limit: int = QUEUE_LIMIT) -> list[Case]:
    """The cases dispatched to the units the officer handles for, still to be done by them."""
    if not perms.is_staff_with(user, perms.HANDLE):
        raise CaseDenied("The units' queue is for their officers.")
    units = departments_with(user, perms.HANDLE)
    qs = _base().filter(state__in=UNIT_WORK).order_by("deadline", "id")
    if units is None:
        return list(qs.only(*QUEUE_COLUMNS)[:limit])
    # From the few cases at work, in deadline order (their partial index), each checked against its unit rows:
    # never the whole history of a unit's cases. The page's ids first, from that index and the unit rows' alone,
    # then only those cases read: reading every case walked past (six of seven are other units') cost more than
    # the walk.
    mine = qs.filter(Exists(CaseUnit.objects.filter(case_id=OuterRef("pk"), unit_id__in=units)))
    ids = list(mine.values_list("pk", flat=True)[:limit])
    return list(_base().filter(pk__in=ids).only(*QUEUE_COLUMNS).order_by("deadline", "id"))


UNIT_WORK = (State.DISPATCHED, State.HANDLING, State.POSTPONED)


def worker_cells(*, user: Account) -> list[str]:
    if not is_signed_in(user):
        return []
    return list(GridAssignment.objects.filter(worker=user).values_list("cell_code", flat=True).distinct())


def worker_queue(*, user: Account, limit: int = QUEUE_LIMIT) -> list[Case]:
    """Cases reported back in the grid worker's cells, to verify on site."""
    if not perms.is_staff_with(user, perms.VERIFY):
        raise CaseDenied("The verification queue is for grid workers.")
    cells = worker_cells(user=user)
    return list(_base().filter(cell_code__in=cells, state=State.REPORTED_BACK).order_by("id")[:limit])


def worker_cell_cases(*, user: Account, limit: int = QUEUE_LIMIT) -> list[Case]:
    if not perms.is_staff_with(user, perms.VERIFY):
        raise CaseDenied("The grid's cases are for its grid workers.")
    cells = worker_cells(user=user)
    return list(_base().filter(cell_code__in=cells, state__in=OPEN).order_by("-id")[:limit])


def routes_list(*, user: Account) -> list[Route]:
    """The routing table, for the command centre and those who maintain it."""
    if not (perms.is_centre(user) or perms.is_staff_with(user, perms.ROUTING)):
        raise CaseDenied("The routing table is for the command centre.")
    return list(
        Route.objects.select_related("category", "unit").order_by("category__code", "cell_code", "street_code", "id")
    )


def grid_assignments(*, user: Account) -> list[GridAssignment]:
    """Who works which grid cell in which thematic grid: for the command centre and those who maintain it."""
    if not (perms.is_centre(user) or perms.is_staff_with(user, perms.ROUTING)):
        raise CaseDenied("The grid workers' cells are for the command centre.")
    return list(GridAssignment.objects.select_related("worker").order_by("cell_code", "theme", "worker__username"))


def cell_places(codes: Iterable[str]) -> dict[str, str]:
    """Grid cells by code, named as people say them: 街道 社区 网格."""
    return {
        code: f"{street} {community} {name}"
        for code, name, community, street in GridCell.objects.filter(code__in=list(codes)).values_list(
            "code", "name", "community__name", "community__parent__name"
        )
    }


def staff_account(*, username: str) -> Any:
    """An active account by its username (the grid worker named in an assignment); None when there is none, which
    the service refuses as not a grid worker."""
    return get_user_model().objects.filter(username=username[:150], is_active=True).first()


def units_for_routing() -> list[tuple[str, str]]:
    """(code, name) of the units a category can be routed to: the departments cases were or can be sent to."""
    return list(Department.objects.order_by("code").values_list("code", "name"))


def place_names(codes: Iterable[str]) -> dict[str, str]:
    """The names of grid cells, streets and districts by code (for the routing table's places)."""
    wanted = {c for c in codes if c}
    names = dict(Division.objects.filter(code__in=wanted).values_list("code", "name"))
    for code, name, community in GridCell.objects.filter(code__in=wanted).values_list(
        "code", "name", "community__name"
    ):
        names[code] = f"{community} {name}"
    return names


def open311_keys(*, user: Account) -> list[Open311Key]:
    if not perms.is_staff_with(user, perms.OPEN311_KEYS):
        raise CaseDenied("This account may not see the API keys.")
    return list(Open311Key.objects.order_by("-id"))


# ── the public list (Open311 GeoReport v2 `requests`) ───────────────────────────────────────────────────────────


@dataclass(frozen=True)
class PublicFilter:
    numbers: tuple[str, ...] = ()
    service_code: str = ""
    status: str = ""  # open | closed
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    page: int = 1
    page_size: int = 50


def public_cases(filters: PublicFilter) -> list[Case]:
    """One page of the public list, newest first. The page's ids are found first on the case table alone (its
    indexes, no join), then only those rows are read with their category and unit: a deep page skips ids, not
    joined rows."""
    qs = Case.objects.exclude(state__in=FINAL)
    if filters.numbers:
        qs = qs.filter(number__in=filters.numbers)
    else:
        if filters.service_code:
            category = Category.objects.filter(code=filters.service_code).values_list("pk", flat=True).first()
            if category is None:
                return []
            qs = qs.filter(category_id=category)
        if filters.status == "open":
            qs = qs.filter(state__in=OPEN)
        elif filters.status == "closed":
            qs = qs.filter(state__in=DONE)
        if filters.start:
            qs = qs.filter(created_at__gte=filters.start)
        if filters.end:
            qs = qs.filter(created_at__lte=filters.end)
        if filters.updated_after:
            qs = qs.filter(updated_at__gt=filters.updated_after)
    offset = (filters.page - 1) * filters.page_size
    ids = list(qs.order_by("-id").values_list("pk", flat=True)[offset : offset + filters.page_size])
    # Only the columns of an Open311 request: a page of 200 cases built whole (ten date-times each, with their
    # category and unit) cost more than finding it.
    return list(_base().filter(pk__in=ids).only(*PUBLIC_COLUMNS).order_by("-id"))


PUBLIC_COLUMNS = (
    "number", "state", "description", "address", "place_name", "longitude", "latitude", "created_at", "updated_at",
    "deadline", "category", "category__code", "category__name", "category__sensitive", "unit", "unit__name",
)  # fmt: skip


def case_updates(*, start: dt.datetime | None, end: dt.datetime | None, limit: int = 1000) -> list[CaseEvent]:
    """The steps of public cases in a period (the `servicerequestupdates` extension)."""
    qs = CaseEvent.objects.select_related("case").exclude(case__state__in=FINAL)
    if start:
        qs = qs.filter(at__gte=start)
    if end:
        qs = qs.filter(at__lte=end)
    return list(qs.order_by("-at", "-id")[:limit])
