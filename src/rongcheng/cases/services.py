"""City cases' write use-cases: intake from every channel, the transitions of the declared lifecycle, the units'
requests to extend or postpone, the routing table, grid workers' cells and the Open311 keys.

Each service checks who acts, validates everything (the place on the grid, the category, each photo) before it
writes, then writes its rows, the case's timeline event and the audit record in one transaction; a refusal changes
nothing and leaves a `denied` audit record. Two officers taking a transition on one case at once: the row moves by a
guarded UPDATE (state and version as read), so exactly one wins and the other gets a conflict.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeGuard

from django.db import connections, router, transaction
from django.utils import timezone

from rongcheng.accounts.models import AccountKind, Department, User
from rongcheng.accounts.selectors import is_signed_in
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.cases import permissions as perms
from rongcheng.cases.errors import (
    CaseDenied,
    CaseGuardFailed,
    CaseInputInvalid,
    CaseNotFound,
    CaseTransitionNotAllowed,
    CaseTransitionUnknown,
    CategoryNotFound,
    Open311KeyInvalid,
    OutsideCity,
)
from rongcheng.cases.models import (
    Case,
    CaseEvent,
    CasePhoto,
    CaseSubscription,
    Category,
    Channel,
    ClockRequest,
    GridAssignment,
    HotlineKind,
    Open311Key,
    PhotoStage,
    RequestKind,
    RequestState,
    Route,
    State,
    Theme,
    UnitRole,
    Urgency,
)
from rongcheng.cases.photos import Photo, photo_write, photos_check
from rongcheng.cases.places import place_locate
from rongcheng.cases.workflow import NEAR_DEADLINE, OPEN, RUNNING, TRANSITIONS, Step, may_take
from rongcheng.divisions.models import Division, DivisionLevel, GridCell
from rongcheng.kernel.context import Account, current_address
from rongcheng.kernel.errors import DomainError
from rongcheng.kernel.masking import mask_phone

MAX_DESCRIPTION = 4000
MAX_REASON = 500
EARTH_METRES_PER_DEGREE = 111_320.0


@contextmanager
def _refusal_audited(
    action: str, actor: Account | Actor | None, *, target_id: Any = "", detail: dict[str, Any] | None = None
) -> Iterator[None]:
    """Let a domain error through after recording it as denied, outside the atomic block that rolled back."""
    try:
        yield
    except DomainError as exc:
        audit_record(
            action=action,
            actor=actor if isinstance(actor, Actor) else actor_from_user(actor),
            outcome="denied",
            target_type="cases.case",
            target_id=str(target_id)[:64],
            source_address=current_address(),
            detail={**(detail or {}), "problem": exc.type_slug, "reason": exc.detail[:200]},
        )
        raise


def _invalid(field: str, rule: str, message: str) -> CaseInputInvalid:
    return CaseInputInvalid(message, errors=[{"loc": [field], "rule": rule, "msg": message}])


def _authenticated(user: Account | Actor | None) -> TypeGuard[User]:
    return is_signed_in(user)


# Categories are read by every intake and change a few times a year: each process keeps those it read for
# CATEGORY_TTL seconds. A save or delete of a category or unit in this process drops them at once (signals, apps.py);
# a change made by another process is seen within the TTL.
CATEGORY_TTL = 5.0
_categories: dict[str, tuple[float, Category]] = {}


def categories_forget(**_: Any) -> None:
    _categories.clear()


def category_get(code: str) -> Category:
    now = time.monotonic()
    hit = _categories.get(code)
    if hit is not None and now - hit[0] < CATEGORY_TTL:
        return hit[1]
    category = Category.objects.select_related("default_unit").filter(code=code, active=True).first()
    if category is None:
        _categories.pop(code, None)
        raise CategoryNotFound(
            f"No case category {code[:20]!r}.",
            errors=[{"loc": ["category"], "rule": "category.unknown", "msg": "unknown category"}],
        )
    if len(_categories) > 1000:
        _categories.clear()
    _categories[code] = (now, category)
    return category


# On PostgreSQL each process takes case ids from the table's sequence in small blocks, so the case number (the day
# and the id) is known before the INSERT and the row is written once. Ids unused within ID_BLOCK_TTL seconds are
# dropped (a gap in the numbers, never a reuse: a sequence never hands out a value twice). SQLite, one writer, has
# no sequence: the number is written after the INSERT.
ID_BLOCK = 16
ID_BLOCK_TTL = 10.0
_id_lock = threading.Lock()
_id_blocks: dict[tuple[str, str], tuple[float, list[int]]] = {}


def _case_id_reserved() -> int | None:
    connection = connections[router.db_for_write(Case)]
    if connection.vendor != "postgresql":
        return None
    key = (connection.alias, str(connection.settings_dict.get("NAME")))
    now = time.monotonic()
    with _id_lock:
        taken, ids = _id_blocks.get(key, (0.0, []))
        if not ids or now - taken > ID_BLOCK_TTL:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [Case._meta.db_table, ID_BLOCK],
                )
                ids = [row[0] for row in cursor.fetchall()]
            taken = now
        case_id = ids.pop(0)
        _id_blocks[key] = (taken, ids)
    return case_id


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine) in metres; enough for the tens of metres of a duplicate radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(a)))


def duplicates_near(*, category: Category, lon: float, lat: float, limit: int = 5) -> list[Case]:
    """Open cases of the same category within the category's duplicate radius, nearest first."""
    radius = category.duplicate_radius_m
    dlat = radius / EARTH_METRES_PER_DEGREE
    dlon = radius / (EARTH_METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 0.01))
    rows = list(
        Case.objects.filter(
            category=category,
            state__in=OPEN,
            longitude__gte=lon - dlon,
            longitude__lte=lon + dlon,
            latitude__gte=lat - dlat,
            latitude__lte=lat + dlat,
        ).order_by("-id")[:50]
    )
    near = [(distance_m(lon, lat, c.longitude, c.latitude), c) for c in rows]
    return [c for d, c in sorted(near, key=lambda pair: pair[0]) if d <= radius][:limit]


