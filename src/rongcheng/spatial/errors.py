"""Errors of the spatio-temporal platform, each mapped once to a problem document (API) or a message (pages)."""

from __future__ import annotations

from rongcheng.kernel.errors import NotFound, PermissionDenied, ValidationFailed


class CoordinatesInvalid(ValidationFailed):
    """Coordinates that are not numbers, not finite, or out of their system's range (rule spatial.coordinates)."""

    type_slug = "spatial-coordinates-invalid"
    title = "Invalid coordinates"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"loc": ["point"], "rule": "spatial.coordinates", "msg": detail}])


class OutsideCity(ValidationFailed):
    """A point that lies in none of the city's grid cells (rule spatial.outside_city)."""

    type_slug = "spatial-outside-city"
    title = "Point outside the city"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"loc": ["point"], "rule": "spatial.outside_city", "msg": detail}])


class SpatialInputInvalid(ValidationFailed):
    type_slug = "spatial-input-invalid"
    title = "Invalid spatial data"


class LayerNotFound(NotFound):
    type_slug = "spatial-layer-not-found"
    title = "No such layer"


class SpatialActionDenied(PermissionDenied):
    type_slug = "spatial-denied"
    title = "Not allowed"
