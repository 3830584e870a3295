"""The signed content of a licence and its self-contained export.

Content = the GB/T 36903 elements of the licence (identifier, type, number, issuer, dates, holder with their code,
signer and signing time) plus the face fields as `KZ_<name>`, canonicalised by RFC 8785 and signed with SM2 over
SM3(Z ‖ content) (GB/T 32918, default signer id 1234567812345678), the signature DER-encoded. Any SM2
implementation checks an export with the published public key, e.g.::

    jq -j .canonical export.json > content.bin    # or canonicalise .content with any RFC 8785 implementation
    jq -r .signature.value export.json | base64 -d > signature.der
    openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in content.bin -sigfile signature.der \
        -digest sm3 -pkeyopt distid:1234567812345678
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from django.utils.translation import gettext

from rongcheng.kernel.crypto import DEFAULT_SIGNER_ID, data_keyring
from rongcheng.licences import metadata as md
from rongcheng.licences.canonical import CanonicalJsonError, canonical_json
from rongcheng.licences.errors import LicenceInputInvalid
from rongcheng.licences.models import Licence

EXPORT_FORMAT = "rongcheng-licence/1"
SIGNATURE_ALGORITHM = "SM2-with-SM3"  # GB/T 32918.2, OID 1.2.156.10197.1.501
KEYS_PATH = "/.well-known/licence-keys"
_HOLDER_CODE_AD = b"licences.holder_code"
FIELD_TYPES = ("string", "date", "integer", "boolean", "enum")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_STRING = 500


def protect_holder_code(code: str) -> str:
    return data_keyring().encrypt_text(code, associated_data=_HOLDER_CODE_AD)


def holder_code_of(licence: Licence) -> str:
    return data_keyring().decrypt_text(licence.holder_code_cipher, associated_data=_HOLDER_CODE_AD)


def signing_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schema_check(schema: Any) -> list[dict[str, Any]]:
    """Validate a face schema itself; returns the normalised list of field declarations."""
    if not isinstance(schema, list) or not schema:
        raise LicenceInputInvalid(
            "A licence type needs at least one face field.",
            errors=[{"loc": ["face_schema"], "rule": "schema.fields", "msg": "a non-empty list of fields"}],
        )
    seen: set[str] = set()
    fields: list[dict[str, Any]] = []
    for position, field in enumerate(schema):
        name = field.get("name") if isinstance(field, dict) else None
        kind = field.get("type") if isinstance(field, dict) else None
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name) or name in seen or kind not in FIELD_TYPES:
            raise LicenceInputInvalid(
                f"Face field {position + 1} needs a unique lowercase name and a type of {', '.join(FIELD_TYPES)}.",
                errors=[{"loc": ["face_schema", position], "rule": "schema.field", "msg": "invalid field"}],
            )
        if not isinstance(field, dict):  # for the type checker: checked above
            continue
        choices = field.get("choices", [])
        if kind == "enum" and not (isinstance(choices, list) and choices and all(isinstance(c, str) for c in choices)):
            raise LicenceInputInvalid(
                f"Face field {name} is an enum without choices.",
                errors=[{"loc": ["face_schema", position], "rule": "schema.choices", "msg": "choices needed"}],
            )
        seen.add(name)
        fields.append(
            {"name": name, "label": str(field.get("label") or name), "type": kind,
             "required": bool(field.get("required", False)), "personal": bool(field.get("personal", False)),
             "public": bool(field.get("public", False)) and not field.get("personal"),
             **({"choices": list(choices)} if kind == "enum" else {})}
        )  # fmt: skip
    return fields


def _face_value(field: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """The stored value of one face field, or why it is refused."""
    kind = field["type"]
    if kind == "string":
        if not isinstance(value, str) or not value.strip():
            return None, "a non-empty string"
        if len(value) > MAX_STRING:
            return None, f"at most {MAX_STRING} characters"
        return value.strip(), None
    if kind == "date":
        text = value.isoformat() if isinstance(value, dt.date) else str(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return None, "a date YYYY-MM-DD"
        try:
            return dt.date.fromisoformat(text).isoformat(), None
        except ValueError:
            return None, "a date YYYY-MM-DD"
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None, "an integer"
        try:
            number = int(value)
        except ValueError:
            return None, "an integer"
        if abs(number) > 2**53 - 1:
            return None, "an integer within ±(2**53 − 1)"
        return number, None
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        if value in ("true", "false"):
            return value == "true", None
        return None, "true or false"
    if value not in field["choices"]:
        return None, "one of " + ", ".join(field["choices"])
    return value, None


def face_label(field: dict[str, Any]) -> str:
    """A face field's label in the reader's language: the schema's label (Chinese, as the licence standard names it)
    through the catalogue, so the labels the platform knows read in English on English pages."""
    label = str(field.get("label") or field.get("name") or "")
    return gettext(label) if label else label


def face_validate(schema: list[dict[str, Any]], face: Any) -> dict[str, Any]:
    """Check face data against the type's declared fields; every broken rule is reported together."""
    if not isinstance(face, dict):
        raise LicenceInputInvalid(
            "The face data must be an object.", errors=[{"loc": ["face"], "rule": "face.object", "msg": "an object"}]
        )
    errors: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    declared = {field["name"]: field for field in schema}
    for name in sorted(set(face) - set(declared), key=str):
        errors.append({"loc": ["face", str(name)], "rule": "face.unknown_field", "msg": "not a field of this type"})
    for name, field in declared.items():
        value = face.get(name)
        if value is None or value == "":
            if field["required"]:
                errors.append({"loc": ["face", name], "rule": "face.required", "msg": "required"})
            continue
        stored, problem = _face_value(field, value)
        if problem is not None:
            errors.append({"loc": ["face", name], "rule": f"face.{field['type']}", "msg": f"must be {problem}"})
        else:
            clean[name] = stored
    if errors:
        raise LicenceInputInvalid("The face data does not match the licence type's schema.", errors=errors)
    return clean