def _reporter_check(
    channel: str, user: Account | None, category: Category, hotline_kind: str, simple_procedure: bool, system_label: str
) -> None:
    if channel == Channel.RESIDENT:
        if _authenticated(user):
            if not perms.is_resident(user):
                raise CaseDenied("Residents report here; staff use their own pages.")
        elif not category.anonymous_allowed:
            raise CaseDenied("This category does not take anonymous reports: sign in first.")
    elif channel == Channel.GRID_WORKER:
        if not perms.is_staff_with(user, perms.VERIFY):
            raise CaseDenied("Only grid workers report through this channel.")
    elif channel == Channel.HOTLINE:
        if not perms.is_staff_with(user, perms.TAKE_CALL):
            raise CaseDenied("Only hotline operators take calls.")
        if hotline_kind not in HotlineKind.values:
            raise _invalid("hotline_kind", "hotline_kind.choice", "Choose the kind of call.")
    elif channel == Channel.API:
        if not system_label and not (_authenticated(user) and user.kind == AccountKind.API_CLIENT and user.is_active):
            raise CaseDenied("Department systems report with their key or their client account.")
    else:
        raise _invalid("channel", "channel.choice", "Unknown channel.")
    if simple_procedure and channel != Channel.GRID_WORKER:
        raise _invalid("simple_procedure", "simple_procedure.channel", "Only grid workers close on the spot.")


