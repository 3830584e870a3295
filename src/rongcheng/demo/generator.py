"""Deterministic synthetic Fuzhou: the same seed gives the same city, row for row.

Persons are numbered 0..N-1. Person i gets a unique (birth date, sequence) slot from an affine permutation of the
slot space, so ID numbers never collide however many are generated; a person's ID number depends only on the seed
and its index, so chunk k can be generated without generating chunks 0..k-1 (seeding resumes where it stopped).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from math import gcd
from typing import NamedTuple

from rongcheng.demo import data
from rongcheng.kernel.identifiers import credit_code_make, id_number_make

BIRTH_START = date(1930, 1, 1)
BIRTH_END = date(2025, 12, 31)
_DAYS = (BIRTH_END - BIRTH_START).days + 1
_SLOTS = _DAYS * 1000
_CURRENT_COUNTIES = tuple(code for code, _n, _f, valid_to, _s in data.COUNTIES if valid_to is None)
# Urban districts are denser; weights roughly follow population.
_COUNTY_WEIGHTS = {
    "350102": 7, "350103": 5, "350104": 9, "350105": 2, "350111": 8, "350121": 7, "350122": 6,
    "350123": 3, "350124": 3, "350125": 4, "350128": 4, "350181": 13, "350112": 7,
}  # fmt: skip
_COUNTY_CHOICES = tuple(code for code in _CURRENT_COUNTIES for _ in range(_COUNTY_WEIGHTS[code]))
# Fujian's largest minorities: 畲族, 回族, 苗族, 满族, 高山族 (GB/T 3304 codes).
_MINORITIES = ("22", "22", "22", "03", "06", "11", "23")
_ORGANIZATION_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _multiplier(modulus: int, seed: int) -> int:
    candidate = (seed * 2_654_435_761 + 1_000_003) % modulus or 1
    while gcd(candidate, modulus) != 1:
        candidate += 1
    return candidate


class PersonRow(NamedTuple):  # a NamedTuple: built millions of times, a frozen dataclass costs twice as much
    id_number: str
    name: str
    sex: str
    birth_date: date
    division_code: str
    phone: str
    ethnicity: str


class EntityRow(NamedTuple):
    credit_code: str
    name: str
    registration_department: str
    category: str
    division_code: str
    established_on: date
    representative_index: int


def person_rows(seed: int, start: int, count: int) -> Iterator[PersonRow]:
    if start + count > _SLOTS:
        raise ValueError(f"the demo generator holds at most {_SLOTS} persons")
    multiplier = _multiplier(_SLOTS, seed)
    offset = (seed * 7_919) % _SLOTS
    rng = random.Random(seed * 1_000_003 + start)
    bits = rng.getrandbits
    surnames, given = data.SURNAMES, data.GIVEN
    n_surnames, n_given = len(surnames), len(given)
    counties = _COUNTY_CHOICES
    n_counties = len(counties)
    start_ordinal = BIRTH_START.toordinal()
    id_make = id_number_make
    fromordinal = date.fromordinal
    for index in range(start, start + count):
        slot = (multiplier * index + offset) % _SLOTS
        birth = fromordinal(start_ordinal + slot // 1000)
        sequence = slot % 1000
        county = counties[(index * 2_654_435_761 + seed) % 4_294_967_291 % n_counties]
        if county == "350112" and birth < data.CHANGLE_CHANGE:
            county = "350182"  # registered before 长乐 became a district: the old code stays on the card
        # One draw of random bits per person, cut into the fields: Random.choice per field costs three times more.
        r = bits(80)
        r, phone = divmod(r, 10**9)
        r, carrier = divmod(r, 4)
        r, family = divmod(r, n_surnames)
        r, first = divmod(r, n_given)
        r, second = divmod(r, n_given)
        r, third = divmod(r, 3)
        name = surnames[family] + given[first] + (given[second] if third else "")
        ethnicity = "01" if r % 100 < 96 else _MINORITIES[r % len(_MINORITIES)]
        yield PersonRow(
            id_make(division_code=county, birth_date=birth, sequence=sequence),
            name,
            "male" if sequence % 2 else "female",
            birth,
            county,
            f"1{'3578'[carrier]}{phone:09d}",
            ethnicity,
        )


def entity_rows(seed: int, start: int, count: int, persons: int) -> Iterator[EntityRow]:
    modulus = 31**6
    multiplier = _multiplier(modulus, seed + 1)
    rng = random.Random(seed * 2_000_003 + start)
    choice = rng.choice
    for index in range(start, start + count):
        serial = (multiplier * index + seed) % modulus
        body = "MA"
        for _ in range(6):
            serial, digit = divmod(serial, 31)
            body += _ORGANIZATION_ALPHABET[digit]
        kind = rng.random()
        department, category = ("9", "1") if kind < 0.7 else ("9", "2") if kind < 0.95 else ("9", "3")
        county = choice(_CURRENT_COUNTIES)
        trade = choice(data.ENTITY_TRADES)
        suffix = {"1": "有限公司", "2": "经营部", "3": "专业合作社"}[category]
        yield EntityRow(
            credit_code=credit_code_make(
                registration_department=department, category=category, division_code=county, organization_body=body
            ),
            name=f"福州{choice(data.ENTITY_WORDS)}{trade}{index}号{suffix}",
            registration_department=department,
            category=category,
            division_code=county,
            established_on=date(2000, 1, 1) + timedelta(days=rng.randrange(9000)),
            representative_index=rng.randrange(persons) if persons else -1,
        )


@dataclass(frozen=True)
class PlaceRow:
    code: str
    name: str
    level: str
    parent_code: str | None
    box: tuple[float, float, float, float] | None = None


class AddressRow(NamedTuple):
    text: str
    division_code: str  # the current county of the grid cell the address lies in
    longitude: float
    latitude: float


def address_rows(seed: int) -> Iterator[AddressRow]:
    """A few standard addresses in every grid cell: county, street, community, road and number, the point inside
    the cell's box; the same seed gives the same addresses."""
    names = {code: name for code, name, *_ in data.COUNTIES}
    street_name = community_name = ""
    rng = random.Random(seed * 3_000_017)
    for row in place_rows(seed):
        if row.level == "street":
            street_name = row.name
        elif row.level == "community":
            community_name = row.name
        elif row.box is not None:
            county = row.code[:6]
            x0, y0, x1, y1 = row.box
            road = data.ROAD_WORDS[rng.randrange(len(data.ROAD_WORDS))]
            for n in range(data.ADDRESSES_PER_CELL):
                number = int(row.code[-2:]) * 100 + n * 2 + 1  # unique in the community: cell and building
                yield AddressRow(
                    f"福州市{names[county]}{street_name}{community_name}{road}{number}号",
                    county,
                    round(x0 + (x1 - x0) * (n + 0.5) / data.ADDRESSES_PER_CELL, 6),
                    round((y0 + y1) / 2, 6),
                )


