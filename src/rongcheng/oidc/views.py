"""Pages and protocol endpoints of the OpenID Connect provider.

The protocol endpoints are django-oauth-toolkit's views, extended: the consent screen (remembered per client, with a
step-up to a higher assurance level when the client asks for one by `acr_values`), the token endpoint (every refusal
audited), discovery and the JWKS from the rotating key ring. The pages: a person's authorized clients; the clients
registry of the security administrators.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider import views as oauth2_views
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.models import Application
from oauthlib.common import Request as OauthlibRequest
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error, InvalidRequestError

from rongcheng.accounts.selectors import account_signed_in
from rongcheng.kernel.errors import DomainError
from rongcheng.oidc import selectors, services
from rongcheng.oidc.models import ACCESS_TOKEN_ALGORITHMS, ClientRegistration
from rongcheng.oidc.permissions import may_manage_clients
from rongcheng.oidc.scopes import OIDC_SCOPES
from rongcheng.oidc.selectors import ClientChanged
from rongcheng.oidc.server import OFFERED_GRANT_TYPES
from rongcheng.oidc.tokens import ACR_PREFIX, signing_keys
from rongcheng.oidc.validators import StampCheckDeferral, client_usable, resource_unparseable, stamp_check_deferred

# What each scope releases, as the consent screen lists it.
SCOPE_CLAIMS = {
    "openid": gettext_lazy("登录标识（每个应用各不相同的编号）和实名认证等级"),
    "profile": gettext_lazy("姓名"),
    "id_number_masked": gettext_lazy("身份证号码（隐去出生日期等数字）"),
    "id_number": gettext_lazy("完整的身份证号码"),
    "registries:read": gettext_lazy("以您的身份查询基础信息库（按授权脱敏）"),
    "registries:write": gettext_lazy("以您的身份登记或更正基础信息库"),
}


def required_level(acr_values: str) -> int | None:
    """The lowest level named by `acr_values` (a client's list of acceptable levels); None if none is ours."""
    levels = [
        int(value.removeprefix(ACR_PREFIX))
        for value in acr_values.split()
        if value.startswith(ACR_PREFIX) and value.removeprefix(ACR_PREFIX) in {"1", "2", "3"}
    ]
    return min(levels) if levels else None


def step_up_url(level: int, next_url: str) -> str | None:
    """The identity app's step-up page, once it exists."""
    try:
        return f"{reverse('identity:step-up')}?{urlencode({'level': level, 'next': next_url})}"
    except NoReverseMatch:
        return None


class ConsentView(oauth2_views.AuthorizationView):  # type: ignore[misc]  # django-oauth-toolkit has no type hints
    """The authorization endpoint: sign-in (settings.LOGIN_URL), step-up, then consent unless remembered."""

    template_name = "oidc/authorize.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = Application.objects.select_related("registration").get(client_id=credentials["client_id"])
        if request.GET.get("code_challenge_method") != "S256":  # oauthlib defaults a missing method to "plain"
            return self.error_response(
                OAuthToolkitError(
                    error=InvalidRequestError(description="PKCE with code_challenge_method=S256 is required.",
                                              state=credentials.get("state")),
                    redirect_uri=credentials["redirect_uri"],
                ),
                application,
            )  # fmt: skip
        if any(resource_unparseable(value) for value in request.GET.getlist("resource")):
            return self.error_response(
                _invalid_target(credentials.get("state"), credentials["redirect_uri"]), application
            )
        user = account_signed_in(request.user)  # the toolkit's view signs the visitor in first
        level = required_level(request.GET.get("acr_values", ""))
        if level is not None and user.assurance_level < level:
            target = step_up_url(level, request.get_full_path())
            if target is not None:
                return HttpResponseRedirect(target)
            services.authorization_refuse(user=user, client_id=application.client_id,
                                          error="unmet_authentication_requirements", required_level=level)  # fmt: skip
            refusal = OAuthToolkitError(
                error=CustomOAuth2Error(
                    error="unmet_authentication_requirements",
                    description=f"This client needs assurance level {level}; the account is at a lower level.",
                    state=credentials.get("state"),
                ),
                redirect_uri=credentials["redirect_uri"],
            )
            return self.error_response(refusal, application)
        consent = selectors.consent_get(user=user, application=application)
        prompt = set(request.GET.get("prompt", "").split())
        if consent is not None and set(scopes) <= consent.scopes and "consent" not in prompt and "login" not in prompt:
            try:
                uri, _headers, _body, _status = self.create_authorization_response(
                    request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
                )
            except OAuthToolkitError as error:
                return self.error_response(error, application)
            return self.redirect(uri, application)  # type: ignore[no-any-return]  # the toolkit is untyped
        response: HttpResponse = super().get(request, *args, **kwargs)
        return _allow_form_redirect(response, credentials["redirect_uri"])

    def error_response(self, error: Any, application: Any, **kwargs: Any) -> HttpResponse:
        """Every refused authorization request is audited with its OAuth error (unknown client, unregistered
        redirect URI, plain PKCE, unknown scope, ...)."""
        oauth_error = getattr(error, "oauthlib_error", None)
        code = str(getattr(oauth_error, "error", "") or "invalid_request")
        if code != "unmet_authentication_requirements":  # audited where it is decided, with the level
            services.authorization_refuse(user=self.request.user, client_id=_requested_client_id(self.request),
                                          error=code)  # fmt: skip
        return super().error_response(error, application, **kwargs)  # type: ignore[no-any-return]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        scopes = context.get("scopes") or []
        context["claims"] = [SCOPE_CLAIMS.get(scope, scope) for scope in scopes]
        application = context.get("application")
        department = ""
        if application is not None:
            registration = getattr(application, "registration", None) if hasattr(application, "registration") else None
            if registration is not None and registration.department is not None:
                department = str(registration.department)
        context["department"] = department
        return context

    def form_valid(self, form: Any) -> HttpResponse:
        application = Application.objects.filter(client_id=form.cleaned_data.get("client_id")).first()
        if any(resource_unparseable(value) for value in str(form.cleaned_data.get("resource") or "").split()):
            # The hidden field was tampered with: redirect the error only to a URI registered for the client.
            redirect_uri = str(form.cleaned_data.get("redirect_uri") or "")
            if application is None or not application.redirect_uri_allowed(redirect_uri):
                fatal = FatalClientError(error=CustomOAuth2Error(error="invalid_target", status_code=400,
                                         description="A resource indicator is not a valid absolute URI."))  # fmt: skip
                return self.error_response(fatal, application)  # the 400 page, no redirect
            return self.error_response(_invalid_target(form.cleaned_data.get("state"), redirect_uri), application)
        response: HttpResponse = super().form_valid(form)
        if application is None:
            return response
        scopes = str(form.cleaned_data.get("scope") or "").split()
        location = response.get("Location", "")
        if form.cleaned_data.get("allow") and "code=" in location:
            services.consent_grant(user=self.request.user, application=application, scopes=scopes)
        return response  # a refusal went through error_response, which audited it


def _invalid_target(state: Any, redirect_uri: str) -> OAuthToolkitError:
    return OAuthToolkitError(
        error=CustomOAuth2Error(error="invalid_target", state=state,
                                description="A resource indicator is not a valid absolute URI."),
        redirect_uri=redirect_uri,
    )  # fmt: skip


class TokenView(oauth2_views.TokenView):  # type: ignore[misc]  # django-oauth-toolkit has no type hints
    """The token endpoint; a refusal is audited with its OAuth error. Successful user grants are audited too; a
    client-credentials grant is not (one per few minutes per system, and the API calls it makes are).

    Every grant goes through oauthlib's dispatch (rongcheng.oidc.server): the toolkit's own shortcut for the device
    grant, which bypasses it (and answered 500 without a `device_code`), is not taken."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.authorization_flow_token_response(request)

    def authorization_flow_token_response(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        headers, body, status = self._token_answer(request)
        # oauthlib leaves out the media type of an error raised while the token is saved (invalid_target): JSON.
        response = HttpResponse(content=body, status=status, content_type="application/json")
        for key, value in headers.items():
            response[key] = value
        error: Any = None  # the OAuth error of a refusal, as the body names it
        if status != 200:
            try:
                error = json.loads(body).get("error", "")
            except (TypeError, ValueError):
                error = ""
        grant_type = _printable(request.POST.get("grant_type", ""))
        services.token_response_record(client_id=_printable(_claimed_client_id(request)), grant_type=grant_type,
                                       error=error)  # fmt: skip
        return response

    def _token_answer(self, request: HttpRequest) -> tuple[dict[str, str], str, int]:
        """oauthlib's answer. A client-credentials grant may first be served by a client this process keeps without
        reading the stamp of clients (the token row's INSERT checks it): if the client changed meanwhile (the INSERT
        finds another stamp, or a refused first try finds one), the grant starts again with the client read afresh,
        so a grant is made, and a refusal decided, only on the client as it is now. Nothing of a client-credentials
        grant is written before its token row, so a second try repeats no effect."""
        deferral = StampCheckDeferral() if request.POST.get("grant_type") == "client_credentials" else None
        for _attempt in range(3):
            try:
                with stamp_check_deferred(deferral):
                    _url, headers, body, status = self.create_token_response(request)
            except ClientChanged:
                deferral = None  # read the client and the stamp afresh
                continue
            if status != 200 and deferral is not None and deferral.used and selectors.client_stamp() != deferral.stamp:
                deferral = None  # a refusal is never decided on a client that changed since it was kept
                continue
            return headers, body, status
        raise ClientChanged("the clients kept changing during the grant")


def _printable(text: str) -> str:
    """A client-supplied identifier as the audit trail may keep it: printable characters, bounded length."""
    if text.isprintable():  # the usual case, without a generator over every character of every grant
        return text[:100]
    return "".join(character for character in text if character.isprintable())[:100]


def _requested_client_id(request: HttpRequest) -> str:
    return _printable(str(request.GET.get("client_id") or request.POST.get("client_id", "")))


def _claimed_client_id(request: HttpRequest) -> str:
    import base64
    import binascii
    from urllib.parse import unquote_plus

    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("Basic "):
        try:
            return unquote_plus(base64.b64decode(auth[6:]).decode("utf-8").split(":", 1)[0])
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return ""
    return str(request.POST.get("client_id", ""))


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(View):
    """RFC 7662 token introspection (POST, client authentication required): only a client's own tokens are
    described, with their pairwise `sub` (oidc.selectors.token_introspect)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        core = oauth2_views.IntrospectTokenView.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OauthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            response = JsonResponse({"error": "invalid_client"}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="rongcheng"'
            return response
        token_value = request.POST.get("token")
        if not token_value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "The token parameter is missing."}, status=400
            )
        answer = selectors.token_introspect(caller=oauthlib_request.client, token_value=token_value)
        response = JsonResponse(answer)
        response["Cache-Control"] = "no-store"
        return response


