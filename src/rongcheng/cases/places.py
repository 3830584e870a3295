"""Where a point is on the city grid: the one function every intake calls (`place_locate`), asking the platform's
grid (`spatial.selectors.locate`, an STRtree over the grid cells' polygons)."""

from __future__ import annotations

from dataclasses import dataclass

from rongcheng.spatial.selectors import locate


@dataclass(frozen=True)
class Place:
    cell_code: str
    community_code: str
    street_code: str
    district_code: str
    name: str  # 区 街道 社区 网格, for people


def place_locate(*, lon: float, lat: float) -> Place | None:
    location = locate(lon=lon, lat=lat)
    if location is None:
        return None
    return Place(
        cell_code=location.cell_code,
        community_code=location.community_code,
        street_code=location.street_code,
        district_code=location.district_code,
        name=" ".join(
            n for n in (location.district_name, location.street_name, location.community_name, location.cell_name) if n
        ),
    )