def address_for(index: int, county: str, pool: dict[str, tuple[int, ...]]) -> int | None:
    """The address (id) of person or entity `index` among its county's addresses (长乐市's old code: 长乐区's)."""
    choices = pool.get(county) or pool.get(data.SUCCESSORS.get(county, ""), ())
    return choices[(index * 40_503) % len(choices)] if choices else None


def place_rows(seed: int, streets: int = 4, communities: int = 3, cells: int = 4) -> Iterator[PlaceRow]:
    """Streets, communities and grid cells under each current county, tiling the county's box."""
    rng = random.Random(seed)
    for county, _name, _from, valid_to, _successor in data.COUNTIES:
        if valid_to is not None:
            continue
        lon0, lat0, lon1, lat1 = data.COUNTY_BOXES[county]
        street_width = (lon1 - lon0) / streets
        for s in range(streets):
            street_code = f"{county}{s + 1:03d}"
            word = rng.randrange(0, len(data.STREET_WORDS) - 1, 2)
            street_name = data.STREET_WORDS[word : word + 2] + data.STREET_SUFFIXES[0 if s < streets - 1 else 1]
            yield PlaceRow(street_code, street_name, "street", county)
            community_height = (lat1 - lat0) / communities
            for c in range(communities):
                community_code = f"{street_code}{c + 1:03d}"
                word = rng.randrange(0, len(data.COMMUNITY_WORDS) - 1, 2)
                yield PlaceRow(community_code, data.COMMUNITY_WORDS[word : word + 2] + "社区", "community", street_code)
                cell_width = street_width / cells
                for g in range(cells):
                    x0 = lon0 + s * street_width + g * cell_width
                    y0 = lat0 + c * community_height
                    box = (round(x0, 6), round(y0, 6), round(x0 + cell_width, 6), round(y0 + community_height, 6))
                    yield PlaceRow(f"{community_code}{g + 1:02d}", f"第{g + 1}网格", "grid", community_code, box)