class DiscoveryView(oauth2_views.ConnectDiscoveryInfoView):  # type: ignore[misc]
    """/.well-known/openid-configuration under the issuer, with what this provider adds to the toolkit's."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(
            {
                "id_token_signing_alg_values_supported": ["RS256"],
                "subject_types_supported": ["pairwise"],
                "grant_types_supported": list(OFFERED_GRANT_TYPES),
                "acr_values_supported": [f"{ACR_PREFIX}{level}" for level in (1, 2, 3)],
                "claims_parameter_supported": False,
                "scopes_supported": sorted(set(data.get("scopes_supported", [])) | set(OIDC_SCOPES)),
                "revocation_endpoint": request.build_absolute_uri(reverse("oauth2_provider:revoke-token")),
                "introspection_endpoint": request.build_absolute_uri(reverse("oauth2_provider:introspect")),
            }
        )
        refreshed = JsonResponse(data)
        refreshed["Access-Control-Allow-Origin"] = "*"
        return refreshed


class JwksView(oauth2_views.JwksInfoView):  # type: ignore[misc]
    """The public keys of the key ring: the active one and those kept to verify until retired."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = JsonResponse(signing_keys().jwks())
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response


class LogoutView(oauth2_views.RPInitiatedLogoutView):  # type: ignore[misc]
    template_name = "oidc/logout_confirm.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response: HttpResponse = super().get(request, *args, **kwargs)
        return _allow_form_redirect(response, request.GET.get("post_logout_redirect_uri", ""))


