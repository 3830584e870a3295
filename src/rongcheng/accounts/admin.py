from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from rongcheng.accounts.models import Department, User


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin[Department]):
    list_display = ("code", "name", "short_name", "division_code")
    search_fields = ("code", "name", "short_name")


@admin.register(User)
class AccountAdmin(UserAdmin[User]):
    list_display = ("username", "display_name", "kind", "department", "is_staff", "is_active")
    list_filter = ("kind", "department", "is_staff", "is_active")
    fieldsets = (*(UserAdmin.fieldsets or ()), ("Rongcheng", {"fields": ("kind", "department", "display_name")}))
