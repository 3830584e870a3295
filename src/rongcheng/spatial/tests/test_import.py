"""Importing points of interest: GeoJSON, zipped Shapefile, CSV; every feature checked, nothing stored on an error."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import shapefile

from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor
from rongcheng.spatial.errors import SpatialInputInvalid
from rongcheng.spatial.models import PoiImport, PointOfInterest, PointOfInterestVersion
from rongcheng.spatial.selectors import poi_history, poi_imports
from rongcheng.spatial.services import from_wgs84, poi_import, poi_register

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def _geojson(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def _point(x: float, y: float, **properties: str) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": properties}


def _shapefile_zip(points: list[tuple[float, float, str, str]], *, cpg: bytes | None = b"UTF-8") -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    writer = shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POINT, encoding="utf-8")
    writer.field("KIND", "C", size=20)
    writer.field("NAME", "C", size=100)
    for x, y, kind, name in points:
        writer.point(x, y)
        writer.record(kind, name)
    writer.close()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("pois/pois.shp", shp.getvalue())
        archive.writestr("pois/pois.shx", shx.getvalue())
        archive.writestr("pois/pois.dbf", dbf.getvalue())
        if cpg is not None:
            archive.writestr("pois/pois.cpg", cpg)
    return out.getvalue()


def test_a_geojson_file_is_imported_with_division_codes(small_city):
    data = _geojson(_point(119.21, 26.01, kind="school", name="鼓东小学", address="鼓东路1号"),
                    _point(119.33, 26.04, kind="医院", name="台江医院"))  # fmt: skip
    report = poi_import(actor=SYSTEM, data=data, file_format="geojson")
    assert (report.features, report.added, report.updated) == (2, 2, 0)
    rows = list(PointOfInterest.objects.order_by("name").values_list("name", "kind", "cell_code", "source_crs"))
    assert rows == [
        ("台江医院", "hospital", "35010300100101", "wgs84"),
        ("鼓东小学", "school", "35010200100101", "wgs84"),
    ]
    again = poi_import(actor=SYSTEM, data=data, file_format="geojson")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)  # the same file again changes nothing
    assert PointOfInterestVersion.objects.count() == 0
    assert PointOfInterest.objects.filter(version=1).count() == 2


def test_a_reimport_keeps_the_previous_state_of_what_it_changes(small_city):
    first = poi_import(actor=SYSTEM, file_format="geojson", data=_geojson(
        _point(119.21, 26.01, kind="school", name="鼓东小学", address="鼓东路1号"),
        _point(119.33, 26.04, kind="hospital", name="台江医院"),
    ))  # fmt: skip
    school = PointOfInterest.objects.get(name="鼓东小学")
    began = school.valid_from
    second = poi_import(actor=Actor.system("GIS import"), file_format="geojson", data=_geojson(
        _point(119.27, 26.08, kind="school", name="鼓东小学", address="鼓西路2号"),  # moved to another street
        _point(119.33, 26.04, kind="hospital", name="台江医院"),  # as it was
        _point(119.36, 26.06, kind="park", name="后洲公园"),  # new
    ))  # fmt: skip
    assert (second.features, second.added, second.updated, second.unchanged) == (3, 1, 1, 1)
    school.refresh_from_db()
    assert (school.version, school.cell_code, school.address_text) == (2, "35010200200102", "鼓西路2号")
    assert school.source_import_id == second.import_id
    assert school.valid_from > began
    (kept,) = poi_history(poi_id=school.pk)
    assert (kept.version, kept.cell_code, kept.address_text, kept.longitude, kept.latitude) == (
        1, "35010200100101", "鼓东路1号", 119.21, 26.01)  # fmt: skip
    assert (kept.valid_from, kept.valid_to, kept.change) == (began, school.valid_from, "import")
    assert kept.replaced_by_import_id == second.import_id
    assert PointOfInterest.objects.get(name="台江医院").version == 1
    assert [(b.pk, b.added, b.updated, b.unchanged, b.actor_label) for b in poi_imports()] == [
        (second.import_id, 1, 1, 1, "GIS import"), (first.import_id, 2, 0, 0, "tests")]  # fmt: skip
    audit = AuditRecord.objects.filter(action="spatial.poi.import").order_by("id").last()
    assert audit is not None
    assert audit.target_id == str(second.import_id)
    assert audit.detail == {"format": "geojson", "crs": "wgs84", "features": 3, "added": 1, "updated": 1,
                            "unchanged": 1}  # fmt: skip


def test_registering_a_point_again_versions_only_a_change(small_city):
    poi, created = poi_register(actor=SYSTEM, kind="park", name="西湖公园", x=119.28, y=26.09)
    assert (created, poi.version) == (True, 1)
    poi, created = poi_register(actor=SYSTEM, kind="park", name="西湖公园", x=119.28, y=26.09)
    assert (created, poi.version, PointOfInterestVersion.objects.count()) == (False, 1, 0)
    poi, _ = poi_register(actor=SYSTEM, kind="park", name="西湖公园", x=119.285, y=26.09, address_text="湖滨路")
    assert poi.version == 2
    (kept,) = poi_history(poi_id=poi.pk)
    assert (kept.version, kept.longitude, kept.address_text, kept.change, kept.replaced_by_import) == (
        1, 119.28, "", "register", None)  # fmt: skip


def test_a_zipped_shapefile_in_gcj02_is_converted(small_city):
    x, y = from_wgs84(119.27, 26.08, crs="gcj02")
    report = poi_import(actor=SYSTEM, data=_shapefile_zip([(x, y, "park", "西湖公园")]), file_format="shapefile",
                        crs="gcj02")  # fmt: skip
    assert report.added == 1
    park = PointOfInterest.objects.get()
    assert (park.longitude, park.latitude) == pytest.approx((119.27, 26.08), abs=1e-6)
    assert (park.source_crs, park.cell_code) == ("gcj02", "35010200200102")


def test_a_csv_file_with_coordinates(small_city):
    data = "kind,name,lon,lat\nmetro_station,地铁1号线东街口站,119.26,26.06\n".encode()
    assert poi_import(actor=SYSTEM, data=data, file_format="csv").added == 1


def test_every_bad_feature_is_reported_and_nothing_is_stored(small_city):
    bowtie = {"type": "Polygon", "coordinates": [[[119.21, 26.01], [119.22, 26.02], [119.22, 26.01], [119.21, 26.02],
                                                  [119.21, 26.01]]]}  # fmt: skip
    data = _geojson(
        _point(119.21, 26.01, kind="school", name="好学校"),
        _point(118.0, 25.0, kind="school", name="远方学校"),
        {"type": "Feature", "geometry": bowtie, "properties": {"kind": "park", "name": "蝴蝶公园"}},
        _point(119.22, 26.02, kind="castle", name=""),
        _point(119.23, 26.03, kind="school", name="好学校"),
        {"type": "Feature", "geometry": None, "properties": {"kind": "park", "name": "无处公园"}},
    )
    before = AuditRecord.objects.count()
    with pytest.raises(SpatialInputInvalid) as caught:
        poi_import(actor=SYSTEM, data=data, file_format="geojson")
    assert caught.value.detail == "5 of 6 features have errors; nothing was stored."
    assert [(e["loc"][1], e["loc"][2], e["rule"]) for e in caught.value.errors] == [
        (2, "geometry", "geometry.outside_city"),
        (3, "geometry", "geometry.invalid"),
        (4, "kind", "kind.unknown"),
        (4, "name", "name.length"),
        (5, "name", "name.duplicate"),
        (6, "geometry", "geometry.missing"),
    ]
    assert "Self-intersection" in caught.value.errors[1]["msg"]
    assert not PointOfInterest.objects.exists()
    assert not PoiImport.objects.exists()  # no version of the layer either
    assert AuditRecord.objects.count() == before + 1


@pytest.mark.parametrize(
    ("data", "file_format", "message"),
    [
        (b"PK\x03\x04 not really", "shapefile", "not a zip archive"),
        (b"just text", "shapefile", "not a zip archive"),
        (b"{", "geojson", "not GeoJSON"),
        (b'{"type": "Point", "coordinates": [1, 2]}', "geojson", "FeatureCollection"),
        (b"name,kind\na,b\n", "csv", "two columns with the coordinates"),
        (b"x", "kml", "The format is one of"),
    ],
)
def test_files_that_are_not_what_they_claim_are_refused(small_city, data, file_format, message):
    with pytest.raises(SpatialInputInvalid, match=message):
        poi_import(actor=SYSTEM, data=data, file_format=file_format)


def test_a_zip_without_a_shapefile_is_refused(small_city):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(SpatialInputInvalid, match="no Shapefile"):
        poi_import(actor=SYSTEM, data=out.getvalue(), file_format="shapefile")
    broken = _shapefile_zip([(119.21, 26.01, "park", "公园")]).replace(b"pois.dbf", b"pois.dbx")
    with pytest.raises(SpatialInputInvalid):
        poi_import(actor=SYSTEM, data=broken, file_format="shapefile")
