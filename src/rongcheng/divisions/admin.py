from django.contrib import admin

from rongcheng.divisions.models import Division, GridCell


@admin.register(Division)
class DivisionAdmin(admin.ModelAdmin[Division]):
    list_display = ("code", "name", "level", "valid_from", "valid_to")
    list_filter = ("level",)
    search_fields = ("code", "name")


@admin.register(GridCell)
class GridCellAdmin(admin.ModelAdmin[GridCell]):
    list_display = ("code", "name", "community")
    search_fields = ("code", "name")
    raw_id_fields = ("community",)
