from django.contrib import admin
from django.http import HttpRequest

from rongcheng.kernel.masking import mask_name
from rongcheng.registries.models import LegalEntity, Person


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin[Person]):
    """Masked list; the full record is for the registries' own pages, which audit every read."""

    list_display = ("masked_name", "id_number_masked", "sex", "division_code", "phone_masked", "status", "version")
    list_filter = ("status", "sex")
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        # The list shows masked values only; a record is read on the registry's own pages, which audit the read.
        return obj is None and super().has_view_permission(request, obj)

    @admin.display(description="name")
    def masked_name(self, obj: Person) -> str:
        return mask_name(obj.name)


@admin.register(LegalEntity)
class LegalEntityAdmin(admin.ModelAdmin[LegalEntity]):
    list_display = ("credit_code", "name", "division_code", "status", "established_on")
    list_filter = ("status", "registration_department", "category")
    search_fields = ("credit_code", "name")
    raw_id_fields = ("legal_representative",)
    show_full_result_count = False
