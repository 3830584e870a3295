"""Write use-cases of the identity platform, one module per concern; import them from here.

Every authentication event is an audit record with the source address. Refusals are recorded outside any atomic block
that fails, so the trace survives the refusal. Counters (failed sign-ins, code attempts, the TOTP replay guard)
change only through single conditional UPDATE statements.
"""

from rongcheng.identity.services.assurance import (
    STEP_UP_MISMATCHES_PER_HOUR as STEP_UP_MISMATCHES_PER_HOUR,
)
from rongcheng.identity.services.assurance import (
    VERIFY_IN_PERSON as VERIFY_IN_PERSON,
)
from rongcheng.identity.services.assurance import (
    _bound_elsewhere as _bound_elsewhere,
)
from rongcheng.identity.services.assurance import (
    _name_validate as _name_validate,
)
from rongcheng.identity.services.assurance import (
    assurance_set_by_system as assurance_set_by_system,
)
from rongcheng.identity.services.assurance import (
    in_person_verify as in_person_verify,
)
from rongcheng.identity.services.assurance import (
    resident_register as resident_register,
)
from rongcheng.identity.services.assurance import (
    step_up_confirm as step_up_confirm,
)
from rongcheng.identity.services.assurance import (
    step_up_start as step_up_start,
)
from rongcheng.identity.services.codes import (
    CODE_DIGITS as CODE_DIGITS,
)
from rongcheng.identity.services.codes import (
    MOBILE as MOBILE,
)
from rongcheng.identity.services.codes import (
    _code_consume as _code_consume,
)
from rongcheng.identity.services.codes import (
    _code_digest as _code_digest,
)
from rongcheng.identity.services.codes import (
    _code_send as _code_send,
)
from rongcheng.identity.services.codes import (
    codes_expired_delete as codes_expired_delete,
)
from rongcheng.identity.services.codes import (
    phone_index as phone_index,
)
from rongcheng.identity.services.codes import (
    phone_validate as phone_validate,
)
from rongcheng.identity.services.codes import (
    sign_in_code_send as sign_in_code_send,
)
from rongcheng.identity.services.codes import (
    sms_sign_in as sms_sign_in,
)
from rongcheng.identity.services.context import (
    PENDING as PENDING,
)
from rongcheng.identity.services.context import (
    SESSION_RECORD as SESSION_RECORD,
)
from rongcheng.identity.services.context import (
    SESSION_RECORDED as SESSION_RECORDED,
)
from rongcheng.identity.services.context import (
    SESSION_SEEN as SESSION_SEEN,
)
from rongcheng.identity.services.context import (
    _audit as _audit,
)
from rongcheng.identity.services.context import (
    _field_error as _field_error,
)
from rongcheng.identity.services.passwords import (
    password_change as password_change,
)
from rongcheng.identity.services.passwords import (
    password_change_reason as password_change_reason,
)
from rongcheng.identity.services.passwords import (
    password_rules_check as password_rules_check,
)
from rongcheng.identity.services.representations import (
    _entity_by_credit_code as _entity_by_credit_code,
)
from rongcheng.identity.services.representations import (
    _is_registry_representative as _is_registry_representative,
)
from rongcheng.identity.services.representations import (
    representation_claim as representation_claim,
)
from rongcheng.identity.services.representations import (
    representation_delegate as representation_delegate,
)
from rongcheng.identity.services.representations import (
    representation_is_active as representation_is_active,
)
from rongcheng.identity.services.representations import (
    representation_revoke as representation_revoke,
)
from rongcheng.identity.services.sessions import (
    LAST_SEEN_RESOLUTION as LAST_SEEN_RESOLUTION,
)
from rongcheng.identity.services.sessions import (
    _session_store_delete as _session_store_delete,
)
from rongcheng.identity.services.sessions import (
    session_close as session_close,
)
from rongcheng.identity.services.sessions import (
    session_end as session_end,
)
from rongcheng.identity.services.sessions import (
    session_open as session_open,
)
from rongcheng.identity.services.sessions import (
    session_rekey as session_rekey,
)
from rongcheng.identity.services.sessions import (
    session_touch as session_touch,
)
from rongcheng.identity.services.sessions import (
    sessions_expired_close as sessions_expired_close,
)
from rongcheng.identity.services.sessions import (
    sessions_idle_end as sessions_idle_end,
)
from rongcheng.identity.services.sign_in import (
    TOTP_ISSUER as TOTP_ISSUER,
)
from rongcheng.identity.services.sign_in import (
    _guard as _guard,
)
from rongcheng.identity.services.sign_in import (
    _locked_until as _locked_until,
)
from rongcheng.identity.services.sign_in import (
    _refuse_locked as _refuse_locked,
)
from rongcheng.identity.services.sign_in import (
    _refuse_sign_in as _refuse_sign_in,
)
from rongcheng.identity.services.sign_in import (
    _totp_associated_data as _totp_associated_data,
)
from rongcheng.identity.services.sign_in import (
    _totp_cipher as _totp_cipher,
)
from rongcheng.identity.services.sign_in import (
    password_sign_in as password_sign_in,
)
from rongcheng.identity.services.sign_in import (
    second_factor_for as second_factor_for,
)
from rongcheng.identity.services.sign_in import (
    sign_in_guard_release as sign_in_guard_release,
)
from rongcheng.identity.services.sign_in import (
    totp_enrol_confirm as totp_enrol_confirm,
)
from rongcheng.identity.services.sign_in import (
    totp_enrol_start as totp_enrol_start,
)
from rongcheng.identity.services.sign_in import (
    totp_provision as totp_provision,
)
from rongcheng.identity.services.sign_in import (
    totp_secret as totp_secret,
)
from rongcheng.identity.services.sign_in import (
    totp_sign_in as totp_sign_in,
)
from rongcheng.identity.services.sign_in import (
    totp_uri as totp_uri,
)
