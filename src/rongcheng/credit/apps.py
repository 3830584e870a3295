from django.apps import AppConfig


class CreditConfig(AppConfig):
    name = "rongcheng.credit"
    label = "credit"

    def ready(self) -> None:
        """Subscribe to the licences' and the hall's events (the 双公示 licensing records) and register the joint
        reward and punishment check with the hall's decisions."""
        from rongcheng.credit import services
        from rongcheng.hall.events import ApplicationConcluded
        from rongcheng.hall.services import decision_check_register
        from rongcheng.kernel.events import subscribe
        from rongcheng.licences.events import LicenceIssued

        # durable: a 双公示 record is owed for every licence and decision, even if this process dies after the commit
        subscribe(LicenceIssued, services.on_licence_issued, name="credit.record_from_licence", durable=True)
        subscribe(
            ApplicationConcluded, services.on_application_concluded, name="credit.record_from_conclusion", durable=True
        )
        decision_check_register(services.CHECK_NAME, services.joint_measures_check)