def case_report(
    *,
    channel: str,
    category_code: str,
    description: str,
    lon: float,
    lat: float,
    user: Account | None = None,
    address: str = "",
    urgency: str = Urgency.NORMAL,
    photos: Sequence[bytes] = (),
    hotline_kind: str = "",
    caller_phone: str = "",
    simple_procedure: bool = False,
    system_label: str = "",
) -> Case:
    """A new case from any channel, in 信息收集 (or closed at once under the simple procedure). Nothing is stored
    unless the reporter may report, the category exists, the point is in the city grid and every photo is an image."""
    actor: Account | Actor | None = (
        Actor("api_client", "", system_label[:60]) if system_label and not _authenticated(user) else user
    )
    with _refusal_audited("cases.case.report", actor, detail={"channel": channel[:12]}):
        category = category_get(category_code)
        _reporter_check(channel, user, category, hotline_kind, simple_procedure, system_label)
        description = (description or "").strip()
        if not description:
            raise _invalid("description", "required", "Describe the problem.")
        if len(description) > MAX_DESCRIPTION:
            raise _invalid("description", "max_length", f"At most {MAX_DESCRIPTION} characters.")
        if urgency not in Urgency.values:
            raise _invalid("urgency", "urgency.choice", "Choose normal or urgent.")
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise _invalid("location", "location.number", "Give the location as longitude and latitude.")
        place = place_locate(lon=lon, lat=lat)
        if place is None:
            raise OutsideCity(
                "The point is outside the city grid.",
                errors=[{"loc": ["location"], "rule": "location.inside", "msg": "outside the city"}],
            )
        checked = photos_check(list(photos))
        reporter = user if _authenticated(user) else None
        case_id = _case_id_reserved()
        today = timezone.localdate()
        with transaction.atomic():
            case = Case.objects.create(
                id=case_id,
                number=f"{today:%Y%m%d}{case_id:08d}" if case_id is not None else uuid.uuid4().hex[:24],
                token=uuid.uuid4().hex,
                category=category,
                channel=channel,
                hotline_kind=hotline_kind if channel == Channel.HOTLINE else "",
                urgency=urgency,
                description=description,
                address=address.strip()[:200],
                longitude=lon,
                latitude=lat,
                cell_code=place.cell_code,
                community_code=place.community_code,
                street_code=place.street_code,
                district_code=place.district_code,
                place_name=place.name[:120],
                reporter=reporter,
                reporter_label=system_label[:60] if system_label else ("" if reporter else "匿名"),
                caller_phone_masked=mask_phone(caller_phone.strip())[:20] if caller_phone else "",
                simple_procedure=simple_procedure,
            )
            if case_id is None:
                case.number = f"{today:%Y%m%d}{case.pk:08d}"
                Case.objects.filter(pk=case.pk).update(number=case.number)
            _photos_store(case, PhotoStage.REPORT, checked)
            _event(case, "report", "", State.COLLECTED, reporter, reporter_label(actor), "")
            audit_record(
                action="cases.case.report",
                actor=actor if isinstance(actor, Actor) else actor_from_user(actor),
                target_type="cases.case",
                target_id=case.number,
                source_address=current_address(),
                detail={"channel": channel, "category": category.code, "photos": len(checked)},
            )
            if simple_procedure:
                _take(case, "simple_close", user, "")
        return case


def reporter_label(actor: Account | Actor | None) -> str:
    if isinstance(actor, Actor):
        return actor.label
    if _authenticated(actor):
        return str(actor.display_name or actor.get_username())[:100]
    return ""


def _photos_store(case: Case, stage: str, photos: list[Photo]) -> None:
    CasePhoto.objects.bulk_create(
        CasePhoto(
            case=case,
            stage=stage,
            path=photo_write(p),
            content_type=p.content_type,
            size=len(p.data),
            width=p.width,
            height=p.height,
            sha256=p.sha256,
        )
        for p in photos
    )


def _event(case: Case, name: str, source: str, target: str, user: Account | None, label: str, reason: str) -> None:
    CaseEvent.objects.create(
        case=case,
        transition=name,
        from_state=source,
        to_state=target,
        at=timezone.now(),
        actor=user if _authenticated(user) else None,
        actor_label=label[:100],
        reason=reason[:MAX_REASON],
    )


def case_join(*, user: Account, number: str) -> Case:
    """The reporter says the suggested open case is their problem too (并单 at intake): subscribed, not opened
    twice."""
    with _refusal_audited("cases.case.join", user, target_id=number):
        if not _authenticated(user):
            raise CaseDenied("Sign in to follow a case.")
        case = Case.objects.filter(number=number, state__in=OPEN).first()
        if case is None:
            raise CaseNotFound("No open case with this number.")
        with transaction.atomic():
            CaseSubscription.objects.get_or_create(case=case, user=user)
            audit_record(
                action="cases.case.join",
                actor=actor_from_user(user),
                target_type="cases.case",
                target_id=case.number,
                source_address=current_address(),
            )
        return case


def _case_locked(number: str) -> Case:
    case = Case.objects.select_related("category__default_unit").filter(number=number).first()
    if case is None:
        raise CaseNotFound("No case with this number.")
    return case


