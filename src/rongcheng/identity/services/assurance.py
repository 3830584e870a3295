"""Resident registration (L1) and real-name step-up: L2 against the population registry with an SMS code, L3 at
a counter."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.audit.models import AuditRecord
from rongcheng.audit.services import Actor, actor_from_user, audit_record
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    AccountNotFound,
    CodeRateLimited,
    PersonAlreadyBound,
    RealNameMismatch,
    RegistrationInvalid,
    UsernameTaken,
    VerificationRefused,
)
from rongcheng.identity.models import (
    CodePurpose,
    InPersonVerification,
    OneTimeCode,
    ResidentProfile,
)
from rongcheng.identity.services.codes import _code_consume, _code_send, phone_index, phone_validate
from rongcheng.identity.services.context import _audit, _field_error
from rongcheng.identity.services.passwords import password_rules_check
from rongcheng.kernel.crypto import constant_time_equal
from rongcheng.kernel.errors import ValidationFailed
from rongcheng.kernel.identifiers import id_number_validate
from rongcheng.kernel.masking import mask_id_number, mask_phone
from rongcheng.registries.models import Person, PersonStatus
from rongcheng.registries.services import person_index_for

STEP_UP_MISMATCHES_PER_HOUR = 5  # mismatched registry checks an account may make
VERIFY_IN_PERSON = "identity.verify_in_person"


def _name_validate(name: str, field: str = "name") -> str:
    value = name.strip()
    if not 2 <= len(value) <= 50 or any(c.isdigit() or c in "<>&\"'" for c in value):
        raise ValidationFailed("The name is not valid.", errors=[_field_error(field, "name.format", "2-50 letters")])
    return value


def resident_register(*, username: str, password: str, name: str, id_number: str, phone: str) -> User:
    """A resident account at L1: the name, ID number and phone are only format-checked (self-declared)."""
    errors: list[dict[str, Any]] = []
    checks: list[tuple[str, Any]] = [
        ("name", lambda: _name_validate(name)),
        ("id_number", lambda: id_number_validate(id_number).value),
        ("phone", lambda: phone_validate(phone)),
        ("password", lambda: password_rules_check(password, None, field="password")),
    ]
    values: dict[str, Any] = {}
    try:
        UnicodeUsernameValidator()(username)
        if not 3 <= len(username) <= 150:
            raise ValidationError("length")
    except ValidationError:
        errors.append(_field_error("username", "username.format", "3-150 letters, digits and @.+-_"))
    for field, check in checks:
        try:
            values[field] = check()
        except ValidationFailed as exc:
            errors += exc.errors
    if errors:
        raise RegistrationInvalid("The registration is not valid.", errors=errors)
    number = values["id_number"]
    try:
        with transaction.atomic():
            user = User(username=username, kind=AccountKind.RESIDENT, display_name=values["name"],
                        assurance_level=AssuranceLevel.L1, password_changed_at=clock.now())  # fmt: skip
            user.set_password(password)
            user.save()
            ResidentProfile.objects.create(
                user=user, name=values["name"], id_number_index=person_index_for(number),
                id_number_masked=mask_id_number(number), phone_index=phone_index(values["phone"]),
                phone_masked=mask_phone(values["phone"]),
            )  # fmt: skip
            _audit("identity.register", actor=actor_from_user(user), target=user,
                   detail={"level": 1})  # fmt: skip
    except IntegrityError as exc:
        if User.objects.filter(username=username).exists():
            raise UsernameTaken(
                "This username is taken.", errors=[_field_error("username", "username.taken", "taken")]
            ) from exc
        raise
    return user


def _bound_elsewhere(user: User, index: str) -> bool:
    return User.objects.filter(id_number_index=index).exclude(pk=user.pk).exists()


def step_up_start(*, user: User, name: str, id_number: str, phone: str) -> OneTimeCode:
    """L2, first half: the name, ID number and phone must match one living person of the population registry; a
    code then goes to that phone. Nothing is bound until the code comes back."""
    number = id_number_validate(id_number).value
    mobile = phone_validate(phone)
    clean_name = _name_validate(name)
    recent_mismatches = AuditRecord.objects.filter(
        action="identity.step_up", actor_kind="user", actor_id=str(user.pk), outcome="failure",
        occurred_at__gte=clock.now() - dt.timedelta(hours=1),
    ).count()  # fmt: skip
    if recent_mismatches >= STEP_UP_MISMATCHES_PER_HOUR:  # the registry must not become an oracle for guesses
        raise CodeRateLimited("Too many mismatched verifications in the last hour.", retry_after=3600)
    index = person_index_for(number)
    person = Person.objects.filter(id_number_index=index).first()
    if (
        person is None
        or person.status != PersonStatus.LIVING
        or person.name != clean_name
        or not person.phone_index
        or not constant_time_equal(person.phone_index.encode(), phone_index(mobile).encode())
    ):
        _audit("identity.step_up", actor=actor_from_user(user), outcome="failure", target=user,
               detail={"level": 2, "reason": "registry_mismatch"})  # fmt: skip
        raise RealNameMismatch("The name, ID number and phone do not match the population registry.")
    if (user.id_number_index and user.id_number_index != index) or _bound_elsewhere(user, index):
        _audit("identity.step_up", actor=actor_from_user(user), outcome="denied", target=user,
               detail={"level": 2, "reason": "bound_elsewhere"})  # fmt: skip
        raise PersonAlreadyBound("This person is bound to another account.")
    row = _code_send(purpose=CodePurpose.STEP_UP, phone=mobile, actor=actor_from_user(user),
                     user=user, id_number_index=index)  # fmt: skip
    assert row is not None  # noqa: S101  # a step-up code always has its account
    return row


def step_up_confirm(*, user: User, code: str) -> User:
    """L2, second half: the code proves the phone; the account is bound to the person (by the ID number's blind
    index) and raised to L2. The phone becomes the account's verified sign-in number."""
    row = _code_consume(purpose=CodePurpose.STEP_UP, index="", code=code, user=user)
    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=user.pk)
        person = Person.objects.filter(id_number_index=row.id_number_index, status=PersonStatus.LIVING).first()
        if person is None or _bound_elsewhere(account, row.id_number_index):
            raise PersonAlreadyBound("This person is bound to another account.")
        previous = account.assurance_level
        account.id_number_index = row.id_number_index
        account.assurance_level = max(previous, AssuranceLevel.L2)
        account.save(update_fields=["id_number_index", "assurance_level"])
        ResidentProfile.objects.filter(phone_index=row.phone_index, phone_verified_at__isnull=False).exclude(
            user=account
        ).update(phone_verified_at=None)
        ResidentProfile.objects.update_or_create(
            user=account,
            defaults={"name": person.name, "id_number_index": person.id_number_index,
                      "id_number_masked": person.id_number_masked, "phone_index": row.phone_index,
                      "phone_masked": row.phone_masked, "phone_verified_at": clock.now()},
        )  # fmt: skip
        _audit("identity.step_up", actor=actor_from_user(account), target=account,
               detail={"level": 2, "from": previous, "to": account.assurance_level,
                       "via": "registry_and_sms"})  # fmt: skip
    user.id_number_index, user.assurance_level = account.id_number_index, account.assurance_level
    return account


