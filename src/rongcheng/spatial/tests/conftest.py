"""A small city for the spatial tests: two districts, each with two streets of one community of two grid cells.

鼓楼区 350102 covers lon 119.20–119.30, lat 26.00–26.10; 台江区 350103 lon 119.30–119.40, same latitudes. Street s of a
district is its west (1) or east (2) half; its community the whole street; cell g its south (1) or north (2) half.
"""

from __future__ import annotations

from datetime import date

import pytest

from rongcheng.divisions.models import Division, DivisionLevel, GridCell

DISTRICTS = {"350102": ("鼓楼区", 119.20), "350103": ("台江区", 119.30)}
STREET_NAMES = {"350102001": "鼓东街道", "350102002": "鼓西街道", "350103001": "瀛洲街道", "350103002": "后洲街道"}


def cell_code(district: str, street: int, cell: int) -> str:
    return f"{district}{street:03d}001{cell:02d}"


@pytest.fixture
def small_city(db):
    city = Division.objects.create(code="350100", name="福州市", level=DivisionLevel.PREFECTURE)
    for code, (name, lon0) in DISTRICTS.items():
        district = Division.objects.create(code=code, name=name, level=DivisionLevel.COUNTY, parent=city)
        for s in (1, 2):
            street_code = f"{code}{s:03d}"
            street = Division.objects.create(
                code=street_code, name=STREET_NAMES[street_code], level=DivisionLevel.STREET, parent=district
            )
            community = Division.objects.create(
                code=f"{street_code}001", name=f"{STREET_NAMES[street_code][:2]}社区", level=DivisionLevel.COMMUNITY,
                parent=street,
            )  # fmt: skip
            x0, x1 = round(lon0 + (s - 1) * 0.05, 6), round(lon0 + s * 0.05, 6)
            for g in (1, 2):
                y0, y1 = round(26.00 + (g - 1) * 0.05, 6), round(26.00 + g * 0.05, 6)
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
                GridCell.objects.create(
                    code=cell_code(code, s, g), name=f"第{g}网格", community=community,
                    polygon={"type": "Polygon", "coordinates": [ring]},
                    min_lon=x0, min_lat=y0, max_lon=x1, max_lat=y1,
                )  # fmt: skip
    changle = Division.objects.create(
        code="350112", name="长乐区", level=DivisionLevel.COUNTY, parent=city, valid_from=date(2017, 10, 1)
    )
    Division.objects.create(
        code="350182", name="长乐市", level=DivisionLevel.COUNTY, parent=city, valid_to=date(2017, 9, 30),
        successor=changle,
    )  # fmt: skip
    return city
