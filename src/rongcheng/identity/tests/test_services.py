"""The identity services: lockout, TOTP, one-time codes, passwords, registration, step-up, counter verification and
representations. Time moves by the identity clock, never by sleeping."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rongcheng.accounts.models import AccountKind, AssuranceLevel, User
from rongcheng.audit.models import AuditRecord
from rongcheng.identity import totp
from rongcheng.identity.clock import clock
from rongcheng.identity.errors import (
    AccountLocked,
    CodeInvalid,
    CodeRateLimited,
    PasswordRejected,
    PersonAlreadyBound,
    RealNameMismatch,
    RegistrationInvalid,
    RepresentationNotFound,
    RepresentationRefused,
    SignInRefused,
    UsernameTaken,
    VerificationRefused,
)
from rongcheng.identity.models import (
    InPersonVerification,
    OneTimeCode,
    Representation,
    RepresentationBasis,
    ResidentProfile,
    SignInGuard,
    TotpDevice,
)
from rongcheng.identity.passwords import password_problems
from rongcheng.identity.services import (
    in_person_verify,
    password_change,
    password_change_reason,
    password_rules_check,
    password_sign_in,
    representation_claim,
    representation_delegate,
    representation_revoke,
    sign_in_code_send,
    sms_sign_in,
    step_up_confirm,
    step_up_start,
    totp_enrol_confirm,
    totp_enrol_start,
    totp_secret,
    totp_sign_in,
)
from rongcheng.identity.sms import outbox_read
from rongcheng.identity.tests.factories import (
    PASSWORD,
    _clear_id_number,
    current_code,
    last_code,
    resident,
    staff,
    verified_resident,
)
from rongcheng.kernel.tests.contexts import request_from
from rongcheng.registries.tests.factories import make_entity, make_id_number, make_person

pytestmark = pytest.mark.django_db


def _audits(action: str, outcome: str | None = None) -> int:
    qs = AuditRecord.objects.filter(action=action)
    return (qs.filter(outcome=outcome) if outcome else qs).count()


# --- lockout -----------------------------------------------------------------------------------------------------


def test_four_failures_do_not_lock_and_a_right_password_still_signs_in():
    user, _ = staff()
    for _ in range(4):
        with pytest.raises(SignInRefused):
            password_sign_in(username="officer", password="wrong")
    assert SignInGuard.objects.get(user=user).failures == 4
    assert password_sign_in(username="officer", password=PASSWORD) == user


def test_the_fifth_failure_locks_for_thirty_minutes_even_against_the_right_password():
    with request_from("192.0.2.10"):  # the address of every record comes from the request context
        user, _ = staff()
        for _ in range(4):
            with pytest.raises(SignInRefused):
                password_sign_in(username="officer", password="wrong")
        with pytest.raises(AccountLocked) as locked:
            password_sign_in(username="officer", password="wrong")
        assert locked.value.extra["locked_until"] == clock.now() + dt.timedelta(minutes=30)
        assert _audits("identity.lockout", "denied") == 1

        with pytest.raises(AccountLocked) as again:
            password_sign_in(username="officer", password=PASSWORD)
        # The refusal of the right password is the same as of a wrong one: it does not tell.
        with pytest.raises(AccountLocked) as wrong:
            password_sign_in(username="officer", password="still wrong")
        assert again.value.detail == wrong.value.detail
        assert again.value.extra == wrong.value.extra
        assert SignInGuard.objects.get(user=user).failures == 5  # refusals while locked are not counted

        clock.advance(dt.timedelta(minutes=29, seconds=59))
        with pytest.raises(AccountLocked):
            password_sign_in(username="officer", password=PASSWORD)
        clock.advance(dt.timedelta(seconds=1))
        assert password_sign_in(username="officer", password=PASSWORD) == user
        assert SignInGuard.objects.get(user=user).failures == 0
        locked_records = AuditRecord.objects.filter(action="identity.sign_in", outcome="denied")
        assert [r.detail["reason"] for r in locked_records] == ["locked", "locked", "locked"]
        assert {r.source_address for r in locked_records} == {"192.0.2.10"}


def test_lockout_threshold_and_duration_come_from_settings(settings):
    settings.IDENTITY_LOCKOUT_THRESHOLD = 2
    settings.IDENTITY_LOCKOUT_SECONDS = 60
    staff()
    with pytest.raises(SignInRefused):
        password_sign_in(username="officer", password="wrong")
    with pytest.raises(AccountLocked):
        password_sign_in(username="officer", password="wrong")
    clock.advance(dt.timedelta(seconds=60))
    assert password_sign_in(username="officer", password=PASSWORD).username == "officer"


def test_failures_of_the_second_factor_count_towards_the_lock():
    user, _secret = staff()
    for _ in range(4):
        password_sign_in(username="officer", password=PASSWORD)
        with pytest.raises(SignInRefused):
            totp_sign_in(user=user, code="000000")
    password_sign_in(username="officer", password=PASSWORD)
    with pytest.raises(AccountLocked):
        totp_sign_in(user=user, code="000000")


def test_unknown_account_is_refused_like_a_wrong_password_and_audited_anonymously():
    with pytest.raises(SignInRefused) as refused:
        password_sign_in(username="nobody", password="x")
    assert refused.value.detail == "The username, password or code is wrong."
    record = AuditRecord.objects.get(action="identity.sign_in")
    assert (record.actor_kind, record.outcome, record.detail["reason"]) == ("anonymous", "failure", "unknown_account")
    assert SignInGuard.objects.count() == 0


def test_api_client_accounts_cannot_sign_in_with_a_password():
    User.objects.create_user(username="system", password=PASSWORD, kind=AccountKind.API_CLIENT)
    with pytest.raises(SignInRefused):
        password_sign_in(username="system", password=PASSWORD)


# --- TOTP --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
     (2000000000, "69279037"), (20000000000, "65353130")],
)  # fmt: skip
def test_totp_matches_the_rfc_6238_sha1_vectors(timestamp, expected):
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    assert totp.totp(b"12345678901234567890", moment, digits=8) == expected


def test_a_totp_code_is_accepted_once_and_a_replay_is_refused():
    user, secret = staff()
    code = current_code(secret)
    totp_sign_in(user=user, code=code)
    with pytest.raises(SignInRefused):
        totp_sign_in(user=user, code=code)
    assert AuditRecord.objects.filter(action="identity.sign_in", outcome="failure").get().detail["reason"] == (
        "replayed_code"
    )
    clock.advance(dt.timedelta(seconds=30))
    totp_sign_in(user=user, code=current_code(secret))


def test_a_code_of_the_previous_step_is_accepted_but_not_older_ones():
    user, secret = staff()
    totp_sign_in(user=user, code=current_code(secret, offset=-1))
    with pytest.raises(SignInRefused):
        totp_sign_in(user=user, code=current_code(secret, offset=-2))


def test_totp_secret_is_stored_encrypted_and_bound_to_its_account():
    user, secret = staff()
    device = TotpDevice.objects.get(user=user)
    assert totp.secret_base32(secret) not in device.secret_cipher
    assert totp_secret(device) == secret
    other, _ = staff("other")
    TotpDevice.objects.filter(user=other).update(secret_cipher=device.secret_cipher)
    from rongcheng.kernel.crypto import CryptoError

    with pytest.raises(CryptoError):
        totp_secret(TotpDevice.objects.get(user=other))


def test_enrolment_needs_a_right_code_and_is_audited():
    user = resident()
    device, secret = totp_enrol_start(user=user)
    assert totp_enrol_start(user=user)[1] == secret  # a reload shows the same secret
    with pytest.raises(CodeInvalid):
        totp_enrol_confirm(user=user, code="123")
    assert TotpDevice.objects.get(pk=device.pk).confirmed_at is None
    totp_enrol_confirm(user=user, code=totp.totp(secret, clock.now()))
    assert TotpDevice.objects.get(pk=device.pk).confirmed_at == clock.now()
    assert _audits("identity.totp.enrol", "success") == 1


# --- one-time codes ----------------------------------------------------------------------------------------------


def test_sms_sign_in_with_a_code_sent_to_the_verified_phone():
    user, _ = verified_resident()
    sign_in_code_send(phone="13812345678")
    message = outbox_read()[-1]
    assert message["phone"] == "13812345678"
    code = last_code()
    row = OneTimeCode.objects.latest("pk")
    assert code not in row.digest
    assert len(row.digest) == 64
    assert sms_sign_in(phone="13812345678", code=code) == user
    with pytest.raises(CodeInvalid) as replay:
        sms_sign_in(phone="13812345678", code=code)
    assert replay.value.errors[0]["rule"] == "code.used"


def test_an_expired_code_is_refused():
    verified_resident()
    sign_in_code_send(phone="13812345678")
    clock.advance(dt.timedelta(minutes=5))
    with pytest.raises(CodeInvalid) as expired:
        sms_sign_in(phone="13812345678", code=last_code())
    assert expired.value.errors[0]["rule"] == "code.expired"


def test_a_code_is_dead_after_five_wrong_attempts():
    verified_resident()
    sign_in_code_send(phone="13812345678")
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        with pytest.raises(CodeInvalid):
            sms_sign_in(phone="13812345678", code=wrong)
    with pytest.raises(CodeInvalid) as exhausted:
        sms_sign_in(phone="13812345678", code=code)
    assert exhausted.value.errors[0]["rule"] == "code.attempts_exhausted"


def test_sending_is_rate_limited_per_phone():
    verified_resident()
    sign_in_code_send(phone="13812345678")
    with pytest.raises(CodeRateLimited):
        sign_in_code_send(phone="13812345678")
    for _ in range(3):  # the step-up sent one in the last hour, this test one: five in all
        clock.advance(dt.timedelta(seconds=60))
        sign_in_code_send(phone="13812345678")
    clock.advance(dt.timedelta(seconds=60))
    with pytest.raises(CodeRateLimited):
        sign_in_code_send(phone="13812345678")
    assert len(outbox_read()) == 5


def test_a_code_for_an_unknown_phone_sends_nothing_and_says_nothing():
    sign_in_code_send(phone="13900000000")
    assert outbox_read() == []
    assert AuditRecord.objects.get(action="identity.code.send").detail["delivered"] is False
    with pytest.raises(CodeInvalid):
        sms_sign_in(phone="13900000000", code="123456")


def test_an_unverified_phone_cannot_sign_in():
    resident(phone="13700000000")  # L1: the phone was declared, never proved
    sign_in_code_send(phone="13700000000")
    assert outbox_read() == []


# --- passwords ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "rule"),
    [("Sh0rt!", "password.length"), ("alllower1!", "password.upper"), ("ALLUPPER1!", "password.lower"),
     ("NoDigits!!", "password.digit"), ("NoSpecial11", "password.special")],
)  # fmt: skip
def test_password_rules(password, rule):
    with pytest.raises(PasswordRejected) as rejected:
        password_rules_check(password)
    assert rule in [e["rule"] for e in rejected.value.errors]


def test_a_password_meeting_every_rule_passes():
    password_rules_check("Fz-Gulou-2017")


def test_password_rules_come_from_settings(settings):
    settings.IDENTITY_PASSWORD_MIN_LENGTH = 12
    with pytest.raises(PasswordRejected):
        password_rules_check("Fz-Gulou-17")


def test_password_change_clears_the_initial_flag_and_records_the_date():
    user, _ = staff(must_change_password=True)
    assert password_change_reason(user) == "initial"
    password_change(user=user, current_password=PASSWORD, new_password="Fz-Gulou-2017")
    user.refresh_from_db()
    assert (user.must_change_password, user.password_changed_at) == (False, clock.now())
    assert user.check_password("Fz-Gulou-2017")
    assert password_change_reason(user) is None


def test_a_wrong_current_password_changes_nothing():
    user, _ = staff(must_change_password=True)
    before = user.password
    with pytest.raises(PasswordRejected):
        password_change(user=user, current_password="wrong", new_password="Fz-Gulou-2017")
    user.refresh_from_db()
    assert (user.password, user.must_change_password) == (before, True)
    assert _audits("identity.password.change", "success") == 0
    assert SignInGuard.objects.get(user=user).failures == 1


def test_wrong_current_passwords_count_towards_the_lock_and_a_locked_account_changes_nothing():
    user, _ = staff()
    for _ in range(5):
        with pytest.raises(PasswordRejected):
            password_change(user=user, current_password="wrong", new_password="Fz-Gulou-2017")
    guard = SignInGuard.objects.get(user=user)
    assert (guard.failures, guard.locked_until) == (5, clock.now() + dt.timedelta(minutes=30))
    assert _audits("identity.lockout", "denied") == 1
    before = user.password
    with pytest.raises(PasswordRejected):  # the right password while locked: refused the same way
        password_change(user=user, current_password=PASSWORD, new_password="Fz-Gulou-2017")
    user.refresh_from_db()
    assert user.password == before
    assert SignInGuard.objects.get(user=user).failures == 5
    with pytest.raises(AccountLocked):
        password_sign_in(username=user.username, password=PASSWORD)


def test_staff_passwords_expire_after_ninety_days_but_residents_do_not():
    officer, _ = staff(password_changed_at=clock.now())
    person = resident()
    clock.advance(dt.timedelta(days=90))
    assert password_change_reason(officer) is None
    clock.advance(dt.timedelta(seconds=1))
    assert password_change_reason(officer) == "expired"
    assert password_change_reason(person) is None


# --- registration and assurance ----------------------------------------------------------------------------------


def test_registration_makes_an_l1_account_with_masked_data_only():
    id_number = make_id_number()
    user = resident(id_number=id_number)
    profile = ResidentProfile.objects.get(user=user)
    assert (user.kind, user.assurance_level, user.id_number_index) == ("resident", 1, "")
    assert profile.id_number_masked == id_number[:6] + "********" + id_number[14:]
    assert profile.phone_masked == "138****5678"
    assert profile.phone_verified_at is None


def test_registration_reports_every_broken_rule_and_creates_nothing():
    with pytest.raises(RegistrationInvalid) as invalid:
        resident(id_number="350102198503120019", phone="12345", name="1")
    rules = {e["rule"] for e in invalid.value.errors}
    assert {"id_number.checksum", "phone.format", "name.format"} <= rules
    assert User.objects.count() == 0
    resident("taken")
    with pytest.raises(UsernameTaken):
        resident("taken")


def test_step_up_to_l2_binds_the_account_to_the_person():
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user, bound = verified_resident(person=person)
    assert bound == person
    assert (user.assurance_level, user.id_number_index) == (AssuranceLevel.L2, person.id_number_index)
    profile = ResidentProfile.objects.get(user=user)
    assert (profile.id_number_masked, profile.phone_verified_at is not None) == (person.id_number_masked, True)
    assert AuditRecord.objects.get(action="identity.step_up").detail == {
        "level": 2, "from": 1, "to": 2, "via": "registry_and_sms"
    }  # fmt: skip


@pytest.mark.parametrize("field", ["name", "phone"])
def test_step_up_refuses_details_that_do_not_match_the_registry(field):
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user = resident()
    details = {"name": "林则徐", "id_number": _clear_id_number(person), "phone": "13812345678"}
    details[field] = {"name": "林徐", "phone": "13812345679"}[field]
    with pytest.raises(RealNameMismatch):
        step_up_start(user=user, **details)
    user.refresh_from_db()
    assert (user.assurance_level, user.id_number_index, OneTimeCode.objects.count(), outbox_read()) == (1, "", 0, [])


def test_step_up_mismatches_are_limited_per_hour():
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user = resident()
    for _ in range(5):
        with pytest.raises(RealNameMismatch):
            step_up_start(user=user, name="林徐", id_number=_clear_id_number(person), phone="13812345678")  # fmt: skip
    with pytest.raises(CodeRateLimited):  # even the right details, until the hour has passed
        step_up_start(user=user, name="林则徐", id_number=_clear_id_number(person), phone="13812345678")  # fmt: skip
    assert outbox_read() == []


def test_one_person_binds_one_account():
    _first, person = verified_resident("first")
    second = resident("second")
    with pytest.raises(PersonAlreadyBound):
        step_up_start(user=second, name=person.name, id_number=_clear_id_number(person), phone="13812345678")


def test_a_wrong_step_up_code_changes_nothing():
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user = resident()
    step_up_start(user=user, name="林则徐", id_number=_clear_id_number(person), phone="13812345678")
    code = last_code()
    with pytest.raises(CodeInvalid):
        step_up_confirm(user=user, code="000000" if code != "000000" else "111111")
    user.refresh_from_db()
    assert (user.assurance_level, user.id_number_index) == (1, "")


def test_counter_verification_raises_to_l3_and_records_who_and_where():
    officer, _ = staff("clerk", perms=("verify_in_person",))
    person = make_person(id_number=make_id_number(), name="林则徐", phone="13812345678")
    user = resident()
    record = in_person_verify(officer=officer, username="resident", id_number=_clear_id_number(person),
                              window="鼓楼区政务服务中心 3号窗口")  # fmt: skip
    user.refresh_from_db()
    assert (user.assurance_level, user.id_number_index) == (3, person.id_number_index)
    assert (record.verified_by, record.department.code, record.window, record.verified_at) == (
        officer, "FZ-SZB", "鼓楼区政务服务中心 3号窗口", clock.now()
    )  # fmt: skip


def test_counter_verification_needs_the_permission():
    officer, _ = staff("clerk")
    person = make_person(id_number=make_id_number())
    resident()
    with pytest.raises(VerificationRefused):
        in_person_verify(officer=officer, username="resident", id_number=_clear_id_number(person), window="1")
    assert InPersonVerification.objects.count() == 0
    assert User.objects.get(username="resident").assurance_level == 1


# --- company representatives -------------------------------------------------------------------------------------


def test_the_registered_legal_representative_claims_delegates_and_revokes():
    boss, person = verified_resident("boss")
    entity = make_entity(legal_representative_id=person.pk)
    claimed = representation_claim(user=boss, credit_code=entity.credit_code)
    assert claimed.basis == RepresentationBasis.LEGAL_REPRESENTATIVE
    agent, _ = verified_resident("agent", person=make_person(id_number=make_id_number(), name="林则徐",
                                                              phone="13912345678"), phone="13912345678")  # fmt: skip
    until = clock.now() + dt.timedelta(days=30)
    delegated = representation_delegate(user=boss, credit_code=entity.credit_code, delegate_username="agent",
                                        valid_until=until)  # fmt: skip
    assert (delegated.user, delegated.delegated_by, delegated.valid_until) == (agent, boss, until)
    representation_revoke(user=boss, representation_id=delegated.pk)
    delegated.refresh_from_db()
    assert (delegated.revoked_by, delegated.revoked_at) == (boss, clock.now())
    assert [a.action for a in AuditRecord.objects.filter(action__startswith="identity.representation")] == [
        "identity.representation.claim", "identity.representation.delegate", "identity.representation.revoke"
    ]  # fmt: skip


def test_someone_else_cannot_claim_or_delegate_or_revoke():
    boss, person = verified_resident("boss")
    entity = make_entity(legal_representative_id=person.pk)
    other, _ = verified_resident("other", person=make_person(id_number=make_id_number(), phone="13912345678"),
                                 phone="13912345678")  # fmt: skip
    with pytest.raises(RepresentationRefused):
        representation_claim(user=other, credit_code=entity.credit_code)
    with pytest.raises(RepresentationRefused):
        representation_delegate(user=other, credit_code=entity.credit_code, delegate_username="boss",
                                valid_until=clock.now() + dt.timedelta(days=1))  # fmt: skip
    claimed = representation_claim(user=boss, credit_code=entity.credit_code)
    with pytest.raises(RepresentationNotFound):
        representation_revoke(user=other, representation_id=claimed.pk)
    assert Representation.objects.filter(revoked_at__isnull=True).count() == 1


def test_an_l1_account_cannot_claim_even_with_the_right_person():
    person = make_person(id_number=make_id_number())
    entity = make_entity(legal_representative_id=person.pk)
    user = resident()
    User.objects.filter(pk=user.pk).update(id_number_index=person.id_number_index)  # bound but only L1
    user.refresh_from_db()
    with pytest.raises(RepresentationRefused):
        representation_claim(user=user, credit_code=entity.credit_code)


def test_delegation_to_an_l1_account_is_refused():
    boss, person = verified_resident("boss")
    entity = make_entity(legal_representative_id=person.pk)
    representation_claim(user=boss, credit_code=entity.credit_code)
    resident("newcomer", phone="13600000000")
    with pytest.raises(RepresentationRefused):
        representation_delegate(user=boss, credit_code=entity.credit_code, delegate_username="newcomer",
                                valid_until=clock.now() + dt.timedelta(days=1))  # fmt: skip
    assert Representation.objects.count() == 1


def test_verify_in_person_permission_exists():
    assert Permission.objects.filter(codename="verify_in_person", content_type__app_label="identity").exists()


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_a_password_without_problems_has_every_character_class(password):
    if not password_problems(password):
        assert len(password) >= 8
        assert any(c.isupper() for c in password)
        assert any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_totp_match_accepts_only_the_right_six_digits(code):
    secret = b"12345678901234567890"
    matched = totp.totp_match(secret, code, clock.now())
    if matched is not None:
        assert code == totp.hotp(secret, matched)
