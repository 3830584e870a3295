"""What an API client may hold: the scopes each kind of client may ever carry (checked when a client is registered, when
a token is issued and when a token is used)."""

from __future__ import annotations

# What each kind of client may hold, by the toolkit's grant type of its application: an allow-list, checked when a
# client is registered, when a token is issued and when a token is used, so a row edited behind the services' back
# still cannot act beyond it. A client-credentials client acts as itself (a machine account): it never holds the
# administrators' and security administrators' scopes (三员分立) nor those that act for a person. A client that
# signs people in acts for the person, whose own permissions still decide every call.
ADMINISTRATOR_SCOPES = frozenset({"staff:admin", "oidc:clients"})
MACHINE_SCOPES = frozenset(
    {"registries:read", "registries:write", "hall:decide", "licences:read", "licences:issue", "spatial:geocode"}
    | {"card:pay", "card:topup", "card:bills"}
    | {"catalogue:exchange"}
    | {"cases:work"}
    | {"credit:report", "credit:office"}
    | {"operations:read"}
)
PERSON_SCOPES = frozenset({"openid", "profile", "id_number_masked", "id_number", "hall:apply", "cases:report"})
SCOPES_BY_CLIENT_KIND: dict[str, frozenset[str]] = {
    "client-credentials": MACHINE_SCOPES,
    "authorization-code": MACHINE_SCOPES | PERSON_SCOPES | ADMINISTRATOR_SCOPES,
}


def scopes_allowed_for(grant_type: str) -> frozenset[str]:
    """The scopes a client of this kind (its application's grant type) may ever hold; none for another kind."""
    return SCOPES_BY_CLIENT_KIND.get(grant_type, frozenset())
