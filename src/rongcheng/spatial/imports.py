"""Reading files of points of interest: GeoJSON, a zipped Shapefile (pyshp) or CSV with coordinates.

Each reader yields (feature number, geometry as GeoJSON or None, properties) or raises `FileUnreadable` for a file
that is not of its format; the checks of each feature (geometry, coordinates, inside the city, kind, name) are the
services' (`services.poi_import`).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import shapefile

MAX_BYTES = 20 * 2**20
MAX_FEATURES = 50_000
Row = tuple[int, dict[str, Any] | None, dict[str, Any]]


class FileUnreadable(Exception):
    """The file is not a file of the format it was given as; the message says why."""


def read_geojson(data: bytes) -> Iterator[Row]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise FileUnreadable("The file is not GeoJSON (JSON text in UTF-8).") from None
    if not isinstance(document, dict) or document.get("type") not in ("FeatureCollection", "Feature"):
        raise FileUnreadable("A GeoJSON FeatureCollection (or one Feature) is needed.")
    features = document.get("features") if document["type"] == "FeatureCollection" else [document]
    if not isinstance(features, list):
        raise FileUnreadable("The FeatureCollection has no list of features.")
    for number, item in enumerate(features, start=1):
        if not isinstance(item, dict):
            yield number, None, {}
            continue
        geometry = item.get("geometry")
        properties = item.get("properties")
        yield (
            number,
            geometry if isinstance(geometry, dict) else None,
            properties if isinstance(properties, dict) else {},
        )


def read_csv(data: bytes) -> Iterator[Row]:
    """A header row with `lon`/`lat` (or `longitude`/`latitude`, `x`/`y`, 经度/纬度) and the properties."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileUnreadable("The file is not UTF-8 text (save the CSV as UTF-8).") from None
    if "\x00" in text:
        raise FileUnreadable("The file is not a CSV text file.")
    reader = csv.DictReader(io.StringIO(text))
    fields = [str(f).strip().lower() for f in reader.fieldnames or []]
    pairs = (("lon", "lat"), ("longitude", "latitude"), ("x", "y"), ("经度", "纬度"))
    columns = next(((x, y) for x, y in pairs if x in fields and y in fields), None)
    if columns is None:
        raise FileUnreadable("The header row needs two columns with the coordinates: lon and lat (or x and y).")
    try:
        for number, raw in enumerate(reader, start=1):
            row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            x, y = row.pop(columns[0], ""), row.pop(columns[1], "")
            yield number, {"type": "Point", "coordinates": [x, y]}, row
    except csv.Error as exc:
        raise FileUnreadable(f"The file is not a readable CSV: {exc}.") from None


def read_shapefile_zip(data: bytes) -> Iterator[Row]:
    """A zip holding one Shapefile (.shp, .shx, .dbf, optionally .cpg); attributes are read as UTF-8 unless .cpg
    names another encoding."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, ValueError):
        raise FileUnreadable("The file is not a zip archive holding a Shapefile.") from None
    if sum(info.file_size for info in members) > 5 * MAX_BYTES:
        raise FileUnreadable("The Shapefile unpacks to more than 100 MB.")
    by_suffix: dict[str, zipfile.ZipInfo] = {}
    for info in members:
        suffix = info.filename.rsplit(".", 1)[-1].lower() if "." in info.filename else ""
        if suffix in ("shp", "shx", "dbf", "cpg"):
            if suffix in by_suffix:
                raise FileUnreadable("The zip holds more than one Shapefile; put one in each file.")
            by_suffix[suffix] = info
    if "shp" not in by_suffix or "dbf" not in by_suffix:
        raise FileUnreadable("The zip holds no Shapefile (a .shp and its .dbf are needed).")
    encoding = "utf-8"
    if "cpg" in by_suffix:
        named = archive.read(by_suffix["cpg"]).decode("ascii", "replace").strip().lower()
        encoding = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "936": "gbk", "gb2312": "gbk"}.get(named, "utf-8")
    try:
        streams = {suffix: io.BytesIO(archive.read(info)) for suffix, info in by_suffix.items() if suffix != "cpg"}
        reader = shapefile.Reader(shp=streams["shp"], shx=streams.get("shx"), dbf=streams["dbf"], encoding=encoding)
        names = [field[0].lower() for field in reader.fields[1:]]
        for number, item in enumerate(reader.iterShapeRecords(), start=1):
            geometry = item.shape.__geo_interface__ if item.shape.shapeType != shapefile.NULL else None
            yield number, geometry, dict(zip(names, list(item.record), strict=False))
    except FileUnreadable:
        raise
    except Exception as exc:  # pyshp raises many kinds for a broken file; each means "not readable"
        raise FileUnreadable(f"The Shapefile cannot be read: {type(exc).__name__}.") from None


READERS = {"geojson": read_geojson, "csv": read_csv, "shapefile": read_shapefile_zip}
