"""The session policy costs nothing on calls without a session (API calls with an access token)."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from rongcheng.identity.middleware import SessionPolicyMiddleware


def _answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _request_with_lazy_user(loaded: list[int], **headers: str) -> HttpRequest:
    request = RequestFactory().get("/api/v1/health", headers={"Authorization": "Bearer x", **headers})

    def load() -> AnonymousUser:
        loaded.append(1)
        return AnonymousUser()

    request.user = SimpleLazyObject(load)  # type: ignore[assignment]  # as AuthenticationMiddleware sets it
    return request


def test_without_a_session_cookie_the_account_is_not_loaded():
    loaded: list[int] = []
    response = SessionPolicyMiddleware(_answer)(_request_with_lazy_user(loaded))
    assert (response.status_code, response.content, loaded) == (200, b"ok", [])


def test_with_a_session_cookie_the_account_is_loaded_and_checked():
    loaded: list[int] = []
    request = _request_with_lazy_user(loaded, Cookie=f"{settings.SESSION_COOKIE_NAME}=abc")
    response = SessionPolicyMiddleware(_answer)(request)
    assert (response.status_code, loaded) == (200, [1])