def in_person_verify(*, officer: User, username: str, id_number: str, window: str) -> InPersonVerification:
    """L3: an officer with the permission, at a counter of their department, saw the resident and the identity card.
    Binds the account to the person if it was not bound yet."""
    if officer.kind != AccountKind.STAFF or officer.department_id is None or not officer.has_perm(VERIFY_IN_PERSON):
        _audit("identity.in_person.verify", actor=actor_from_user(officer), outcome="denied",
               detail={"permission": VERIFY_IN_PERSON})  # fmt: skip
        raise VerificationRefused("This account may not verify residents in person.")
    number = id_number_validate(id_number).value
    counter = window.strip()
    if not counter or len(counter) > 50:
        raise ValidationFailed("Name the counter window.", errors=[_field_error("window", "window.required", "1-50")])
    account = User.objects.filter(
        username=username, kind__in=(AccountKind.RESIDENT, AccountKind.COMPANY_REPRESENTATIVE), is_active=True
    ).first()
    if account is None:
        raise AccountNotFound("No resident account with this username.")
    index = person_index_for(number)
    person = Person.objects.filter(id_number_index=index, status=PersonStatus.LIVING).first()
    if person is None:
        raise RealNameMismatch("No living person with this ID number in the population registry.")
    if (account.id_number_index and account.id_number_index != index) or _bound_elsewhere(account, index):
        raise PersonAlreadyBound("The account or the person is bound elsewhere.")
    assert officer.department is not None  # noqa: S101  # checked above
    with transaction.atomic():
        previous = account.assurance_level
        User.objects.filter(pk=account.pk).update(id_number_index=index, assurance_level=AssuranceLevel.L3)
        ResidentProfile.objects.update_or_create(
            user=account, defaults={"name": person.name, "id_number_index": index,
                                    "id_number_masked": person.id_number_masked},
        )  # fmt: skip
        record = InPersonVerification.objects.create(
            user=account, verified_by=officer, department=officer.department, window=counter, verified_at=clock.now()
        )
        _audit("identity.step_up", actor=actor_from_user(officer), target=account,
               detail={"level": 3, "from": previous, "to": 3, "via": "counter", "window": counter,
                       "department": officer.department.code})  # fmt: skip
    return record


def assurance_set_by_system(*, user: User, person: Person, level: int, actor: Actor, reason: str) -> User:
    """Bind an account to a person at a level without the resident's own proof: only for trusted setup (the demo
    city, data migrations), never reachable from a page or the API. The phone the registry holds becomes the
    account's verified sign-in number."""
    with transaction.atomic():
        account = User.objects.select_for_update().get(pk=user.pk)
        if _bound_elsewhere(account, person.id_number_index):
            raise PersonAlreadyBound("This person is bound to another account.")
        previous = account.assurance_level
        account.id_number_index = person.id_number_index
        account.assurance_level = max(previous, level)
        account.save(update_fields=["id_number_index", "assurance_level"])
        if person.phone_index:
            ResidentProfile.objects.filter(phone_index=person.phone_index, phone_verified_at__isnull=False).exclude(
                user=account
            ).update(phone_verified_at=None)
        ResidentProfile.objects.update_or_create(
            user=account,
            defaults={"name": person.name, "id_number_index": person.id_number_index,
                      "id_number_masked": person.id_number_masked, "phone_index": person.phone_index,
                      "phone_masked": person.phone_masked,
                      "phone_verified_at": clock.now() if person.phone_index else None},
        )  # fmt: skip
        audit_record(action="identity.step_up", actor=actor, target_type="accounts.user", target_id=account.pk,
                     detail={"level": level, "from": previous, "to": account.assurance_level, "via": "system",
                             "reason": reason})  # fmt: skip
    return account
