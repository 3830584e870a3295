"""The online service hall over HTTP: /api/v1/hall/.

The catalogue is public. Applicants (scope `hall:apply`, or signed in) start, fill and submit applications, follow
them and rate them; officers (scope `hall:decide` and the permission hall.decide_application) work their queue and
take transitions. Every call goes through the same services and selectors as the pages; errors are problem
documents, a transition that lost a race with another officer is 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile

from rongcheng.accounts.api_auth import api_auth
from rongcheng.hall import selectors, services
from rongcheng.hall.models import Application, ApplicationMaterial, CalendarDay, FollowUp, Message, Rating, ServiceItem
from rongcheng.hall.permissions import CATALOGUE_PERMISSION, DECIDE_PERMISSION
from rongcheng.hall.services import MAX_REASON
from rongcheng.hall.workflow import transitions_from
from rongcheng.kernel.context import note_actor
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.pagination import MAX_LIMIT
from rongcheng.kernel.ratelimit import OPENAPI_RATE_LIMITED, rate_limit_request
from rongcheng.kernel.schema_types import RecordId, Year

router = Router(tags=["hall"])

APPLY = "hall:apply"
DECIDE = "hall:decide"
UPLOAD_CEILING = 20 * 1024 * 1024


def _caller(request: HttpRequest) -> Any:
    user = request.auth  # type: ignore[attr-defined]
    note_actor(user)
    return user


def _apply_auth(action: str) -> Any:
    return api_auth(f"hall.application.{action}", scope=APPLY)


def _decide_auth(action: str) -> Any:
    return api_auth(f"hall.application.{action}", scope=DECIDE, permission=DECIDE_PERMISSION)


class MaterialSpecOut(Schema):
    code: str
    name: str
    source: str = Field(description="licence, registry or upload")
    required: bool
    licence_type: str | None = None
    fields: list[str] | None = None
    formats: list[str] | None = None
    max_bytes: int | None = None


class ServiceOut(Schema):
    code: str
    name: str
    department: str = Field(description="department code")
    department_name: str
    kind: str
    legal_basis: str
    conditions: str
    materials: list[MaterialSpecOut]
    statutory_days: int
    promised_days: int
    fees: str
    min_assurance: int
    any_window: bool
    online_only: bool
    issues_licence_type: str
    result_face: dict[str, str] = Field(description="face field of the issued licence -> material:key or =text")

    @staticmethod
    def resolve_department(item: ServiceItem) -> str:
        return item.department.code

    @staticmethod
    def resolve_department_name(item: ServiceItem) -> str:
        return item.department.name


class ApplicationOut(Schema):
    id: int
    number: str | None
    service: str
    service_name: str
    department: str
    state: str
    submitted_at: dt.datetime | None
    accepted_on: dt.date | None
    deadline: dt.date | None
    promised_deadline: dt.date | None
    clock_stopped_on: dt.date | None
    flag: str
    issued_licence: str
    legal_entity: str = Field(description="credit code of the applicant legal entity; empty when a person applies")

    @staticmethod
    def resolve_legal_entity(application: Application) -> str:
        return application.legal_entity.credit_code if application.legal_entity_id and application.legal_entity else ""

    @staticmethod
    def resolve_service(application: Application) -> str:
        return application.service.code

    @staticmethod
    def resolve_service_name(application: Application) -> str:
        return application.service.name

    @staticmethod
    def resolve_department(application: Application) -> str:
        return application.department.code


class ApplicationPage(Schema):
    items: list[ApplicationOut]
    next_cursor: str | None


class ProvidedOut(Schema):
    code: str
    source: str
    values: dict[str, Any] = Field(description="field -> {value, source, label}: where each value came from")
    licence_identifier: str
    file_name: str
    file_format: str
    file_size: int | None
    sm3: str


class EventOut(Schema):
    transition: str
    from_state: str
    to_state: str
    actor_label: str
    reason: str
    occurred_at: dt.datetime


class CountersignOut(Schema):
    department: str
    state: str
    opinion: str

    @staticmethod
    def resolve_department(countersign: Any) -> str:
        return str(countersign.department.code)


class ApplicationDetailOut(ApplicationOut):
    statement: str
    decision_reason: str
    remedy: str
    licence_authorized: bool
    materials: list[ProvidedOut]
    timeline: list[EventOut]
    countersigns: list[CountersignOut]
    next_transitions: list[str] = Field(description="transitions the table allows from the current state")

    @staticmethod
    def resolve_remedy(application: Application) -> str:
        return services.REMEDY if application.state in ("refused", "concluded") and application.decision_reason else ""

    @staticmethod
    def resolve_materials(application: Application) -> list[ApplicationMaterial]:
        return list(application.provided.all())

    @staticmethod
    def resolve_timeline(application: Application) -> list[Any]:
        return list(application.events.all())

    @staticmethod
    def resolve_countersigns(application: Application) -> list[Any]:
        return list(application.countersigns.all())

    @staticmethod
    def resolve_next_transitions(application: Application) -> list[str]:
        return [t.name for t in transitions_from(application.state) if t.role != "system"]


class StartIn(Schema):
    service: str = Field(description="service code")
    legal_entity: str = Field(
        "", description="credit code of a legal entity the caller represents (apply on its behalf); empty: as yourself"
    )


class PrefillIn(Schema):
    authorize_licences: bool = Field(
        False, description="the applicant authorizes the use of their electronic licences for this application"
    )


class SaveIn(Schema):
    statement: str = Field("", max_length=5000)


class ResubmitIn(Schema):
    statement: str | None = Field(None, max_length=5000)


# The officer's transitions of workflow.TRANSITIONS, spelled out so the document lists them (a test keeps them equal).
OfficerTransition = Literal[
    "accept",
    "not_accept",
    "review",
    "return_for_correction",
    "request_countersign",
    "suspend",
    "resume",
    "approve",
    "refuse",
    "conclude",
]


class ApplicationTransitionIn(Schema):
    transition: OfficerTransition
    reason: str = Field("", max_length=MAX_REASON, description="required by not_accept, return_for_correction, "
                        "suspend and refuse")  # fmt: skip
    departments: list[str] = Field(default_factory=list, description="for request_countersign: department codes")


class CountersignIn(Schema):
    agree: bool
    opinion: str = ""


class RatingIn(Schema):
    level: int = Field(ge=1, le=5, description="1 very dissatisfied … 5 very satisfied (好差评)")
    comment: str = Field("", max_length=2000)


class RatingOut(Schema):
    level: int
    comment: str
    rated_at: dt.datetime
    follow_up_opened: bool

    @staticmethod
    def resolve_follow_up_opened(rating: Rating) -> bool:
        return hasattr(rating, "follow_up")


class FollowUpOut(Schema):
    id: int
    application: int
    number: str | None
    level: int
    comment: str
    opened_at: dt.datetime

    @staticmethod
    def resolve_application(follow_up: FollowUp) -> int:
        return follow_up.rating.application_id

    @staticmethod
    def resolve_number(follow_up: FollowUp) -> str | None:
        return follow_up.rating.application.number

    @staticmethod
    def resolve_level(follow_up: FollowUp) -> int:
        return follow_up.rating.level

    @staticmethod
    def resolve_comment(follow_up: FollowUp) -> str:
        return follow_up.rating.comment


class AnswerIn(Schema):
    answer: str = Field(min_length=1, max_length=2000)


class MessageOut(Schema):
    id: int
    application: int
    text: str
    sent_at: dt.datetime
    read_at: dt.datetime | None

    @staticmethod
    def resolve_application(message: Message) -> int:
        return message.application_id


class CalendarDayOut(Schema):
    date: dt.date
    kind: str
    name: str


class CalendarDayIn(Schema):
    kind: str = Field(description="holiday or workday (a weekend day worked, 调休)")
    name: str = Field("", max_length=40)


class QueueFilters(Schema):
    scope: str = Field("department", description="department, window, intake or countersign")
    state: str = ""
    service: str = ""
    overdue: bool = False
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


class PageFilters(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=MAX_LIMIT)


# ── catalogue ─────────────────────────────────────────────────────────────────────────────────────────────────────


@router.get("/services", response=list[ServiceOut], auth=None, summary="The public service catalogue, searchable")
def service_list(request: HttpRequest, q: str = "", department: str = "", kind: str = "") -> list[ServiceItem]:
    return selectors.service_items_search(query=q, department=department, kind=kind)


@router.get("/services/{code}", response=ServiceOut, auth=None, summary="One service of the catalogue")
def service_get(request: HttpRequest, code: str) -> ServiceItem:
    return selectors.service_item_get(code=code)


class MaterialSpecIn(Schema):
    code: str = Field(max_length=40)
    name: str = Field(max_length=100)
    source: str = Field(description="licence, registry or upload")
    required: bool = True
    licence_type: str | None = None
    fields: list[str] | None = None
    formats: list[str] | None = None
    max_bytes: int | None = None


class ServiceIn(Schema):
    name: str = Field(max_length=120)
    department: str = Field(description="department code")
    kind: str = Field(description="licensing, public_service, confirmation, payment or other")
    legal_basis: str = Field(max_length=2000)
    conditions: str = Field("", max_length=2000)
    materials: list[MaterialSpecIn]
    statutory_days: int = Field(ge=1, le=365)
    promised_days: int = Field(ge=1, le=365)
    fees: str = Field("不收费", max_length=200)
    min_assurance: int = Field(2, ge=1, le=3)
    any_window: bool = False
    online_only: bool = False
    issues_licence_type: str = Field("", max_length=40)
    result_face: dict[str, str] = Field(default_factory=dict)
    active: bool = True


@router.put(
    "/services/{code}", response=ServiceOut, summary="Create or change a service of one's department's catalogue",
    auth=api_auth("hall.service.save", scope=DECIDE, permission=CATALOGUE_PERMISSION),
)  # fmt: skip
def service_save(request: HttpRequest, code: str, payload: ServiceIn) -> ServiceItem:
    data = payload.dict()
    data["materials"] = [{k: v for k, v in m.items() if v is not None} for m in data["materials"]]
    return services.service_item_save(user=_caller(request), data={**data, "code": code})


@router.get("/calendar", response=list[CalendarDayOut], auth=None, summary="Holidays and worked weekend days of a year")
def calendar_list(request: HttpRequest, year: Year) -> list[CalendarDay]:
    return list(CalendarDay.objects.filter(date__year=year).order_by("date"))


@router.put("/calendar/{day}", response=CalendarDayOut, auth=_decide_auth("calendar_set"), summary="Set a calendar day")
def calendar_set(request: HttpRequest, day: dt.date, payload: CalendarDayIn) -> CalendarDay:
    return services.calendar_day_set(user=_caller(request), date=day, kind=payload.kind, name=payload.name)


@router.delete(
    "/calendar/{day}", response={204: None}, auth=_decide_auth("calendar_remove"), summary="Remove a calendar day"
)
def calendar_remove(request: HttpRequest, day: dt.date) -> Status[None]:
    services.calendar_day_remove(user=_caller(request), date=day)
    return Status(204, None)


# ── applying ──────────────────────────────────────────────────────────────────────────────────────────────────────


@router.post(
    "/applications", response={201: ApplicationDetailOut}, auth=_apply_auth("start"), summary="Start",
    openapi_extra=OPENAPI_RATE_LIMITED,
)  # fmt: skip
def application_start(request: HttpRequest, payload: StartIn) -> Status[Application]:
    """A draft; an account holds at most HALL_OPEN_DRAFTS_PER_SERVICE open drafts of one service (409)."""
    rate_limit_request("hall.draft", request)
    user = _caller(request)
    application = services.application_start(user=user, service_code=payload.service, credit_code=payload.legal_entity)
    return Status(201, selectors.application_for_applicant(user=user, application_id=application.pk))


@router.get("/applications", response=ApplicationPage, auth=_apply_auth("list"), summary="My applications")
def application_list(request: HttpRequest, filters: Query[PageFilters]) -> dict[str, Any]:
    page = selectors.applications_of_applicant(user=_caller(request), cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/applications/{application_id}",
    response=ApplicationDetailOut,
    auth=_apply_auth("view"),
    summary="One of my applications with its materials and timeline",
)
def application_get(request: HttpRequest, application_id: RecordId) -> Application:
    return selectors.application_for_applicant(user=_caller(request), application_id=application_id)


@router.delete(
    "/applications/{application_id}", response={204: None}, auth=_apply_auth("discard"),
    summary="Delete one of my drafts (never submitted), with its uploaded files",
)  # fmt: skip
def application_discard(request: HttpRequest, application_id: RecordId) -> Status[None]:
    services.application_draft_discard(user=_caller(request), application_id=application_id)
    return Status(204, None)


@router.post(
    "/applications/{application_id}/prefill", response=ApplicationDetailOut, auth=_apply_auth("prefill"),
    summary="Fill the materials the government already holds",
)  # fmt: skip
def application_prefill(request: HttpRequest, application_id: RecordId, payload: PrefillIn) -> Application:
    user = _caller(request)
    services.application_prefill(
        user=user, application_id=application_id, authorize_licences=payload.authorize_licences
    )
    return selectors.application_for_applicant(user=user, application_id=application_id)


@router.post(
    "/applications/{application_id}/materials/{material}",
    response=ProvidedOut,
    auth=_apply_auth("upload"),
    summary="Upload one material (multipart, field `file`)",
    openapi_extra=OPENAPI_RATE_LIMITED,
)
def application_upload(
    request: HttpRequest, application_id: RecordId, material: str, file: File[UploadedFile]
) -> ApplicationMaterial:
    """The uploads of one application total at most HALL_UPLOAD_BYTES_PER_APPLICATION (422, rule upload.quota)."""
    rate_limit_request("hall.upload", request)
    if file.size is not None and file.size > UPLOAD_CEILING:
        raise ValidationFailed(
            "The file is larger than any material allows.",
            errors=[{"loc": ["file"], "rule": "upload.size", "msg": f"at most {UPLOAD_CEILING} bytes"}],
        )
    return services.application_upload(
        user=_caller(request), application_id=application_id, material_code=material,
        file_name=file.name or "", content=file.read(),
    )  # fmt: skip


@router.patch(
    "/applications/{application_id}", response=ApplicationDetailOut, auth=_apply_auth("save"), summary="Save a draft"
)
def application_save(request: HttpRequest, application_id: RecordId, payload: SaveIn) -> Application:
    user = _caller(request)
    services.application_save(user=user, application_id=application_id, statement=payload.statement)
    return selectors.application_for_applicant(user=user, application_id=application_id)


@router.post(
    "/applications/{application_id}/submit", response=ApplicationDetailOut, auth=_apply_auth("submit"),
    summary="Submit: the application gets its number",
)  # fmt: skip
def application_submit(request: HttpRequest, application_id: RecordId) -> Application:
    user = _caller(request)
    services.application_submit(user=user, application_id=application_id)
    return selectors.application_for_applicant(user=user, application_id=application_id)


@router.post(
    "/applications/{application_id}/resubmit", response=ApplicationDetailOut, auth=_apply_auth("resubmit"),
    summary="Resubmit after correction (补正)",
)  # fmt: skip
def application_resubmit(request: HttpRequest, application_id: RecordId, payload: ResubmitIn) -> Application:
    user = _caller(request)
    services.application_resubmit(user=user, application_id=application_id, statement=payload.statement)
    return selectors.application_for_applicant(user=user, application_id=application_id)


@router.post(
    "/applications/{application_id}/rating", response={201: RatingOut}, auth=_apply_auth("rate"),
    summary="Rate a concluded application (好差评)",
)  # fmt: skip
def application_rate(request: HttpRequest, application_id: RecordId, payload: RatingIn) -> Status[Rating]:
    rating = services.application_rate(
        user=_caller(request), application_id=application_id, level=payload.level, comment=payload.comment
    )
    return Status(201, rating)


@router.get("/messages", response=list[MessageOut], auth=_apply_auth("messages"), summary="My messages")
def message_list(request: HttpRequest) -> list[Message]:
    return selectors.messages_of(user=_caller(request))


@router.post(
    "/messages/{message_id}/read", response={204: None}, auth=_apply_auth("message_read"), summary="Mark as read"
)
def message_read(request: HttpRequest, message_id: RecordId) -> Status[None]:
    services.message_mark_read(user=_caller(request), message_id=message_id)
    return Status(204, None)


# ── deciding ──────────────────────────────────────────────────────────────────────────────────────────────────────


@router.get("/workbench", response=ApplicationPage, auth=_decide_auth("queue"), summary="An officer's queue")
def workbench(request: HttpRequest, filters: Query[QueueFilters]) -> dict[str, Any]:
    page = selectors.workbench_queue(
        user=_caller(request), scope=filters.scope, state=filters.state, service=filters.service,
        overdue=filters.overdue, cursor=filters.cursor, limit=filters.limit,
    )  # fmt: skip
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/workbench/applications/{application_id}",
    response=ApplicationDetailOut,
    auth=_decide_auth("view"),
    summary="An application in the officer's reach",
)
def workbench_application(request: HttpRequest, application_id: RecordId) -> Application:
    return selectors.application_for_officer(user=_caller(request), application_id=application_id)


@router.post(
    "/applications/{application_id}/transitions",
    response=ApplicationDetailOut,
    auth=_decide_auth("transition"),
    summary="Take a transition of the lifecycle (accept, review, approve …); 409 if the state changed",
)
def application_transition(
    request: HttpRequest, application_id: RecordId, payload: ApplicationTransitionIn
) -> Application:
    user = _caller(request)
    services.application_transition(
        user=user, application_id=application_id, transition=payload.transition, reason=payload.reason,
        departments=payload.departments,
    )  # fmt: skip
    return selectors.application_for_officer(user=user, application_id=application_id)


class CheckOut(Schema):
    id: int
    source: str = Field(description="the registered check that put the item before the officer")
    item_reference: str
    measure_code: str
    seen: dict[str, Any] = Field(description="what the officer was shown: text, measure, detail")
    seen_on: dt.date
    applied: bool | None
    reason: str
    officer_label: str
    recorded_at: dt.datetime | None


class CheckRecordIn(Schema):
    applied: bool
    reason: str = Field("", max_length=MAX_REASON, description="required when the measure was not applied")


@router.get(
    "/workbench/applications/{application_id}/checks",
    response=list[CheckOut],
    auth=_decide_auth("checks"),
    summary="The decision-check items (joint measures …) to record before accepting or deciding",
)
def application_checks(request: HttpRequest, application_id: RecordId) -> list[Any]:
    return services.application_checks(user=_caller(request), application_id=application_id)


@router.post(
    "/workbench/applications/{application_id}/checks/{check_id}",
    response=CheckOut,
    auth=_decide_auth("check_record"),
    summary="Record one check item: measure applied, or not applied with the reason",
)
def application_check_record(
    request: HttpRequest, application_id: RecordId, check_id: RecordId, payload: CheckRecordIn
) -> Any:
    return services.application_check_record(
        user=_caller(request), application_id=application_id, check_id=check_id, applied=payload.applied,
        reason=payload.reason,
    )  # fmt: skip


@router.post(
    "/applications/{application_id}/countersign",
    response=CountersignOut,
    auth=_decide_auth("countersign"),
    summary="Answer a countersign request (会签) for your department",
)
def countersign(request: HttpRequest, application_id: RecordId, payload: CountersignIn) -> Any:
    answer = services.countersign_answer(
        user=_caller(request), application_id=application_id, agree=payload.agree, opinion=payload.opinion
    )
    return {"department": answer.department.code, "state": answer.state, "opinion": answer.opinion}


@router.get("/follow-ups", response=list[FollowUpOut], auth=_decide_auth("follow_ups"), summary="Open follow-ups")
def follow_up_list(request: HttpRequest) -> list[FollowUp]:
    return selectors.follow_ups_open(user=_caller(request))


@router.post(
    "/follow-ups/{follow_up_id}/answer", response=FollowUpOut, auth=_decide_auth("follow_up_answer"),
    summary="Answer a poor rating",
)  # fmt: skip
def follow_up_answer(request: HttpRequest, follow_up_id: RecordId, payload: AnswerIn) -> FollowUp:
    return services.follow_up_answer(user=_caller(request), follow_up_id=follow_up_id, answer=payload.answer)
