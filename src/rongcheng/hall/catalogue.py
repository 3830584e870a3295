"""The declared materials of a service (申请材料) and the rules for each kind of source.

A material is one of:
  {"code", "name", "source": "licence", "licence_type": "<licence type code>", "required"}
  {"code", "name", "source": "registry", "fields": ["person.name", ...], "required"}
  {"code", "name", "source": "upload", "formats": ["pdf", "jpg", ...], "max_bytes": N, "required"}
Codes are stable: applications store them. Licence types are referred to by code so the catalogue does not depend on
the licence rows existing yet.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.translation import gettext_noop

from rongcheng.hall.errors import ServiceItemInvalid, UploadRefused

# The registry fields a material may be filled from, with their labels. Personal data the applicant's form needs
# only masked (the officer reads the clear value through the registries, entitled and audited) is marked so.
REGISTRY_FIELDS: dict[str, tuple[str, bool]] = {
    "person.name": (gettext_noop("姓名"), False),
    "person.id_number": (gettext_noop("公民身份号码"), True),
    "person.sex": (gettext_noop("性别"), False),
    "person.birth_date": (gettext_noop("出生日期"), False),
    "person.ethnicity": (gettext_noop("民族"), False),
    "person.division_code": (gettext_noop("户籍地行政区划"), False),
    "person.address": (gettext_noop("住址"), False),
    "person.phone": (gettext_noop("联系电话"), True),
}
FORMATS = ("pdf", "jpg", "png", "ofd")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MATERIAL_SOURCES = ("licence", "registry", "upload")


def _problem(index: int, field: str, rule: str, message: str) -> ServiceItemInvalid:
    return ServiceItemInvalid(message, errors=[{"loc": ["materials", index, field], "rule": rule, "msg": message}])


def materials_validate(materials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The materials list in its stored form, or ServiceItemInvalid naming the first broken entry."""
    seen: set[str] = set()
    clean: list[dict[str, Any]] = []
    for index, item in enumerate(materials):
        code = str(item.get("code", "")).strip()
        name = str(item.get("name", "")).strip()
        source = item.get("source")
        if not code or not code.replace("_", "").isalnum() or len(code) > 40:
            raise _problem(index, "code", "material.code", "A material code is 1-40 letters, digits or _.")
        if code in seen:
            raise _problem(index, "code", "material.unique", f"The material code {code} is listed twice.")
        seen.add(code)
        if not name:
            raise _problem(index, "name", "material.name", "A material needs a name.")
        entry: dict[str, Any] = {
            "code": code,
            "name": name,
            "source": source,
            "required": bool(item.get("required", True)),
        }
        if source == "licence":
            licence_type = str(item.get("licence_type", "")).strip()
            if not licence_type:
                raise _problem(index, "licence_type", "material.licence_type", "Name the licence type by its code.")
            entry["licence_type"] = licence_type
        elif source == "registry":
            fields = list(item.get("fields") or [])
            unknown = [f for f in fields if f not in REGISTRY_FIELDS]
            if not fields or unknown:
                raise _problem(index, "fields", "material.fields", f"Unknown or missing registry fields: {unknown}.")
            entry["fields"] = fields
        elif source == "upload":
            formats = list(item.get("formats") or [])
            max_bytes = item.get("max_bytes", 5 * 1024 * 1024)
            if not formats or any(f not in FORMATS for f in formats):
                raise _problem(index, "formats", "material.formats", f"Formats must be among {', '.join(FORMATS)}.")
            if not isinstance(max_bytes, int) or not 0 < max_bytes <= MAX_UPLOAD_BYTES:
                raise _problem(index, "max_bytes", "material.max_bytes", f"max_bytes is 1..{MAX_UPLOAD_BYTES}.")
            entry["formats"] = formats
            entry["max_bytes"] = max_bytes
        else:
            raise _problem(index, "source", "material.source", f"source must be one of {', '.join(MATERIAL_SOURCES)}.")
        clean.append(entry)
    return clean


def sniff_format(content: bytes) -> str | None:
    """The file format told by the content itself (its magic bytes), never by the name the uploader gave it."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                if "OFD.xml" in archive.namelist():
                    return "ofd"  # GB/T 33190 OFD: a zip package whose root holds OFD.xml
        except zipfile.BadZipFile:
            return None
    return None


def upload_check(spec: Mapping[str, Any], file_name: str, content: bytes) -> str:
    """The format of an acceptable upload for this material, or UploadRefused saying why."""
    loc = ["file"]
    if not content:
        raise UploadRefused("The file is empty.", errors=[{"loc": loc, "rule": "upload.empty", "msg": "empty"}])
    max_bytes = int(spec.get("max_bytes", 0))
    if len(content) > max_bytes:
        raise UploadRefused(
            f"The file has {len(content)} bytes; this material allows at most {max_bytes}.",
            errors=[{"loc": loc, "rule": "upload.size", "msg": f"at most {max_bytes} bytes"}],
        )
    sniffed = sniff_format(content)
    allowed = list(spec.get("formats", []))
    if sniffed is None or sniffed not in allowed:
        told = sniffed or "unrecognised"
        raise UploadRefused(
            f"The file's content is {told}; this material accepts {', '.join(allowed)}.",
            errors=[{"loc": loc, "rule": "upload.format", "msg": f"content is {told}"}],
        )
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension in FORMATS and extension != sniffed and not (extension == "jpeg" and sniffed == "jpg"):
        raise UploadRefused(
            f"The file is named .{extension} but its content is {sniffed}.",
            errors=[{"loc": loc, "rule": "upload.extension", "msg": "name and content disagree"}],
        )
    return sniffed