def _allow_form_redirect(response: HttpResponse, uri: str) -> HttpResponse:
    """The confirmation form's POST ends in a redirect to the client, which the CSP `form-action 'self'` of the
    page would block in the browser: allow the origin of that (already validated) URI on this page only."""
    parts = urlsplit(uri)
    if response.status_code == 200 and parts.scheme in {"https", "http"} and parts.netloc:
        response._csp_update = {"form-action": [f"{parts.scheme}://{parts.netloc}"]}  # type: ignore[attr-defined]
    return response


# --- a person's authorized clients ----------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def authorized_clients(request: HttpRequest) -> HttpResponse:
    clients = selectors.authorized_clients_for(user=account_signed_in(request.user))
    return render(request, "oidc/authorized_clients.html", {"clients": clients, "scope_claims": SCOPE_CLAIMS})


@login_required
@require_POST
def authorized_client_revoke(request: HttpRequest, consent_id: int) -> HttpResponse:
    try:
        services.consent_revoke(user=account_signed_in(request.user), consent_id=consent_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("已撤销授权，该应用持有的令牌已失效。"))
    return redirect("oidc:authorized-clients")


# --- the clients registry (security administrators) -----------------------------------------------------------------


def _manager(request: HttpRequest) -> None:
    if not may_manage_clients(request.user):
        raise DjangoPermissionDenied


