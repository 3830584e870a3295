from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "rongcheng.cases"
    label = "cases"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from rongcheng.accounts.models import Department
        from rongcheng.cases.layer import CasesLayer
        from rongcheng.cases.models import Category
        from rongcheng.cases.services import cases_supervise_due, categories_forget
        from rongcheng.kernel.jobs import cleanup_job_register
        from rongcheng.spatial.services import layer_register

        # Run by `rongcheng manage cleanup` on its timer: 督办 of cases near or past their deadline (idempotent).
        cleanup_job_register(
            "cases.supervise", "督办: raise the escalation of cases near or past their deadline", cases_supervise_due
        )
        layer_register(CasesLayer())
        # Intake keeps the categories it read for a few seconds: a change made here is seen at once.
        for model in (Category, Department):
            post_save.connect(categories_forget, sender=model, dispatch_uid=f"cases.categories.{model.__name__}.s")
            post_delete.connect(categories_forget, sender=model, dispatch_uid=f"cases.categories.{model.__name__}.d")
