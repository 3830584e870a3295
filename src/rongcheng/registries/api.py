"""The base registries over HTTP: /api/v1/registries/.

Every read of a person or legal entity states its `purpose`; what comes back is masked by the reader's field
entitlements for that purpose and audited by the selectors. Callers are department systems with an OAuth 2.0 token
(scope `registries:read`, or `registries:write` to change records) or people signed in to the pages.

A past state is read with `as_of` (an ISO 8601 date-time; without a UTC offset it is Beijing time) on the record's
own path: `GET /persons/{record_id}?as_of=...`, `GET /entities/{record_id}?as_of=...`.

ID numbers and credit codes travel in request bodies (`POST /persons/by-id-number`, `POST /entities/by-credit-code`),
never in URLs, where proxies, browsers and the server's own log would keep them; the old GET routes answer 410.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from ninja import Field, Query, Router, Schema, Status
from pydantic import WithJsonSchema

from rongcheng.accounts.api_auth import api_auth
from rongcheng.kernel.context import purpose_stated
from rongcheng.kernel.pagination import MAX_LIMIT
from rongcheng.kernel.problems import problem_response
from rongcheng.kernel.schema_types import NOT_BLANK, CreditCodeText, IdNumberText, RecordId
from rongcheng.registries import indicators, selectors, services
from rongcheng.registries.models import Indicator, LegalEntity, Person
from rongcheng.registries.permissions import READ_SCOPE, WRITE_SCOPE, Reader, reader_for
from rongcheng.registries.purposes import PURPOSES
from rongcheng.registries.selectors import PersonView, VersionInfo

router = Router(tags=["registries"])

with translation.override("en"):  # the API's description is in English, whatever the language of the import
    PURPOSE_HELP = "Why the record is read, one of: " + "; ".join(f"{code} = {text}" for code, text in PURPOSES.items())
AS_OF_HELP = "Read the record as it was at this moment (ISO 8601; without an offset, Beijing time)."

Purpose = Annotated[str, Field(description=PURPOSE_HELP, json_schema_extra={"enum": list(PURPOSES)})]
AsOf = Annotated[dt.datetime | None, Query(description=AS_OF_HELP)]

PERSON_READ = api_auth("registries.person.read", scope=READ_SCOPE)
ENTITY_READ = api_auth("registries.entity.read", scope=READ_SCOPE)


def _reader(request: HttpRequest) -> Reader:
    return reader_for(request.auth)  # type: ignore[attr-defined]


def _moment(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return timezone.now()
    return value if timezone.is_aware(value) else timezone.make_aware(value)


class PersonOut(Schema):
    """A person as this reader may see them: the fields not listed in `clear` are masked."""

    record_id: RecordId
    id_number: str
    name: str
    sex: str
    birth_date: str = Field(description="YYYY-MM-DD, or YYYY-**-** when masked")
    ethnicity: str
    division_code: str
    address: str
    phone: str
    status: str
    closed_on: str | None
    version: int
    clear: list[str] = Field(description="The protected fields shown in clear")


class PersonPage(Schema):
    items: list[PersonOut]
    next_cursor: str | None


class PersonVersionOut(Schema):
    version: int
    valid_from: dt.datetime
    valid_to: dt.datetime | None = Field(description="null for the current version")
    replaced_by: str = Field(description="the change that ended this version: correct or close")
    reason: str
    changed_by: str
    record: PersonOut


class PersonSearch(Schema):
    purpose: str = Field(description=PURPOSE_HELP, json_schema_extra={"enum": list(PURPOSES)})
    name: str = ""
    division_code: str = ""
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class PersonRegisterIn(Schema):
    id_number: IdNumberText
    name: str = Field(json_schema_extra=NOT_BLANK)
    sex: Literal["male", "female"] | None = Field(None, description="checked against the ID number if given")
    birth_date: dt.date | None = Field(None, description="checked against the ID number if given")
    ethnicity: str = Field("", description="GB/T 3304 code, e.g. 01")
    division_code: str = Field("", description="registered residence; the ID number's division if empty")
    phone: str = ""
    address: str = ""
    reason: str = "registration"


class PersonCorrectIn(Schema):
    """Only the fields sent are changed; null empties a field. The ID number itself is never corrected."""

    name: str | None = None
    ethnicity: str | None = None
    division_code: str | None = None
    phone: str | None = None
    address: str | None = None
    reason: str = Field(json_schema_extra=NOT_BLANK, description="why the record is corrected")
    expected_version: int = Field(description="the version the correction is based on; 409 if it changed since")


class PersonCloseIn(Schema):
    status: Literal["deceased", "deregistered"]
    on: dt.date
    reason: str = Field(json_schema_extra=NOT_BLANK)


class RecordOut(Schema):
    """The state of a record after a change; read it with a purpose to see its fields."""

    record_id: RecordId
    id_number: str = Field(description="masked")
    status: str
    version: int
    valid_from: dt.datetime

    @staticmethod
    def resolve_record_id(obj: Person) -> int:
        return obj.pk

    @staticmethod
    def resolve_id_number(obj: Person) -> str:
        return obj.id_number_masked


class LegalEntityOut(Schema):
    record_id: RecordId
    credit_code: str
    name: str
    entity_type: str
    division_code: str
    legal_representative_id: int | None
    address: str
    registration_authority: str
    established_on: dt.date
    status: str
    closed_on: dt.date | None


class IndicatorValueOut(Schema):
    period: str
    value: Decimal
    name: str
    unit: str
    source_department: str


class IndicatorSeriesOut(Schema):
    code: str
    division_code: str
    values: list[IndicatorValueOut]


class IndicatorIn(Schema):
    period: str = Field(description="YYYY, YYYY-Qn or YYYY-MM")
    value: Annotated[
        Decimal,
        WithJsonSchema(
            {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?[0-9]{1,16}(\.[0-9]{1,4})?$"}]}
        ),
    ] = Field(description="at most 16 digits before the point and 4 after")
    name: str
    unit: str
    division_code: str = "350100"
    source_department: str = Field(description="code of the department that published the value")


class IndicatorRecordedOut(Schema):
    code: str
    division_code: str
    period: str
    value: Decimal
    outcome: Literal["created", "revised", "unchanged"]


def _entity_out(record_id: int, snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"record_id": record_id, **snapshot}


class PersonLookupIn(Schema):
    id_number: IdNumberText
    purpose: Purpose


class EntityLookupIn(Schema):
    credit_code: CreditCodeText
    purpose: Purpose


def _moved(request: HttpRequest, *, template: str, new_route: str, fields: str) -> HttpResponse:
    """410 for a lookup that put a personal identifier in the path: names the new route, never echoes the value
    (not in `instance`), and keeps Django from logging the path."""
    response = problem_response(
        request, status=410, type_slug="identifier-in-path", title="Identifier in the path",
        detail=f"Personal identifiers are not taken in URLs: POST {new_route} with a JSON body {{{fields}}}.",
        instance=template, new_route=new_route,
    )  # fmt: skip
    response._has_been_logged = True  # type: ignore[attr-defined]  # django.utils.log.log_response skips it
    return response


@router.post("/persons/by-id-number", response=PersonOut, auth=PERSON_READ, summary="A person by citizen ID number")
def person_by_id_number(request: HttpRequest, payload: PersonLookupIn) -> PersonView:
    """The ID number travels in the body, never in the URL."""
    with purpose_stated(payload.purpose):
        return selectors.person_read_by_id_number(reader=_reader(request), id_number=payload.id_number)


@router.get(
    "/persons/by-id-number/{id_number}", response={410: dict[str, Any]}, auth=None, deprecated=True,
    summary="Withdrawn: the ID number in the path; POST /persons/by-id-number instead",
)  # fmt: skip
def person_by_id_number_in_path(request: HttpRequest, id_number: str) -> HttpResponse:
    return _moved(
        request, template="/api/v1/registries/persons/by-id-number/{id_number}",
        new_route="/api/v1/registries/persons/by-id-number", fields='"id_number", "purpose"',
    )  # fmt: skip


@router.get("/persons", response=PersonPage, auth=PERSON_READ, summary="Persons by name and/or division")
def person_search(request: HttpRequest, filters: Query[PersonSearch]) -> dict[str, Any]:
    with purpose_stated(filters.purpose):
        page = selectors.person_search(
            reader=_reader(request), name=filters.name, division_code=filters.division_code,
            cursor=filters.cursor, limit=filters.limit,
        )  # fmt: skip
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/persons/{record_id}",
    response=PersonOut,
    auth=PERSON_READ,
    summary="A person by record number, now or as of a past moment",
)
def person_get(
    request: HttpRequest,
    record_id: RecordId,
    purpose: Purpose,
    as_of: AsOf = None,
) -> PersonView:
    reader = _reader(request)
    with purpose_stated(purpose):
        if as_of is None:
            return selectors.person_read(reader=reader, person_id=record_id)
        return selectors.person_as_of(reader=reader, person_id=record_id, at=_moment(as_of))


@router.get(
    "/persons/{record_id}/history",
    response=list[PersonVersionOut],
    auth=api_auth("registries.person.history", scope=READ_SCOPE),
    summary="Every version of a person's record, oldest first",
)
def person_history(request: HttpRequest, record_id: RecordId, purpose: Purpose) -> list[dict[str, Any]]:
    with purpose_stated(purpose):
        history = selectors.person_history(reader=_reader(request), person_id=record_id)
    return [_version_out(info, view) for info, view in history]


def _version_out(info: VersionInfo, view: PersonView) -> dict[str, Any]:
    return {
        "version": info.version, "valid_from": info.valid_from, "valid_to": info.valid_to,
        "replaced_by": info.replaced_by, "reason": info.reason, "changed_by": info.changed_by, "record": view,
    }  # fmt: skip


@router.post(
    "/persons",
    response={201: RecordOut},
    auth=api_auth("registries.person.register", scope=WRITE_SCOPE, permission="registries.add_person"),
    summary="Register a person",
)
def person_register(request: HttpRequest, payload: PersonRegisterIn) -> Status[Person]:
    data = payload.dict(exclude={"reason"})
    return Status(201, services.person_register(data=data, actor=_reader(request).actor, reason=payload.reason))


@router.patch(
    "/persons/{record_id}",
    response=RecordOut,
    auth=api_auth("registries.person.correct", scope=WRITE_SCOPE, permission="registries.change_person"),
    summary="Correct a person's record",
)
def person_correct(request: HttpRequest, record_id: RecordId, payload: PersonCorrectIn) -> Person:
    changes = payload.dict(exclude_unset=True, exclude={"reason", "expected_version"})
    return services.person_correct(
        person_id=record_id, changes=changes, actor=_reader(request).actor, reason=payload.reason,
        expected_version=payload.expected_version,
    )  # fmt: skip


@router.post(
    "/persons/{record_id}/close",
    response=RecordOut,
    auth=api_auth("registries.person.close", scope=WRITE_SCOPE, permission="registries.change_person"),
    summary="Close a person's record (death, deregistration)",
)
def person_close(request: HttpRequest, record_id: RecordId, payload: PersonCloseIn) -> Person:
    return services.person_close(
        person_id=record_id, status=payload.status, on=payload.on, actor=_reader(request).actor, reason=payload.reason
    )


@router.post(
    "/entities/by-credit-code", response=LegalEntityOut, auth=ENTITY_READ,
    summary="A legal entity by unified social credit code",
)  # fmt: skip
def entity_by_credit_code(request: HttpRequest, payload: EntityLookupIn) -> dict[str, Any]:
    """The code travels in the body: the credit code of an individual business (个体工商户) identifies a person."""
    with purpose_stated(payload.purpose):
        entity: LegalEntity = selectors.legal_entity_read_by_credit_code(
            reader=_reader(request), credit_code=payload.credit_code
        )
    return _entity_out(entity.pk, services.entity_snapshot(entity))


@router.get(
    "/entities/by-credit-code/{credit_code}", response={410: dict[str, Any]}, auth=None, deprecated=True,
    summary="Withdrawn: the credit code in the path; POST /entities/by-credit-code instead",
)  # fmt: skip
def entity_by_credit_code_in_path(request: HttpRequest, credit_code: str) -> HttpResponse:
    return _moved(
        request, template="/api/v1/registries/entities/by-credit-code/{credit_code}",
        new_route="/api/v1/registries/entities/by-credit-code", fields='"credit_code", "purpose"',
    )  # fmt: skip


@router.get(
    "/entities/{record_id}",
    response=LegalEntityOut,
    auth=ENTITY_READ,
    summary="A legal entity by record number, now or as of a past moment",
)
def entity_get(
    request: HttpRequest,
    record_id: RecordId,
    purpose: Purpose,
    as_of: AsOf = None,
) -> dict[str, Any]:
    with purpose_stated(purpose):
        snapshot = selectors.legal_entity_as_of(reader=_reader(request), entity_id=record_id, at=_moment(as_of))
    return _entity_out(record_id, snapshot)


@router.get(
    "/indicators/{code}",
    response=IndicatorSeriesOut,
    auth=None,
    summary="A macro-economic indicator series (public)",
)
def indicator_series(request: HttpRequest, code: str, division_code: str = "350100") -> dict[str, Any]:
    rows: list[Indicator] = indicators.indicator_series(code=code, division_code=division_code)
    return {"code": code, "division_code": division_code, "values": rows}


@router.post(
    "/indicators/{code}",
    response={201: IndicatorRecordedOut, 200: IndicatorRecordedOut},
    auth=api_auth("registries.indicator.record", scope=WRITE_SCOPE, permission="registries.add_indicator"),
    summary="Record one period's value of an indicator (201 new, 200 revised or unchanged)",
)
def indicator_record(request: HttpRequest, code: str, payload: IndicatorIn) -> Status[dict[str, Any]]:
    recorded = indicators.indicator_record(data={**payload.dict(), "code": code}, actor=_reader(request).actor)
    row = recorded.indicator
    body = {"code": row.code, "division_code": row.division_code, "period": row.period, "value": row.value}
    return Status(201 if recorded.outcome == "created" else 200, {**body, "outcome": recorded.outcome})
