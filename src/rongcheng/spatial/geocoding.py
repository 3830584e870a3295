"""Geocoding Chinese addresses against the base registry's standard addresses and the division tree.

An address is read left to right as the city writes it: (省) (市) 区县 街道/乡镇 社区/村 road number 号, e.g.
`福州市鼓楼区鼓东街道三坊社区杨桥路101号`. Known division names (also without their suffix: 鼓楼 for 鼓楼区) are taken
off the front, then the road and the house number are read. The match is, best first:

1. the standard address with the same text (score 1.0);
2. a standard address with the same road and number, scored by how many of district, street and community agree
   (0.7 to 0.95; a named district that contradicts it excludes it);
3. the centre of the most precise division named (community 0.5, street 0.4, district 0.3).

The point is then located in the grid. Reverse geocoding finds the nearest standard address (an STRtree of their
points) and the grid cell. Both indexes are built once per process and rebuilt when the addresses or divisions
change (a stamp read at most every `selectors.STAMP_INTERVAL` seconds, as the grid's).
"""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import shapely
from django.db.models import Count, Max
from shapely.strtree import STRtree

from rongcheng.divisions.models import Division, DivisionLevel
from rongcheng.registries.models import Address
from rongcheng.spatial import selectors
from rongcheng.spatial.selectors import Location, locate

MAX_TEXT = 200
_PREFIXES = ("中华人民共和国", "中国", "福建省", "福建", "福州市", "福州")
_ROAD_NUMBER = re.compile(
    r"(?P<road>[\u4e00-\u9fffA-Za-z0-9]{1,20}?(?:大道|路|街|巷|弄|里|道))(?P<number>\d{1,6})(?:号|$)"
)
_SUFFIXES = ("街道", "社区", "区", "县", "市", "镇", "乡", "村")
EARTH_RADIUS = 6_371_008.8  # metres, mean radius


@dataclass(frozen=True)
class GeocodeMatch:
    """The best reading of an address: a WGS84 point with what it was matched on and how sure the match is."""

    query: str
    lon: float
    lat: float
    score: float  # 0..1
    level: str  # address, community, street or district: what the point stands for
    district_code: str
    street_code: str
    community_code: str
    address_id: int | None
    address_text: str
    location: Location | None


@dataclass(frozen=True)
class ReverseMatch:
    lon: float
    lat: float
    address_id: int | None
    address_text: str
    distance_m: float | None
    location: Location | None