class ClientForm(forms.Form):
    name = forms.SlugField(label=gettext_lazy("系统名称（英文标识）"), max_length=100)
    department_code = forms.CharField(label=gettext_lazy("所属部门代码"), max_length=32)
    grant_type = forms.ChoiceField(
        label=gettext_lazy("接入方式"),
        choices=[
            (Application.GRANT_AUTHORIZATION_CODE, gettext_lazy("统一登录（授权码 + PKCE）")),
            (Application.GRANT_CLIENT_CREDENTIALS, gettext_lazy("系统间调用（客户端凭证）")),
        ],
    )
    redirect_uris = forms.CharField(
        label=gettext_lazy("回调地址（每行一个，https）"), required=False, widget=forms.Textarea
    )
    post_logout_redirect_uris = forms.CharField(
        label=gettext_lazy("退出后回调地址（每行一个）"), required=False, widget=forms.Textarea
    )
    api_scopes = forms.MultipleChoiceField(
        label=gettext_lazy("可申请的接口权限"), required=False, widget=forms.CheckboxSelectMultiple,
        choices=[("registries:read", "registries:read"), ("registries:write", "registries:write")],
    )  # fmt: skip
    sector_identifier = forms.CharField(
        label=gettext_lazy("扇区标识（同一扇区的应用看到相同的用户标识）"), required=False
    )
    access_token_algorithm = forms.ChoiceField(
        label=gettext_lazy("访问令牌签名算法（接收令牌的系统只能校验 RSA 时选 RS256）"),
        choices=ACCESS_TOKEN_ALGORITHMS,
        initial="ES256",
        required=False,  # as in the API: ES256 unless asked
    )


SECRET_SESSION_KEY = "oidc.issued_secret"  # noqa: S105  # a session key name, not a secret


@login_required
def client_list(request: HttpRequest) -> HttpResponse:
    _manager(request)
    return render(request, "oidc/client_list.html", {"registrations": selectors.client_list()})


@login_required
@require_http_methods(["GET", "POST"])
def client_register(request: HttpRequest) -> HttpResponse:
    _manager(request)
    form = ClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = services.client_register(
                actor=account_signed_in(request.user), name=data["name"], department_code=data["department_code"],
                grant_type=data["grant_type"], redirect_uris=data["redirect_uris"].split(),
                post_logout_redirect_uris=data["post_logout_redirect_uris"].split(), api_scopes=data["api_scopes"],
                sector_identifier=data["sector_identifier"].strip(),
                access_token_algorithm=data["access_token_algorithm"] or "ES256",
            )  # fmt: skip
        except DomainError as exc:
            for error in exc.errors or [{"msg": exc.detail}]:
                form.add_error(None, str(error.get("msg", exc.detail)))
        else:
            return _show_secret_once(request, issued)
    return render(request, "oidc/client_form.html", {"form": form})


def _show_secret_once(request: HttpRequest, issued: services.IssuedSecret) -> HttpResponse:
    request.session[SECRET_SESSION_KEY] = issued.client_secret
    return redirect("oidc:client-detail", client_id=issued.registration.application.client_id)


@login_required
def client_detail(request: HttpRequest, client_id: str) -> HttpResponse:
    _manager(request)
    try:
        registration = selectors.client_get(client_id=client_id)
    except ClientRegistration.DoesNotExist:
        return render(request, "errors/404.html", {"status": 404}, status=404)
    secret = request.session.pop(SECRET_SESSION_KEY, None)
    context = {"registration": registration, "secret": secret, "usable": client_usable(registration.application)}
    response = render(request, "oidc/client_detail.html", context)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def client_rotate_secret(request: HttpRequest, client_id: str) -> HttpResponse:
    _manager(request)
    try:
        issued = services.client_secret_rotate(actor=account_signed_in(request.user), client_id=client_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect("oidc:client-list")
    return _show_secret_once(request, issued)


@login_required
@require_POST
def client_disable(request: HttpRequest, client_id: str) -> HttpResponse:
    _manager(request)
    try:
        services.client_disable(actor=account_signed_in(request.user), client_id=client_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, _("应用已停用，其令牌已全部失效。"))
    return redirect("oidc:client-detail", client_id=client_id)
