"""Write use-cases of the service hall, one module per concern; import them from here.

Each service owns its transaction, checks who may act, writes its rows and its audit record together, and sends
messages after commit. Every change of an application's state goes through `application_transition` (deciding),
which looks the transition up in `hall.workflow.TRANSITIONS`, locks the row and applies the change with a guarded
UPDATE on the version it read: of two officers acting at once exactly one wins, the other hears
TransitionNotAllowed (409).
"""

from rongcheng.hall.checks import CheckItem as CheckItem
from rongcheng.hall.checks import CheckMeasure as CheckMeasure
from rongcheng.hall.checks import decision_check_register as decision_check_register
from rongcheng.hall.services._shared import MAX_REASON as MAX_REASON
from rongcheng.hall.services._shared import MESSAGES as MESSAGES
from rongcheng.hall.services._shared import NEAR_DEADLINE_WORKING_DAYS as NEAR_DEADLINE_WORKING_DAYS
from rongcheng.hall.services._shared import REMEDY as REMEDY
from rongcheng.hall.services._shared import _denied as _denied
from rongcheng.hall.services._shared import _event as _event
from rongcheng.hall.services._shared import _notify as _notify
from rongcheng.hall.services.after import POOR_RATING as POOR_RATING
from rongcheng.hall.services.after import application_rate as application_rate
from rongcheng.hall.services.after import follow_up_answer as follow_up_answer
from rongcheng.hall.services.after import message_mark_read as message_mark_read
from rongcheng.hall.services.applying import _applicant_party as _applicant_party
from rongcheng.hall.services.applying import _draft_quota_check as _draft_quota_check
from rongcheng.hall.services.applying import _file_discard as _file_discard
from rongcheng.hall.services.applying import _files_discard as _files_discard
from rongcheng.hall.services.applying import _in_chinese as _in_chinese
from rongcheng.hall.services.applying import _own_draft_or_correction as _own_draft_or_correction
from rongcheng.hall.services.applying import _party_check as _party_check
from rongcheng.hall.services.applying import _registry_values as _registry_values
from rongcheng.hall.services.applying import _upload_quota_check as _upload_quota_check
from rongcheng.hall.services.applying import application_continue_or_start as application_continue_or_start
from rongcheng.hall.services.applying import application_draft_discard as application_draft_discard
from rongcheng.hall.services.applying import application_prefill as application_prefill
from rongcheng.hall.services.applying import application_save as application_save
from rongcheng.hall.services.applying import application_start as application_start
from rongcheng.hall.services.applying import application_upload as application_upload
from rongcheng.hall.services.catalogue import SERVICE_FIELDS as SERVICE_FIELDS
from rongcheng.hall.services.catalogue import _result_face_check as _result_face_check
from rongcheng.hall.services.catalogue import calendar_day_remove as calendar_day_remove
from rongcheng.hall.services.catalogue import calendar_day_set as calendar_day_set
from rongcheng.hall.services.catalogue import calendar_seed as calendar_seed
from rongcheng.hall.services.catalogue import service_item_save as service_item_save
from rongcheng.hall.services.catalogue import service_item_upsert as service_item_upsert
from rongcheng.hall.services.deadlines import applications_escalate as applications_escalate
from rongcheng.hall.services.deciding import _apply as _apply
from rongcheng.hall.services.deciding import _authorize as _authorize
from rongcheng.hall.services.deciding import application_resubmit as application_resubmit
from rongcheng.hall.services.deciding import application_submit as application_submit
from rongcheng.hall.services.deciding import application_transition as application_transition
from rongcheng.hall.services.deciding import countersign_answer as countersign_answer
from rongcheng.hall.services.deciding import fee_paid_record as fee_paid_record
from rongcheng.hall.services.decisions_checked import DECISION_AHEAD as DECISION_AHEAD
from rongcheng.hall.services.decisions_checked import _checked_application as _checked_application
from rongcheng.hall.services.decisions_checked import application_check_record as application_check_record
from rongcheng.hall.services.decisions_checked import application_checks as application_checks
from rongcheng.hall.services.decisions_checked import application_checks_refresh as application_checks_refresh
