"""The `cases` layer of the platform's map and OGC API – Features (`/ogc/collections/cases`): city cases with
their public fields only (no reporter, no caller, no photo, no description), a sensitive category's location
rounded to about 100 m."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, F, Max, Min, Q, Value, When
from django.db.models import Case as Choose
from django.db.models.functions import Round
from django.db.models.lookups import Range
from django.utils.translation import gettext_lazy as _

from rongcheng.cases.models import Case, State
from rongcheng.cases.selectors import PUBLIC_ROUNDING, public_location
from rongcheng.cases.workflow import DONE, FINAL
from rongcheng.spatial.services import (
    BBox,
    DatetimeInterval,
    Extent,
    Feature,
    Layer,
    Queryable,
    feature,
    point_geometry,
    point_items,
)


def _state_labels() -> dict[str, str]:
    """The states' labels in the active language, once per page: `get_state_display` of every case made the choices
    hashable and translated every label again (13 translations a feature, a third of a page's time)."""
    return {state.value: str(state.label) for state in State}


def _feature(case: Case, labels: Mapping[str, str] | None = None) -> Feature:
    labels = labels if labels is not None else _state_labels()
    lon, lat = public_location(case)
    return feature(
        case.number,
        point_geometry(lon, lat),
        {
            "number": case.number,
            "category": case.category.code,
            "category_name": case.category.name,
            "kind": case.category.kind,
            "status": "closed" if case.state in DONE else "open",
            "state": labels.get(case.state, case.state),
            "district_code": case.district_code,
            "street_code": case.street_code,
            "cell_code": case.cell_code,
            "unit": case.unit.name if case.unit else None,
            "reported": case.created_at.isoformat(),
        },
    )


# The columns a feature shows (and the sensitivity that rounds its point): the other thirty, ten of them date-times,
# were read and converted for every case of a page.
FEATURE_COLUMNS = (
    "number", "longitude", "latitude", "state", "district_code", "street_code", "cell_code", "created_at",
    "category", "category__code", "category__name", "category__kind", "category__sensitive", "unit", "unit__name",
)  # fmt: skip

_UNIT = 10**PUBLIC_ROUNDING


def _shown(field: str) -> Any:
    """The coordinate of a sensitive case the public sees, in SQL: rounded as `public_location` rounds it."""
    return Round(F(field) * Value(float(_UNIT))) / Value(float(_UNIT))


def _within(lon: Any, lat: Any, bbox: BBox) -> ExpressionWrapper[Any]:
    x0, y0, x1, y1 = bbox
    return ExpressionWrapper(Q(Range(lon, (x0, x1)), Range(lat, (y0, y1))), output_field=BooleanField())


def _in_box_as_shown(rows: Any, bbox: BBox) -> Any:
    """The cases whose public point lies in the box. A box is matched against the point the public sees, never the
    true one: otherwise shrinking the box around a sensitive case would place it more precisely than it is shown.
    The true point is within half a rounding unit of the shown one, so the widened box on the true columns (which
    their index serves) keeps every candidate, and the exact test is on the shown point.

    The exact test is one condition (the shown point of a sensitive case, else the true point, in the box), not four
    comparisons of the shown coordinates: the planner, guessing a third for each of those, took a street's 100,000
    cases for 1,400, and a page of 100 of them for a long enough walk to start two parallel workers (30-40 ms to
    start them for 5 ms of work, on two cores)."""
    x0, y0, x1, y1 = bbox
    margin = 1 / _UNIT
    rows = rows.filter(longitude__gte=x0 - margin, longitude__lte=x1 + margin,
                       latitude__gte=y0 - margin, latitude__lte=y1 + margin)  # fmt: skip
    shown_inside = Choose(
        When(category__sensitive=True, then=_within(_shown("longitude"), _shown("latitude"), bbox)),
        default=_within(F("longitude"), F("latitude"), bbox),
        output_field=BooleanField(),
    )
    return rows.filter(shown_inside)


class CasesLayer(Layer):
    id = "cases"
    title = _("城市管理案件")
    description = _(
        "市民、网格员、12345热线和各部门系统上报的城市管理问题（不含上报人信息，敏感类别位置取约百米精度）。"
    )
    owner_department = "福州市城市管理委员会"
    keywords = ("数字城管", "网格化管理", "GB/T 30428")
    temporal_property = "reported"
    pages_by_key = True
    queryables = (
        Queryable("category", "string", "类别代码", "C0101 (部件) or E0101 (事件)"),
        Queryable("status", "string", "状态", "open or closed"),
        Queryable("district_code", "string", "区县代码"),
        Queryable("street_code", "string", "街道代码"),
    )

    def updated(self) -> datetime | None:
        value: datetime | None = Case.objects.aggregate(last=Max("updated_at"))["last"]
        return value

    def extent(self) -> Extent:
        span = Case.objects.exclude(state__in=FINAL).aggregate(
            x0=Min("longitude"), y0=Min("latitude"), x1=Max("longitude"), y1=Max("latitude"), t0=Min("created_at")
        )
        bbox = None if span["x0"] is None else (span["x0"], span["y0"], span["x1"], span["y1"])
        return Extent(bbox, (span["t0"], None))

    def _queryset(self) -> Any:
        return (
            Case.objects.exclude(state__in=FINAL)
            .select_related("category", "unit")
            .only(*FEATURE_COLUMNS)
            .order_by("-id")
        )

    def items(
        self,
        *,
        bbox: BBox | None,
        datetime_interval: DatetimeInterval | None,
        filters: Mapping[str, str],
        limit: int,
        offset: int,
        after: int | None = None,
    ) -> tuple[list[Feature], int | None]:
        qs = self._queryset()
        if "category" in filters:
            qs = qs.filter(category__code=filters["category"])
        if filters.get("status") == "open":
            qs = qs.exclude(state__in=DONE)
        elif filters.get("status") == "closed":
            qs = qs.filter(state__in=DONE)
        for name in ("district_code", "street_code"):
            if name in filters:
                qs = qs.filter(**{name: filters[name]})
        if bbox is not None:
            qs = _in_box_as_shown(qs, bbox)
        # Millions of cases: the number matched is given when a page shows the end, never counted past it.
        return point_items(qs, bbox=None, datetime_interval=datetime_interval, limit=limit, offset=offset,
                           make=partial(_feature, labels=_state_labels()), time_field="created_at", count_limit=0,
                           after=after)  # fmt: skip

    def item(self, feature_id: str) -> Feature | None:
        case = self._queryset().filter(number=feature_id).first()
        return _feature(case) if case is not None else None
