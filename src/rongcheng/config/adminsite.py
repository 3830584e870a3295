"""The admin site of the platform: Django's, with two rules that hold for every ModelAdmin any app registers.

1. Personal-data registries are not in the admin. Their reads go through the selectors, which state a purpose,
   mask by entitlement and audit every read (and show it to the resident); the admin does none of this. Registering
   one of `PERSONAL_DATA_MODELS` fails at start-up.
2. A changelist filters only on what its ModelAdmin declares (`list_filter`, `date_hierarchy`). Django's own rule
   lets any lookup on a local field through (`?birth_date__year=1973`, `?name__regex=…`), which rebuilds masked
   values one query at a time; here any other lookup is refused (400, Django's DisallowedModelAdminLookup).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin import AdminSite, ModelAdmin, SimpleListFilter
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# Models holding personal data (label_lower): persons and their versions, legal entities (their representative),
# residents' profiles, phones and codes, authenticators, representations, counter verifications, licences and
# holders' authorizations, applications and their materials.
PERSONAL_DATA_MODELS = frozenset(
    {
        "registries.person", "registries.address", "registries.legalentity", "registries.recordversion",
        "registries.indicator",
        "identity.residentprofile", "identity.onetimecode", "identity.totpdevice", "identity.inpersonverification",
        "identity.representation",
        "licences.licence", "licences.holderauthorization", "licences.licenceuse", "licences.statuschange",
        "hall.application", "hall.applicationmaterial", "hall.applicationevent", "hall.message", "hall.rating",
        "hall.followup",
        "oidc.consent",
    }
)  # fmt: skip


class DeclaredLookupsOnly(ModelAdmin):  # type: ignore[type-arg]  # mixed into every registered ModelAdmin
    def declared_lookups(self, request: HttpRequest | None) -> frozenset[str]:
        """The first part of every lookup this changelist may filter on."""
        names: set[str] = set()
        items: Iterable[Any] = self.get_list_filter(request) if request is not None else self.list_filter
        for item in items:
            if isinstance(item, str):
                names.add(item.split(LOOKUP_SEP)[0])
            elif isinstance(item, (tuple, list)):
                names.add(str(item[0]).split(LOOKUP_SEP)[0])
            elif isinstance(item, type) and issubclass(item, SimpleListFilter):
                names.add(str(item.parameter_name))
        if self.date_hierarchy:
            names.add(self.date_hierarchy.split(LOOKUP_SEP)[0])
        return frozenset(names)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        if lookup.split(LOOKUP_SEP)[0] not in self.declared_lookups(request):
            return False
        return bool(super().lookup_allowed(lookup, value, request))


class RongchengAdminSite(AdminSite):
    def register(
        self,
        model_or_iterable: type[Model] | Iterable[type[Model]],
        admin_class: type[ModelAdmin] | None = None,  # type: ignore[type-arg]
        **options: Any,
    ) -> None:
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else list(model_or_iterable)
        for model in models:
            if model._meta.label_lower in PERSONAL_DATA_MODELS:
                raise ImproperlyConfigured(
                    f"{model._meta.label} holds personal data: it is read through its app's selectors, not the admin."
                )
        base = admin_class or ModelAdmin
        strict = base if issubclass(base, DeclaredLookupsOnly) else type(base.__name__, (DeclaredLookupsOnly, base), {})
        super().register(models, strict, **options)


class RongchengAdminConfig(AdminConfig):
    default_site = "rongcheng.config.adminsite.RongchengAdminSite"
