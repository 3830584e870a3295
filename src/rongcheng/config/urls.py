from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from oauth2_provider import views as oauth2_views

from rongcheng.config.api import api
from rongcheng.identity import views as identity_views
from rongcheng.kernel.ratelimit import rate_limited
from rongcheng.licences.views import licence_keys_published
from rongcheng.oidc import views as oidc_views

# OAuth 2.0 and OpenID Connect (rongcheng.oidc, extending django-oauth-toolkit); the issuer is <server>/oauth.
oauth2_patterns = (
    [
        # Rate-limited per address (and account): each request may write a grant row or an audit record.
        path(
            "authorize/",
            rate_limited("oauth.authorize", methods=("GET", "POST"))(oidc_views.ConsentView.as_view()),
            name="authorize",
        ),
        path("token/", rate_limited("oauth.token")(oidc_views.TokenView.as_view()), name="token"),
        path("revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="revoke-token"),
        path("introspect/", oidc_views.IntrospectView.as_view(), name="introspect"),
        path(
            ".well-known/openid-configuration", oidc_views.DiscoveryView.as_view(), name="oidc-connect-discovery-info"
        ),
        path(
            ".well-known/oauth-authorization-server",
            oauth2_views.OAuthServerMetadataView.as_view(),
            name="oauth-server-metadata",
        ),
        path(".well-known/jwks.json", oidc_views.JwksView.as_view(), name="jwks-info"),
        path("userinfo/", oauth2_views.UserInfoView.as_view(), name="user-info"),
        path("logout/", oidc_views.LogoutView.as_view(), name="rp-initiated-logout"),
    ],
    "oauth2_provider",
)

# Django admin's pages carry the site's name, not "Django administration".
admin.site.site_header = _("榕城数字政府平台")
admin.site.site_title = _("榕城数字政府平台")
admin.site.index_title = _("管理后台")

urlpatterns = [
    # First: the home page is the most visited, and the portal's few exact routes shadow nothing below.
    path("", include("rongcheng.portal.urls")),
    path("api/v1/", api.urls),
    path("oauth/", include(oauth2_patterns)),
    # The admin's own login and logout would bypass the second factor and the session records.
    path("admin/login/", identity_views.admin_sign_in),
    path("admin/logout/", identity_views.sign_out_view),
    path("admin/", admin.site.urls),
    path("audit/", include("rongcheng.audit.urls")),
    path("registries/", include("rongcheng.registries.urls")),
    path("account/", include("rongcheng.identity.urls")),
    path("staff/", include("rongcheng.staff.urls")),
    path("oidc/", include("rongcheng.oidc.urls")),
    path("licences/", include("rongcheng.licences.urls")),
    path(".well-known/licence-keys", licence_keys_published, name="licence-keys"),
    path("hall/", include("rongcheng.hall.urls")),
    path("cases/", include("rongcheng.cases.urls")),
    path("open311/", include("rongcheng.cases.open311")),
    path("", include("rongcheng.spatial.urls")),  # /ogc/ (OGC API – Features) and /spatial/ (geocoding pages)
    path("card/", include("rongcheng.card.urls")),
    path("catalogue/", include("rongcheng.catalogue.urls")),
    path("opendata/", include("rongcheng.catalogue.opendata_urls")),
    path("operations/", include("rongcheng.operations.urls")),
    path("credit/", include("rongcheng.credit.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler400 = "rongcheng.portal.views.bad_request"
handler403 = "rongcheng.portal.views.forbidden"
handler404 = "rongcheng.portal.views.not_found"
handler500 = "rongcheng.portal.views.server_error"
