from django.contrib import admin

from rongcheng.kernel.masking import mask_id_number, mask_phone
from rongcheng.registries.models import LegalEntity, Person


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin[Person]):
    """Masked list; the full record is for the registries' own pages, which audit every read."""

    list_display = ("name", "masked_id_number", "sex", "division_code", "masked_phone", "status")
    list_filter = ("status", "sex")
    show_full_result_count = False

    def has_change_permission(self, request: object, obj: Person | None = None) -> bool:
        return False

    def has_view_permission(self, request: object, obj: Person | None = None) -> bool:
        return obj is None and super().has_view_permission(request, obj)  # type: ignore[arg-type]

    @admin.display(description="ID number")
    def masked_id_number(self, obj: Person) -> str:
        return mask_id_number(obj.id_number)

    @admin.display(description="phone")
    def masked_phone(self, obj: Person) -> str:
        return mask_phone(obj.phone)


@admin.register(LegalEntity)
class LegalEntityAdmin(admin.ModelAdmin[LegalEntity]):
    list_display = ("credit_code", "name", "division_code", "status", "established_on")
    list_filter = ("status", "registration_department", "category")
    search_fields = ("credit_code", "name")
    raw_id_fields = ("legal_representative",)
    show_full_result_count = False