def licence_content(licence: Licence, *, holder_code: str | None = None) -> dict[str, Any]:
    """The signed content, rebuilt from the licence's columns."""
    code_type, code_type_code = md.HOLDER_CODE_TYPES[licence.holder_kind]
    content: dict[str, Any] = {
        md.IDENTIFIER: licence.identifier,
        md.TYPE_CODE: licence.identifier.split(".")[5],
        md.TITLE: licence.title,
        md.NUMBER: licence.number,
        md.ISSUER: licence.issuer_name,
        md.ISSUER_CODE: licence.issuer_code,
        md.ISSUED_ON: licence.issued_on.isoformat(),
        md.HOLDER: licence.holder_name,
        md.HOLDER_CODE: holder_code if holder_code is not None else holder_code_of(licence),
        md.HOLDER_CODE_TYPE: code_type,
        md.HOLDER_CODE_TYPE_CODE: code_type_code,
        md.VALID_FROM: licence.valid_from.isoformat(),
        md.VALID_UNTIL: licence.valid_until.isoformat() if licence.valid_until else None,
        md.SIGNER: licence.issuer_name,
        md.SIGNED_AT: signing_time(licence.signed_at),
        md.SEAL_NAME: licence.key_id,
    }
    for name, value in licence.face.items() if isinstance(licence.face, dict) else ():
        content[md.FACE_PREFIX + str(name)] = value
    return content


def content_bytes(content: dict[str, Any]) -> bytes | None:
    """The canonical bytes, or None when the content cannot be canonicalised (a tampered row, a hostile export)."""
    try:
        return canonical_json(content)
    except CanonicalJsonError:
        return None


def licence_export(licence: Licence) -> dict[str, Any]:
    """The self-contained signed document: content, its canonical form and the signature naming its key."""
    content = licence_content(licence)
    canonical = content_bytes(content) or b""
    return {
        "format": EXPORT_FORMAT,
        "content": content,
        "canonical": canonical.decode(),
        "canonicalization": "RFC 8785",
        "signature": {
            "algorithm": SIGNATURE_ALGORITHM,
            "digest": "SM3",
            "signer_id": DEFAULT_SIGNER_ID.decode(),
            "key_id": licence.key_id,
            "keys": KEYS_PATH,
            "value": base64.b64encode(bytes(licence.signature)).decode(),
        },
    }
