"""Coordinate systems data arrives in, converted to WGS84 (CRS84: longitude, latitude in degrees).

- **GCJ-02** (国测局坐标, consumer phone maps): the published obfuscation (Krasovsky ellipsoid constants, offsets
  from two trigonometric series). The forward transform WGS84 → GCJ-02 is closed-form; the inverse has none and is
  found by fixed-point iteration until the forward image of the estimate lies within 1e-9 degrees (about 0.1 mm)
  of the given point. Outside mainland China's rough rectangle the two systems coincide.
- **Web Mercator** (EPSG:3857, metres on a sphere of the WGS84 semi-major axis): spherical formulas, latitude
  limited to ±85.051129°.
- **CGCS2000** (国家大地坐标系, China's official datum since 2008): its ellipsoid differs from WGS84 only in the
  flattening (1/298.257222101 against 1/298.257223563) and its frame is ITRF97 at epoch 2000.0; the two agree to a
  few centimetres in position, well below a grid cell, so CGCS2000 geographic coordinates are taken as WGS84 as
  they are. A survey-grade conversion (plate motion since 2000, about 3 cm a year in Fujian) is out of scope.
"""

from __future__ import annotations

import math

A = 6378245.0  # Krasovsky 1940 semi-major axis, as in the GCJ-02 algorithm
EE = 0.00669342162296594323  # its first eccentricity squared
MERCATOR_RADIUS = 6378137.0  # WGS84 semi-major axis (EPSG:3857)
MERCATOR_MAX_LAT = 85.0511287798066
MERCATOR_MAX = math.pi * MERCATOR_RADIUS  # 20037508.342789244 m


def _out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _lat_series(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _lon_series(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(lon: float, lat: float) -> tuple[float, float]:
    d_lat = _lat_series(lon - 105.0, lat - 35.0)
    d_lon = _lon_series(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((A * (1 - EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if _out_of_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """The inverse by iteration: w ← w + (g − forward(w)), starting from g; converges in a few steps."""
    if _out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(30):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = lon - f_lon, lat - f_lat
        if abs(e_lon) < 1e-9 and abs(e_lat) < 1e-9:
            break
        w_lon, w_lat = w_lon + e_lon, w_lat + e_lat
    return w_lon, w_lat


def web_mercator_to_wgs84(x: float, y: float) -> tuple[float, float]:
    lon = math.degrees(x / MERCATOR_RADIUS)
    lat = math.degrees(2 * math.atan(math.exp(y / MERCATOR_RADIUS)) - math.pi / 2)
    return lon, lat


def wgs84_to_web_mercator(lon: float, lat: float) -> tuple[float, float]:
    lat = max(-MERCATOR_MAX_LAT, min(MERCATOR_MAX_LAT, lat))
    x = MERCATOR_RADIUS * math.radians(lon)
    y = MERCATOR_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return x, y
