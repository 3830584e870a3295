"""The kernel's one model: the outbox of domain events for durable subscribers (rongcheng.kernel.events)."""

from __future__ import annotations

from django.db import models


class EventOutbox(models.Model):
    """One event owed to one durable subscriber. Written in the transaction that made the event true, so the change
    and the promise to tell the subscriber commit together; marked delivered in the transaction of the subscriber's
    own effects, so those happen once. Identifiers only, as the events themselves (never personal data)."""

    subscriber = models.CharField(max_length=200)
    event_type = models.CharField(max_length=200)  # module.QualifiedName of the Event subclass
    event_id = models.UUIDField()
    payload = models.JSONField()
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    failure = models.CharField(max_length=200, blank=True)  # the last failure's exception class, never its text

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "subscriber"], name="kernel_outbox_once")]
        indexes = [
            models.Index(
                fields=["created_at"], name="kernel_outbox_pending", condition=models.Q(delivered_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.subscriber}"
