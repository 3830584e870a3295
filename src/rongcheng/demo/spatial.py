"""The demo city's points of interest, registered through the spatial services in every district (鼓楼区 included):
a government service centre per district, a convenience window per street, a school, a hospital and a park per
district, and metro stations of line 1 in the urban districts. Each point is the centre of a grid cell of its
district (the first cell, in code order, that locates to that district: the districts' demo boxes overlap).

The demo's window and approval roles may also geocode files of addresses (`spatial.geocode_batch`) and register
points of interest, so the batch geocoding page can be tried with the `police` or window accounts.

Idempotent: a point of interest that exists (kind and name) is left as it is.
"""

from __future__ import annotations

from rongcheng.audit.services import Actor
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.spatial.models import PointOfInterest
from rongcheng.spatial.selectors import locate
from rongcheng.spatial.services import poi_register
from rongcheng.staff.models import Role
from rongcheng.staff.services import role_define

SYSTEM = Actor(kind="system", id="demo-seed", label="演示城市生成程序")
SPATIAL_ROLES = ("窗口工作人员", "户籍民警", "审批人员")
SPATIAL_PERMISSIONS = frozenset({"spatial.geocode_batch", "spatial.add_pointofinterest"})

# Metro line 1 stations by district (the first line opened in 2016–2017), as (district code, station).
METRO_STATIONS = (
    ("350102", "屏山站"), ("350102", "东街口站"), ("350102", "南门兜站"),
    ("350103", "达道站"), ("350104", "上藤站"), ("350104", "三叉街站"), ("350104", "白湖亭站"),
    ("350111", "福州火车站站"), ("350111", "罗汉山站"),
)  # fmt: skip


def _centres(district: str) -> list[tuple[float, float, str]]:
    """Centres of the district's cells that locate to the district, with the cell's community code."""
    centres = []
    for cell in GridCell.objects.filter(code__startswith=district).order_by("code"):
        lon = round((cell.min_lon + cell.max_lon) / 2, 6)
        lat = round((cell.min_lat + cell.max_lat) / 2, 6)
        location = locate(lon=lon, lat=lat)
        if location is not None and location.district_code == district:
            centres.append((lon, lat, location.cell_code))
    return centres


def _roles_seed() -> None:
    for role in Role.objects.select_related("group").filter(group__name__in=SPATIAL_ROLES):
        current = {
            f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.select_related("content_type")
        }
        if not current >= SPATIAL_PERMISSIONS:
            role_define(
                name=role.group.name, duty=role.duty, description=role.description,
                permissions=sorted(current | SPATIAL_PERMISSIONS), city_wide=role.city_wide, actor=SYSTEM,
            )  # fmt: skip


def demo_spatial_seed() -> int:
    """Register the demo points of interest that do not exist yet; returns how many were added."""
    _roles_seed()
    existing = set(PointOfInterest.objects.values_list("kind", "name"))
    names = dict(Division.objects.values_list("code", "name"))
    added = 0

    def add(kind: str, name: str, point: tuple[float, float, str]) -> None:
        nonlocal added
        if (kind, name) in existing:
            return
        lon, lat, cell = point
        street, community = cell[:9], cell[:12]
        address = f"福州市{names.get(cell[:6], '')}{names.get(street, '')}{names.get(community, '')}"
        poi_register(actor=SYSTEM, kind=kind, name=name, x=lon, y=lat, address_text=address)
        existing.add((kind, name))
        added += 1

    districts = Division.objects.filter(level=DivisionLevel.COUNTY, valid_to__isnull=True).order_by("code")
    for district in districts:
        centres = _centres(district.code)
        if not centres:
            continue

        def pick(i: int, centres: list[tuple[float, float, str]] = centres) -> tuple[float, float, str]:
            return centres[i % len(centres)]

        add("service_hall", f"{district.name}政务服务中心", pick(0))
        for street in Division.objects.filter(parent=district, level=DivisionLevel.STREET).order_by("code"):
            inside = [c for c in centres if c[2].startswith(street.code)]
            if inside:
                add("service_window", f"{district.name}{street.name}便民服务中心", inside[0])
        add("school", f"{district.name}实验小学", pick(len(centres) // 3))
        add("hospital", f"{district.name}人民医院", pick(len(centres) // 2))
        add("park", f"{district.name}中心公园", pick(2 * len(centres) // 3))
        add("police_station", f"{district.name}公安分局城区派出所", pick(len(centres) - 1))
        for i, (_code, station) in enumerate(s for s in METRO_STATIONS if s[0] == district.code):
            add("metro_station", f"地铁1号线{station}", pick(5 + 7 * i))
    return added