def _take(
    case: Case,
    name: str,
    user: Account | None,
    reason: str,
    *,
    unit_codes: Sequence[str] = (),
    photos: list[Photo] | None = None,
    rating: int | None = None,
    merge_into: Case | None = None,
    system: bool = False,
    level: int | None = None,
) -> Case:
    transition = TRANSITIONS.get(name)
    if transition is None:
        raise CaseTransitionUnknown(
            f"No transition {name[:32]!r}.", errors=[{"loc": ["transition"], "rule": "transition.unknown", "msg": name}]
        )
    if not system and not may_take(user, case, transition.role):
        raise CaseDenied("This account may not take this step on this case.")
    if not transition.allows_from(case.state):
        raise CaseTransitionNotAllowed(f"{name} is not possible from {case.state}.", state=case.state)
    reason = (reason or "").strip()
    if transition.needs_reason and not reason:
        raise _invalid("reason", "required", "Give the reason.")
    if len(reason) > MAX_REASON:
        raise _invalid("reason", "max_length", f"At most {MAX_REASON} characters.")
    step = Step(
        user=user,
        case=case,
        reason=reason,
        source=case.state,
        unit_codes=list(unit_codes),
        photos_given=len(photos or []),
        rating=rating,
        merge_into=merge_into,
        level=level,
    )
    transition.check(step)
    step.changes["state"] = transition.target
    transition.carry_out(step)
    if photos:
        stage = PhotoStage.FEEDBACK if name == "report_back" else PhotoStage.VERIFY
        _photos_store(case, stage, photos)
    label = "系统" if system else reporter_label(user)
    _event(case, name, step.source, transition.target, None if system else user, label, reason)
    audit_record(
        action=f"cases.case.{name}",
        actor=Actor.system("cases") if system else actor_from_user(user),
        target_type="cases.case",
        target_id=case.number,
        source_address=current_address(),
        detail={
            "from": step.source,
            "to": transition.target,
            **({"units": [u.code for u, _ in step.units]} if step.units else {}),
        },
    )
    return case


def case_transition(
    *,
    user: Account,
    number: str,
    name: str,
    reason: str = "",
    unit_codes: Sequence[str] = (),
    photos: Sequence[bytes] = (),
    rating: int | None = None,
    merge_into: str = "",
) -> Case:
    """Take the transition `name` of the lifecycle table on the case `number`, as `user`."""
    with _refusal_audited(
        f"cases.case.{name[:32] if name in TRANSITIONS else 'transition'}",
        user,
        target_id=number,
    ):
        case = _case_locked(number)
        checked = photos_check(list(photos)) if photos else []
        target = None
        if merge_into:
            target = Case.objects.filter(number=merge_into).first()
        with transaction.atomic():
            return _take(
                case,
                name,
                user,
                reason,
                unit_codes=unit_codes,
                photos=checked,
                rating=rating,
                merge_into=target,
            )


def clock_request_submit(*, user: Account, number: str, kind: str, reason: str, days: int = 0) -> ClockRequest:
    """The main unit asks to extend (延期, by `days` working days) or postpone (缓办) a case it handles; nothing
    changes on the clock until the command centre approves (transitions `extend`, `postpone`)."""
    with _refusal_audited(f"cases.request.{kind[:14]}", user, target_id=number):
        case = _case_locked(number)
        if not perms.handles_as_main(user, case):
            raise CaseDenied("Only the main unit asks for more time.")
        if case.state != State.HANDLING:
            raise CaseTransitionNotAllowed("Only a case being handled can be extended or postponed.", state=case.state)
        if kind not in RequestKind.values:
            raise _invalid("kind", "kind.choice", "Choose extension or postponement.")
        reason = (reason or "").strip()
        if not reason:
            raise _invalid("reason", "required", "Give the reason.")
        if kind == RequestKind.EXTENSION and not 1 <= days <= 30:
            raise _invalid("days", "days.range", "Ask for 1 to 30 working days.")
        if ClockRequest.objects.filter(case=case, state=RequestState.PENDING).exists():
            raise CaseGuardFailed("A request for this case is already waiting for a decision.")
        with transaction.atomic():
            request = ClockRequest.objects.create(
                case=case,
                kind=kind,
                days=days if kind == RequestKind.EXTENSION else 0,
                reason=reason[:MAX_REASON],
                requested_by=user,
            )
            _event(case, f"request_{kind}", case.state, case.state, user, reporter_label(user), reason)
            audit_record(
                action=f"cases.request.{kind}",
                actor=actor_from_user(user),
                target_type="cases.case",
                target_id=case.number,
                source_address=current_address(),
                detail={"days": request.days},
            )
        return request


def clock_request_refuse(*, user: Account, number: str, reason: str) -> ClockRequest:
    with _refusal_audited("cases.request.refuse", user, target_id=number):
        case = _case_locked(number)
        if not perms.is_staff_with(user, perms.DISPATCH):
            raise CaseDenied("Only the command centre decides requests.")
        with transaction.atomic():
            request = ClockRequest.objects.select_for_update().filter(case=case, state=RequestState.PENDING).first()
            if request is None:
                raise CaseGuardFailed("No request is waiting for a decision.")
            request.state = RequestState.REFUSED
            request.decided_by = user
            request.decided_at = timezone.now()
            request.save(update_fields=["state", "decided_by", "decided_at"])
            _event(case, "request_refused", case.state, case.state, user, reporter_label(user), reason)
            audit_record(
                action="cases.request.refuse",
                actor=actor_from_user(user),
                target_type="cases.case",
                target_id=case.number,
                source_address=current_address(),
            )
        return request


