"""The spatio-temporal platform over HTTP: /api/v1/spatial/ (the layers themselves are OGC API – Features at /ogc/).

Locating a point, geocoding one address and reverse geocoding are public reads of public data, rate-limited per
address; geocoding a batch takes the scope `spatial:geocode` and the permission `spatial.geocode_batch`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from rongcheng.accounts.api_auth import api_auth
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import NotFound
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request
from rongcheng.spatial import services
from rongcheng.spatial.geocoding import GeocodeMatch
from rongcheng.spatial.permissions import GEOCODE_BATCH_PERMISSION, SCOPE_GEOCODE
from rongcheng.spatial.selectors import Location

router = Router(tags=["spatial"])


class PointIn(Schema):
    lon: float = Field(description="WGS84 longitude (CRS84)")
    lat: float = Field(description="WGS84 latitude")


class LocationOut(Schema):
    cell_code: str
    cell_name: str
    community_code: str
    community_name: str
    street_code: str
    street_name: str
    district_code: str
    district_name: str


class GeocodeIn(Schema):
    address: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$",
        description="A Chinese address, e.g. 福州市鼓楼区…路1号 (no control characters)",
    )


class GeocodeOut(Schema):
    query: str
    lon: float
    lat: float
    score: float = Field(description="0..1: 1 the exact standard address, 0.7–0.95 road and number, below: a division")
    level: str = Field(description="address, community, street or district: what the point stands for")
    district_code: str
    street_code: str
    community_code: str
    cell_code: str | None
    address_id: int | None
    address_text: str


class ReverseOut(Schema):
    lon: float
    lat: float
    address_id: int | None
    address_text: str
    distance_m: float | None
    location: LocationOut | None


class BatchIn(Schema):
    addresses: list[str] = Field(max_length=services.API_BATCH_MAX)


class BatchOut(Schema):
    rows: int
    matched: int
    results: list[GeocodeOut | None]


def _location(location: Location | None) -> dict[str, Any] | None:
    return location.__dict__ if location is not None else None


def _match(match: GeocodeMatch) -> dict[str, Any]:
    return {
        "query": match.query, "lon": match.lon, "lat": match.lat, "score": match.score, "level": match.level,
        "district_code": match.district_code, "street_code": match.street_code,
        "community_code": match.community_code, "cell_code": match.location.cell_code if match.location else None,
        "address_id": match.address_id, "address_text": match.address_text,
    }  # fmt: skip


@router.get("/locate", response=LocationOut, auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
            summary="The grid cell, community, street and district of a point")  # fmt: skip
def locate(request: HttpRequest, point: Query[PointIn]) -> dict[str, Any] | None:
    """422 (rule spatial.outside_city) for a point outside the city's grid cells."""
    rate_limit_request("spatial.api", request)
    _lon, _lat, location = services.locate_in_city(point.lon, point.lat)
    return _location(location)


@router.get("/geocode", response=GeocodeOut, auth=None, summary="Geocode one Chinese address",
            openapi_extra=OPENAPI_RATE_LIMITED)  # fmt: skip
def geocode(request: HttpRequest, query: Query[GeocodeIn]) -> dict[str, Any]:
    """404 when nothing in the address is known (no district, street, community or road and number)."""
    rate_limit_request("spatial.api", request)
    match = services.geocode(query.address)
    if match is None:
        raise NotFound("Nothing in the address matches a standard address or a division of the city.")
    return _match(match)


@router.get("/reverse", response=ReverseOut, auth=None, openapi_extra=OPENAPI_RATE_LIMITED,
            summary="The nearest standard address and the grid cell of a point")  # fmt: skip
def reverse(request: HttpRequest, point: Query[PointIn]) -> dict[str, Any]:
    rate_limit_request("spatial.api", request)
    found = services.reverse_geocode(lon=point.lon, lat=point.lat)
    return {
        "lon": found.lon, "lat": found.lat, "address_id": found.address_id, "address_text": found.address_text,
        "distance_m": found.distance_m, "location": _location(found.location),
    }  # fmt: skip


@router.post(
    "/geocode/batch", response=BatchOut, summary="Geocode a batch of addresses (at most 10,000)",
    auth=api_auth("spatial.geocode.batch", scope=SCOPE_GEOCODE, permission=GEOCODE_BATCH_PERMISSION),
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def geocode_batch(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    user = request.auth  # type: ignore[attr-defined]
    note_actor(user)
    results = services.geocode_many(actor=user, addresses=payload.addresses)
    return {
        "rows": len(results),
        "matched": sum(r is not None for r in results),
        "results": [_match(r) if r is not None else None for r in results],
    }
