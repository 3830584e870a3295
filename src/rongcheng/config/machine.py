"""The lighter path of machine calls: a department system's bearer-token API call, a token grant, an introspection.

A machine call is a request to a path under MACHINE_PREFIXES that carries no cookie (no Cookie header, or an empty
one). Such a request cannot have a session (no session cookie), cannot be a browser's form or page script acting for a
signed-in person (the API's session authentication and its CSRF check need the cookie; the token, introspection and
revocation endpoints are CSRF-exempt and read no session), and gets no page with messages. The middlewares that only
serve sessions, CSRF, signed-in accounts, messages, static files and probes therefore have nothing to do for it, yet
cost worker CPU on every call (bench/README.md, "Issue 13, step 5"). `MachineCallMiddleware`, outermost, hands such a
request to a second chain: the same middlewares as settings.MIDDLEWARE, in the same order, without those in
SKIPPED_FOR_MACHINE_CALLS. Everything else stays: request id and context, metrics, the JSON access log and the
exchange log, Cache-Control no-store, problem documents under /api/, the security headers (SecurityMiddleware,
X-Frame-Options, CSP), the language of the answer (LocaleMiddleware: Accept-Language, Content-Language, Vary),
CommonMiddleware, the refusal of control characters, the refusal audit and the rate limits.

The second chain is built from settings.MIDDLEWARE, so a middleware added to the site later applies to machine calls
too unless it is added to SKIPPED_FOR_MACHINE_CALLS on purpose. A request with any cookie, or to any other path, takes
the whole chain unchanged. The caller of a machine call is anonymous (`request.user` is AnonymousUser, as
AuthenticationMiddleware would have made it without a session) until the API's token authentication names it.

The test client goes through this middleware too (it is in settings.MIDDLEWARE), so every API test without a cookie
runs the lighter chain; config/tests/test_machine_path.py compares both chains' answers through the WSGI handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

# Paths answered to programs. The OpenID Connect provider's other endpoints (authorize, logout, userinfo, discovery)
# and every page keep the whole chain.
MACHINE_PREFIXES = ("/api/", "/oauth/token/", "/oauth/introspect/", "/oauth/revoke_token/")

# What a cookie-less machine call does not need: each only reads or writes the session or its cookie, the CSRF
# cookie, messages (stored in the session or a cookie), static files or the probes' own paths.
SKIPPED_FOR_MACHINE_CALLS = frozenset(
    {
        "rongcheng.config.machine.MachineCallMiddleware",  # itself
        "rongcheng.operations.middleware.ProbeMiddleware",  # /livez, /readyz, /metrics: not machine paths
        "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/: not a machine path
        "django.contrib.sessions.middleware.SessionMiddleware",  # no cookie: no session
        "django.middleware.csrf.CsrfViewMiddleware",  # no cookie: nothing to forge; the views are CSRF-exempt
        "django.contrib.auth.middleware.AuthenticationMiddleware",  # no session: anonymous (set here)
        "rongcheng.config.middleware.LazyMessageMiddleware",  # no page: no messages
        "rongcheng.identity.middleware.SessionPolicyMiddleware",  # no session cookie: it passes the request on
    }
)


def is_machine_call(request: HttpRequest) -> bool:
    """Under a machine path, with no cookie (an empty Cookie header, as Django's test client sends, carries none)."""
    return not request.META.get("HTTP_COOKIE") and request.path.startswith(MACHINE_PREFIXES)


def machine_middleware() -> list[str]:
    """The machine chain: settings.MIDDLEWARE in its order, less what a cookie-less machine call does not need."""
    return [path for path in settings.MIDDLEWARE if path not in SKIPPED_FOR_MACHINE_CALLS]


class _MachineHandler(BaseHandler):
    """A handler whose chain is `middleware` (synchronous; WSGI), ending in Django's own view dispatch."""

    def __init__(self, middleware: list[str]) -> None:
        super().__init__()
        self._machine_middleware = middleware
        self.load_middleware()

    def load_middleware(self, is_async: bool = False) -> None:
        """BaseHandler.load_middleware over another list, for synchronous middlewares (all of the site's are)."""
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # untyped in stubs
        for path in reversed(self._machine_middleware):
            factory = import_string(path)
            if not getattr(factory, "sync_capable", True):
                raise ImproperlyConfigured(f"Middleware {path} cannot run synchronously on the machine path.")
            try:
                instance = factory(handler)
            except MiddlewareNotUsed:
                continue
            if instance is None:
                raise ImproperlyConfigured(f"Middleware factory {path} returned None.")
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class MachineCallMiddleware:
    """Outermost: a machine call goes down the machine chain, any other request down the rest of the site's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.machine = _MachineHandler(machine_middleware())._middleware_chain

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_machine_call(request):
            request.user = AnonymousUser()  # as AuthenticationMiddleware would make it without a session
            return self.machine(request)  # type: ignore[return-value]  # synchronous: an HttpResponse
        return self.get_response(request)
