"""Session policy on every request of a signed-in account (GB/T 22239 8.1.4.1 b and a): the idle timeout enforced on
the server, the session's "last seen", and a forced password change before anything else."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from rongcheng.accounts.models import User
from rongcheng.identity.services import password_change_reason
from rongcheng.identity.web import session_still_open
from rongcheng.kernel.problems import problem_response

# Paths a person who must change the password may still open.
_OPEN_PREFIXES = ("/static/", "/i18n/", "/favicon.ico", "/problems/")


class SessionPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            # No session cookie, no signed-in session: request.user could only be anonymous, so it is not loaded.
            # An API call with an access token (checked per call by accounts.api_auth) pays nothing here.
            return self.get_response(request)
        user = request.user
        if isinstance(user, User) and user.is_authenticated:
            if not session_still_open(request):
                return self._ended(request)
            reason = password_change_reason(user)
            if reason is not None and not self._open(request):
                return self._change_password(request, reason)
        return self.get_response(request)

    @staticmethod
    def _open(request: HttpRequest) -> bool:
        exempt = (reverse("identity:password-change"), reverse("identity:sign-out"))
        return request.path in exempt or request.path.startswith(_OPEN_PREFIXES)

    @staticmethod
    def _ended(request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return problem_response(request, status=401, type_slug="session-expired", title="Session expired",
                                    detail="The session was idle too long and has ended; sign in again.")  # fmt: skip
        messages.info(request, _("长时间未操作，已自动退出，请重新登录。"))
        sign_in = reverse(settings.LOGIN_URL)
        return HttpResponseRedirect(f"{sign_in}?{urlencode({'next': request.get_full_path()})}")

    @staticmethod
    def _change_password(request: HttpRequest, reason: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return problem_response(request, status=403, type_slug="password-change-required",
                                    title="Password change required",
                                    detail="Change the password on the account page first.", reason=reason)  # fmt: skip
        target = reverse("identity:password-change")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
