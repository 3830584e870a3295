"""Points of interest (兴趣点) held by the spatio-temporal platform.

Coordinates are stored in WGS84 (CRS84 axis order: longitude, latitude) whatever system they arrived in; the
system they arrived in is kept (`source_crs`) with the coordinates as sent, so a conversion can be checked later.
The division codes are those of the grid cell the point lies in when it was registered (`spatial.selectors.locate`).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CoordinateSystem(models.TextChoices):
    """Coordinate reference systems data arrives in. The platform speaks WGS84 (CRS84)."""

    WGS84 = "wgs84", _("WGS 84（GPS）")
    CGCS2000 = "cgcs2000", _("CGCS2000（国家大地坐标系）")
    GCJ02 = "gcj02", _("GCJ-02（国测局坐标，手机地图）")
    WEB_MERCATOR = "web_mercator", _("Web 墨卡托（EPSG:3857）")


class PoiKind(models.TextChoices):
    SERVICE_HALL = "service_hall", _("政务服务中心")
    SERVICE_WINDOW = "service_window", _("便民服务窗口")
    SCHOOL = "school", _("学校")
    HOSPITAL = "hospital", _("医院")
    PARK = "park", _("公园")
    METRO_STATION = "metro_station", _("地铁站")
    POLICE_STATION = "police_station", _("派出所")


class PoiImport(models.Model):
    """One import of a file of points of interest, as the layer's version it made: the file's format and coordinate
    system, how many features it added, changed and found unchanged, who imported it and when."""

    file_format = models.CharField(_("format"), max_length=12)
    crs = models.CharField(_("coordinate system"), max_length=12, choices=CoordinateSystem.choices)
    features = models.PositiveIntegerField(_("features"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    updated = models.PositiveIntegerField(_("changed"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    actor_id = models.CharField(_("imported by"), max_length=64, blank=True)
    actor_label = models.CharField(_("imported by (name)"), max_length=150, blank=True)
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("import of points of interest")
        verbose_name_plural = _("imports of points of interest")

    def __str__(self) -> str:
        return f"{self.file_format} {self.imported_at:%Y-%m-%d %H:%M}"


class PointOfInterest(models.Model):
    kind = models.CharField(_("kind"), max_length=20, choices=PoiKind.choices)
    name = models.CharField(_("name"), max_length=100)
    address_text = models.CharField(_("address"), max_length=200, blank=True)
    district_code = models.CharField(_("district code"), max_length=6, db_index=True)
    street_code = models.CharField(_("street code"), max_length=9)
    community_code = models.CharField(_("community code"), max_length=12)
    cell_code = models.CharField(_("grid cell code"), max_length=20)
    longitude = models.FloatField(_("longitude"))
    latitude = models.FloatField(_("latitude"))
    source_crs = models.CharField(_("source coordinate system"), max_length=12, choices=CoordinateSystem.choices)
    source_x = models.FloatField(_("source x"))
    source_y = models.FloatField(_("source y"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Versioned like the base registries: a change keeps the previous state as a PointOfInterestVersion.
    version = models.PositiveIntegerField(_("version"), default=1)
    valid_from = models.DateTimeField(_("current version valid from"), default=timezone.now)
    source_import = models.ForeignKey(
        PoiImport, verbose_name=_("set by import"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("point of interest")
        verbose_name_plural = _("points of interest")
        permissions = [("geocode_batch", _("Can geocode a file of addresses"))]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="spatial_poi_unique_kind_name"),
            models.CheckConstraint(
                condition=models.Q(longitude__gte=-180, longitude__lte=180, latitude__gte=-90, latitude__lte=90),
                name="spatial_poi_point_in_range",
            ),
        ]
        indexes = [models.Index(fields=["longitude", "latitude"], name="spatial_poi_point")]

    def __str__(self) -> str:
        return self.name


class PoiChange(models.TextChoices):
    REGISTER = "register", _("登记")
    IMPORT = "import", _("导入")


class PointOfInterestVersion(models.Model):
    """A superseded state of a point of interest, valid from `valid_from` until `valid_to`, kept when a registration
    or an import (`replaced_by_import`) changed it. The current state lives in the point itself."""

    poi = models.ForeignKey(PointOfInterest, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=20, choices=PoiKind.choices)
    name = models.CharField(_("name"), max_length=100)
    address_text = models.CharField(_("address"), max_length=200, blank=True)
    district_code = models.CharField(_("district code"), max_length=6)
    street_code = models.CharField(_("street code"), max_length=9)
    community_code = models.CharField(_("community code"), max_length=12)
    cell_code = models.CharField(_("grid cell code"), max_length=20)
    longitude = models.FloatField(_("longitude"))
    latitude = models.FloatField(_("latitude"))
    source_crs = models.CharField(_("source coordinate system"), max_length=12, choices=CoordinateSystem.choices)
    source_x = models.FloatField(_("source x"))
    source_y = models.FloatField(_("source y"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid to"))
    change = models.CharField(_("replaced by"), max_length=10, choices=PoiChange.choices)
    replaced_by_import = models.ForeignKey(
        PoiImport, verbose_name=_("replaced by import"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )  # fmt: skip

    class Meta:
        ordering = ["poi", "version"]
        verbose_name = _("point of interest version")
        verbose_name_plural = _("point of interest versions")
        constraints = [models.UniqueConstraint(fields=["poi", "version"], name="spatial_poi_version_unique")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"