def cases_supervise_due(*, now: Any = None) -> int:
    """督办 by the platform itself: every case whose clock runs and whose deadline is within NEAR_DEADLINE or past,
    not yet supervised at the level it is due (1 before the deadline, 2 after). Run by a periodic job."""
    now = now or timezone.now()
    done = 0
    due = Case.objects.filter(state__in=RUNNING, deadline__lte=now + NEAR_DEADLINE, escalation_level__lt=2)
    for case in due.select_related("category").order_by("id")[:1000]:
        wanted = 2 if case.deadline is not None and case.deadline < now else 1
        if case.escalation_level >= wanted:
            continue
        name = {State.HANDLING: "supervise", State.DISPATCHED: "supervise_dispatched"}.get(State(case.state))
        if name is None:
            continue
        reason = "已超期" if wanted == 2 else "临近处置时限"
        try:
            with transaction.atomic():
                _take(case, name, None, reason, system=True, level=wanted)
            done += 1
        except DomainError:
            continue  # someone acted on it meanwhile
    return done


# ── routing table, grid workers, categories (cases.manage_routing) ─────────────────────────────────────────────


def _require_routing(user: Account) -> None:
    if not perms.is_staff_with(user, perms.ROUTING):
        raise CaseDenied("This account may not change the routing table.")


def route_set(
    *,
    user: Account,
    category_code: str,
    unit_code: str,
    role: str = UnitRole.MAIN,
    cell_code: str = "",
    street_code: str = "",
) -> Route:
    """A row of the routing table: `category_code` in a grid cell (`cell_code`), a street or district
    (`street_code`), or the whole city (both blank) goes to `unit_code` as 主办 or 协办. The place must be on the
    city grid; an existing row for the same category, place and unit changes its role."""
    cell_code, street_code = (cell_code or "").strip(), (street_code or "").strip()
    with _refusal_audited("cases.route.set", user):
        _require_routing(user)
        category = category_get(category_code[:20])
        unit = Department.objects.filter(code=unit_code[:50]).first()
        if unit is None:
            raise _invalid("unit", "unit.unknown", "Unknown unit.")
        if role not in UnitRole.values:
            raise _invalid("role", "role.choice", "Choose 主办 or 协办.")
        if cell_code and street_code:
            raise _invalid("place", "place.one", "Name a grid cell or a street/district, not both.")
        if cell_code and not GridCell.objects.filter(code=cell_code[:20]).exists():
            raise _invalid("cell_code", "place.unknown", "No grid cell with this code.")
        if (
            street_code
            and not Division.objects.filter(
                code=street_code[:12], level__in=(DivisionLevel.STREET, DivisionLevel.COUNTY)
            ).exists()
        ):
            raise _invalid("street_code", "place.unknown", "No street or district with this code.")
        with transaction.atomic():
            route, _ = Route.objects.update_or_create(
                category=category, cell_code=cell_code, street_code=street_code, unit=unit, defaults={"role": role}
            )
            audit_record(
                action="cases.route.set",
                actor=actor_from_user(user),
                target_type="cases.route",
                target_id=route.pk,
                source_address=current_address(),
                detail={"category": category.code, "unit": unit.code, "cell": cell_code, "street": street_code},
            )
        return route


def route_delete(*, user: Account, route_id: int) -> None:
    with _refusal_audited("cases.route.delete", user, target_id=route_id):
        _require_routing(user)
        with transaction.atomic():
            deleted, _ = Route.objects.filter(pk=route_id).delete()
            if not deleted:
                raise CaseNotFound("No such route.")
            audit_record(
                action="cases.route.delete",
                actor=actor_from_user(user),
                target_type="cases.route",
                target_id=route_id,
                source_address=current_address(),
            )