@dataclass(frozen=True)
class _Parsed:
    district: str  # codes, '' when not named
    street: str
    community: str
    road: str
    number: str


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), no blanks, no province or city prefix."""
    text = unicodedata.normalize("NFKC", str(text))[: MAX_TEXT * 2]
    text = "".join(ch for ch in text if not ch.isspace() and ch.isprintable())
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text, changed = text[len(prefix) :], True
    return text[:MAX_TEXT]


def _short(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


@dataclass
class _Candidate:
    id: int
    text: str
    lon: float
    lat: float
    district: str
    street: str
    community: str


class _Index:
    def __init__(self, stamp: tuple[Any, ...]) -> None:
        self.stamp = stamp
        rows = list(Division.objects.values_list("code", "name", "level", "parent__code", "successor__code"))
        # name → codes, per level; a retired county reads as its successor (长乐市 → 长乐区).
        self.names: dict[str, dict[str, list[str]]] = {level: defaultdict(list) for level in DivisionLevel.values}
        self.full: set[str] = set()
        self.parent: dict[str, str] = {}
        for code, name, level, parent, successor in rows:
            target = successor or code
            self.full.add(name)
            for form in (name, _short(name)):
                if target not in self.names[level][form]:
                    self.names[level][form].append(target)
            if parent:
                self.parent[code] = parent
        # Name lengths, longest first: 鼓楼区 is tried before 鼓楼, by a dictionary look-up per length.
        self.lengths = {level: sorted({len(n) for n in names}, reverse=True) for level, names in self.names.items()}
        self.by_text: dict[str, _Candidate] = {}
        self.by_road: dict[tuple[str, str], list[_Candidate]] = defaultdict(list)
        points: list[Any] = []
        self.candidates: list[_Candidate] = []
        for pk, text, division, lon, lat in Address.objects.filter(longitude__isnull=False).values_list(
            "id", "text", "division_code", "longitude", "latitude"
        ):
            parsed = self.parse(normalize(text))
            if lon is None or lat is None:
                continue
            candidate = _Candidate(pk, text, lon, lat, parsed.district or division, parsed.street, parsed.community)
            self.by_text.setdefault(normalize(text), candidate)
            if parsed.road and parsed.number:
                self.by_road[(parsed.road, parsed.number)].append(candidate)
            self.candidates.append(candidate)
            points.append(shapely.Point(lon, lat))
        self.tree = STRtree(points)

    def _take(self, text: str, level: str, within: str, full_only: bool) -> tuple[str, str]:
        """The code of the division of `level` named at the front of `text` (under `within` if given), and the rest."""
        names = self.names[level]
        for length in self.lengths[level]:
            name = text[:length]
            if len(name) == length and name in names and (not full_only or name in self.full):
                codes = names[name]
                if within:
                    codes = [c for c in codes if c.startswith(within)]
                if codes:
                    return codes[0], text[len(name) :]
        return "", text

    def parse(self, text: str) -> _Parsed:
        """Read the divisions off the front and then the road and number; when a short name (鼓东 for 鼓东街道) ate
        what was the road (东街 the street or the road?), read again with full names only."""
        parsed = self._parse(text, full_only=False)
        if not parsed.road:
            again = self._parse(text, full_only=True)
            if again.road:
                return again
        return parsed

    def _parse(self, text: str, *, full_only: bool) -> _Parsed:
        district, rest = self._take(text, DivisionLevel.COUNTY, "", full_only)
        street, rest = self._take(rest, DivisionLevel.STREET, district, full_only)
        if street and not district:
            district = self.parent.get(street, "")
        community, rest = self._take(rest, DivisionLevel.COMMUNITY, street or district, full_only)
        if community and not street:
            street = self.parent.get(community, "")
            district = district or self.parent.get(street, "")
        found = _ROAD_NUMBER.search(rest)
        road, number = (found["road"], found["number"]) if found else ("", "")
        return _Parsed(district, street, community, road, number)


_lock = threading.Lock()
_index: _Index | None = None
_drops = 0
_checked = threading.local()  # per thread, as the grid's (`selectors._grid`)


def _stamp() -> tuple[Any, ...]:
    addresses = Address.objects.aggregate(n=Count("id"), top=Max("id"))
    divisions = Division.objects.aggregate(n=Count("id"), top=Max("id"))
    return (addresses["n"], addresses["top"], divisions["n"], divisions["top"])


def geocoding_index_drop() -> None:
    global _index, _drops
    with _lock:
        _index = None
        _drops += 1


def _current() -> _Index:
    """The current index; each thread compares the stamp on its own connection after a drop and every
    STAMP_INTERVAL (see `selectors._grid`)."""
    global _index
    index = _index
    now = time.monotonic()
    last = getattr(_checked, "last", None)
    if index is not None and last is not None and last[0] == _drops and now - last[1] < selectors.STAMP_INTERVAL:
        return index
    with _lock:
        drops = _drops
        stamp = _stamp()
        if _index is None or _index.stamp != stamp:
            _index = _Index(stamp)
        _checked.last = (drops, now)
        return _index


def _centre(code: str) -> tuple[float, float] | None:
    outline = selectors.division_outline_shape(code=code)
    if outline is None:
        return None
    point = outline.representative_point() if not outline.contains(outline.centroid) else outline.centroid
    return round(point.x, 6), round(point.y, 6)


def geocode(text: str) -> GeocodeMatch | None:
    """The best match of a Chinese address, or None when nothing in it is known."""
    query = normalize(text)
    if not query:
        return None
    index = _current()
    exact = index.by_text.get(query)
    if exact is not None:
        return _address_match(str(text)[:MAX_TEXT], exact, 1.0)
    parsed = index.parse(query)
    best: tuple[float, _Candidate] | None = None
    for candidate in index.by_road.get((parsed.road, parsed.number), ()):
        if parsed.district and candidate.district != parsed.district:
            continue
        score = 0.7
        score += 0.1 if parsed.district and candidate.district == parsed.district else 0.0
        score += 0.1 if parsed.street and candidate.street == parsed.street else 0.0
        score += 0.05 if parsed.community and candidate.community == parsed.community else 0.0
        if (parsed.street and candidate.street and candidate.street != parsed.street) or (
            parsed.community and candidate.community and candidate.community != parsed.community
        ):
            score -= 0.2
        if best is None or score > best[0]:
            best = (score, candidate)
    if best is not None:
        return _address_match(str(text)[:MAX_TEXT], best[1], round(best[0], 2))
    for code, level, score in (
        (parsed.community, "community", 0.5),
        (parsed.street, "street", 0.4),
        (parsed.district, "district", 0.3),
    ):
        if code and (point := _centre(code)) is not None:
            location = locate(lon=point[0], lat=point[1])
            return GeocodeMatch(
                query=str(text)[:MAX_TEXT], lon=point[0], lat=point[1], score=score, level=level,
                district_code=parsed.district, street_code=parsed.street if level != "district" else "",
                community_code=parsed.community if level == "community" else "", address_id=None, address_text="",
                location=location,
            )  # fmt: skip
    return None


def _address_match(query: str, candidate: _Candidate, score: float) -> GeocodeMatch:
    location = locate(lon=candidate.lon, lat=candidate.lat)
    return GeocodeMatch(
        query=query,
        lon=candidate.lon,
        lat=candidate.lat,
        score=score,
        level="address",
        district_code=location.district_code if location else candidate.district,
        street_code=location.street_code if location else candidate.street,
        community_code=location.community_code if location else candidate.community,
        address_id=candidate.id,
        address_text=candidate.text,
        location=location,
    )


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on the mean sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(min(1.0, a)))


def reverse_geocode(lon: float, lat: float) -> ReverseMatch:
    """The nearest standard address (by the planar nearest in degrees, then its true distance) and the grid cell."""
    index = _current()
    location = locate(lon=lon, lat=lat)
    if not index.candidates:
        return ReverseMatch(lon, lat, None, "", None, location)
    # Degrees of longitude are shorter than of latitude here: the planar nearest is re-ranked by true distance.
    near = index.tree.query_nearest(shapely.Point(lon, lat), all_matches=True)
    radius = 0.01
    around = index.tree.query(shapely.Point(lon, lat).buffer(radius))
    pool = {int(i) for i in near} | {int(i) for i in around}
    best = min(pool, key=lambda i: distance_m(lon, lat, index.candidates[i].lon, index.candidates[i].lat))
    candidate = index.candidates[best]
    return ReverseMatch(
        lon, lat, candidate.id, candidate.text, round(distance_m(lon, lat, candidate.lon, candidate.lat), 1), location
    )
