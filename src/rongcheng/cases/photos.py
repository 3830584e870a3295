"""Photos of cases: checked to be real images (decoded by Pillow) within the size limits before anything is
stored, then kept in the data directory under their SHA-256."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from rongcheng.cases.errors import PhotoInvalid

MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 50_000_000
MAX_PHOTOS = 6
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str


def _refuse(index: int, message: str) -> PhotoInvalid:
    return PhotoInvalid(message, errors=[{"loc": ["photos", index], "rule": "photo.image", "msg": message}])


def photo_check(data: bytes, index: int = 0) -> Photo:
    """The photo if `data` is a JPEG, PNG or WebP image within the limits; PhotoInvalid otherwise."""
    if len(data) > MAX_BYTES:
        raise _refuse(index, f"The photo is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    if not data:
        raise _refuse(index, "The photo is empty.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            if kind not in FORMATS:
                raise _refuse(index, "The photo must be a JPEG, PNG or WebP image.")
            if width * height > MAX_PIXELS:
                raise _refuse(index, "The photo has too many pixels.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: a truncated or forged file fails here
    except PhotoInvalid:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise _refuse(index, "The file is not an image (JPEG, PNG or WebP).") from exc
    content_type, extension = FORMATS[kind]
    return Photo(data, content_type, extension, width, height, hashlib.sha256(data).hexdigest())


def photos_check(files: list[bytes]) -> list[Photo]:
    if len(files) > MAX_PHOTOS:
        raise PhotoInvalid(
            f"At most {MAX_PHOTOS} photos.",
            errors=[{"loc": ["photos"], "rule": "photo.count", "msg": str(MAX_PHOTOS)}],
        )
    return [photo_check(data, i) for i, data in enumerate(files)]


def photo_root() -> Path:
    return Path(settings.DATA_DIR) / "cases" / "photos"


def photo_write(photo: Photo) -> str:
    """Store the bytes (once per content) and return the path relative to the photo root."""
    relative = f"{photo.sha256[:2]}/{photo.sha256}.{photo.extension}"
    path = photo_root() / relative
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(photo.data)
        partial.replace(path)
    return relative