def grid_assign(
    *, user: Account, worker: Account, cell_code: str, theme: str = Theme.CITY_MANAGEMENT
) -> GridAssignment:
    with _refusal_audited("cases.grid.assign", user):
        _require_routing(user)
        if theme not in Theme.values:
            raise _invalid("theme", "theme.choice", "Unknown thematic grid.")
        if not perms.is_staff_with(worker, perms.VERIFY):
            raise _invalid("worker", "worker.role", "The account is not a grid worker.")
        cell_code = (cell_code or "").strip()
        if not GridCell.objects.filter(code=cell_code[:20]).exists():
            raise _invalid("cell_code", "place.unknown", "No grid cell with this code.")
        with transaction.atomic():
            assignment, _ = GridAssignment.objects.get_or_create(worker=worker, cell_code=cell_code, theme=theme)
            audit_record(
                action="cases.grid.assign",
                actor=actor_from_user(user),
                target_type="cases.gridassignment",
                target_id=assignment.pk,
                source_address=current_address(),
                detail={"cell": cell_code, "theme": theme},
            )
        return assignment


def grid_unassign(*, user: Account, assignment_id: int) -> None:
    """A grid worker no longer responsible for a cell in a thematic grid (the assignment row removed, audited)."""
    with _refusal_audited("cases.grid.unassign", user, target_id=assignment_id):
        _require_routing(user)
        with transaction.atomic():
            row = GridAssignment.objects.select_for_update().filter(pk=assignment_id).first()
            if row is None:
                raise CaseNotFound("No such grid assignment.")
            detail = {"cell": row.cell_code, "theme": row.theme}
            row.delete()
            audit_record(
                action="cases.grid.unassign",
                actor=actor_from_user(user),
                target_type="cases.gridassignment",
                target_id=assignment_id,
                source_address=current_address(),
                detail=detail,
            )


def category_upsert_by_system(*, actor: Actor, code: str, defaults: dict[str, Any]) -> tuple[Category, bool]:
    """A category as the city's catalogue of classes gives it (the demo and imports); an existing one is kept as
    staff edited it."""
    with transaction.atomic():
        category, created = Category.objects.get_or_create(code=code, defaults=defaults)
        if created:
            audit_record(action="cases.category.create", actor=actor, target_type="cases.category", target_id=code)
    return category, created


# ── Open311 keys (cases.manage_open311key) ──────────────────────────────────────────────────────────────────────


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open311_key_issue(*, user: Account, name: str) -> tuple[Open311Key, str]:
    """A new key for a department system: returned once, only its hash kept."""
    with _refusal_audited("cases.open311key.issue", user):
        if not perms.is_staff_with(user, perms.OPEN311_KEYS):
            raise CaseDenied("This account may not issue API keys.")
        name = (name or "").strip()
        if not name:
            raise _invalid("name", "required", "Name the system the key is for.")
        return _key_create(name[:100], actor_from_user(user), user)


def open311_key_issue_by_system(*, name: str, actor: Actor) -> tuple[Open311Key, str]:
    return _key_create(name[:100], actor, None)


def _key_create(name: str, actor: Actor, user: Account | None) -> tuple[Open311Key, str]:
    key = "o311_" + secrets.token_urlsafe(24)
    with transaction.atomic():
        row = Open311Key.objects.create(
            name=name, key_hash=_key_hash(key), prefix=key[5:11], created_by=user if _authenticated(user) else None
        )
        audit_record(
            action="cases.open311key.issue",
            actor=actor,
            target_type="cases.open311key",
            target_id=row.pk,
            source_address=current_address(),
            detail={"name": name, "prefix": row.prefix},
        )
    return row, key


def open311_key_revoke(*, user: Account, key_id: int) -> Open311Key:
    with _refusal_audited("cases.open311key.revoke", user, target_id=key_id):
        if not perms.is_staff_with(user, perms.OPEN311_KEYS):
            raise CaseDenied("This account may not revoke API keys.")
        with transaction.atomic():
            row = Open311Key.objects.select_for_update().filter(pk=key_id, revoked_at__isnull=True).first()
            if row is None:
                raise CaseNotFound("No active key with this id.")
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
            audit_record(
                action="cases.open311key.revoke",
                actor=actor_from_user(user),
                target_type="cases.open311key",
                target_id=row.pk,
                source_address=current_address(),
            )
        return row


def open311_key_check(key: str | None) -> Open311Key:
    """The active key row for `key`; a missing, unknown or revoked key is refused (and audited)."""
    row = Open311Key.objects.filter(key_hash=_key_hash(key), revoked_at__isnull=True).first() if key else None
    if row is None:
        audit_record(
            action="cases.open311.key",
            actor=Actor.anonymous(),
            outcome="denied",
            source_address=current_address(),
            detail={"problem": "cases-open311-key-invalid"},
        )
        raise Open311KeyInvalid("api_key is missing, unknown or revoked.")
    return row
