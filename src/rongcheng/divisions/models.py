"""Administrative divisions below the county (streets, communities) and the grid cells under them.

County-level and higher divisions come from the kernel's GB/T 2260 table; this app stores the city's own tree
(区县 → 街道 → 社区) with validity periods, and the grid cells (单元网格) of digital city management.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DivisionLevel(models.TextChoices):
    PREFECTURE = "prefecture", _("地级市")
    COUNTY = "county", _("区县")
    STREET = "street", _("街道/乡镇")
    COMMUNITY = "community", _("社区/村")


class Division(models.Model):
    """A node of the city's division tree. Codes: 6 digits (GB/T 2260), +3 street, +3 community."""

    code = models.CharField(_("code"), max_length=12, unique=True)
    name = models.CharField(_("name"), max_length=60)
    level = models.CharField(_("level"), max_length=12, choices=DivisionLevel.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    successor = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="predecessors")

    class Meta:
        ordering = ["code"]
        verbose_name = _("division")
        verbose_name_plural = _("divisions")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_from__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="divisions_division_valid_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GridCell(models.Model):
    """A unit grid cell (单元网格). Code: community code (12 digits) + 2-digit sequence (CJ/T 213)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=60)
    community = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="grid_cells")
    # WGS84 polygon as GeoJSON coordinates; the bounding box is kept for fast point lookup.
    polygon = models.JSONField(_("polygon"))
    min_lon = models.FloatField()
    min_lat = models.FloatField()
    max_lon = models.FloatField()
    max_lat = models.FloatField()

    class Meta:
        ordering = ["code"]
        verbose_name = _("grid cell")
        verbose_name_plural = _("grid cells")
        indexes = [models.Index(fields=["min_lon", "min_lat"], name="divisions_gridcell_bbox")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
