"""The audit trail (GB/T 22239-2019 8.1.4.3 安全审计): insert-only records and the keyed SM3 chain over them.

Appending and chaining are separate on purpose. `AuditRecord` rows are written by `audit_record` in the caller's own
transaction with no lock; an `AuditPending` row marks each one as not yet chained. The sealer later moves records from
`AuditPending` into `AuditChainLink`, one sealer at a time, so the chain's single "previous MAC" never becomes a lock
that every request of the platform queues on. The chain order is the order of sealing, not of record ids: on
PostgreSQL a record with a lower id may commit after a higher one was sealed, and it is simply sealed later.

On PostgreSQL, triggers (migration 0002) refuse UPDATE and DELETE on records, links and anchors; only the retention
purge may delete, and only records and links. A database superuser can bypass triggers; the HMAC chain is what detects
that.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    USER = "user", _("用户")
    API_CLIENT = "api_client", _("接口客户端")
    SYSTEM = "system", _("系统")
    ANONYMOUS = "anonymous", _("匿名")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("成功")
    DENIED = "denied", _("拒绝")
    FAILURE = "failure", _("失败")


class AuditRecord(models.Model):
    """Who did what to which object, when, from where, why, and whether it worked (8.1.4.3 b)."""

    id = models.BigAutoField(primary_key=True)
    # The database clock, not each application server's: one time source for the whole trail.
    occurred_at = models.DateTimeField(_("时间"), db_default=Now(), db_index=True, editable=False)
    actor_kind = models.CharField(_("主体类型"), max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(_("主体标识"), max_length=64, blank=True)
    actor_label = models.CharField(_("主体名称"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=100, db_index=True)
    target_type = models.CharField(_("对象类型"), max_length=100, blank=True)
    target_id = models.CharField(_("对象标识"), max_length=100, blank=True)
    outcome = models.CharField(_("结果"), max_length=16, choices=Outcome.choices)
    source_address = models.GenericIPAddressField(_("来源地址"), null=True, blank=True)
    purpose = models.CharField(_("目的"), max_length=500, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    # The request (or job run) that wrote the record, from kernel.context: every record of one request shares it, and
    # it is the X-Request-ID the caller was answered with. Empty for records written outside any request or job, and
    # for those written before the trail kept it (migration 0003).
    request_id = models.CharField(_("请求编号"), max_length=64, blank=True, db_default="")

    class Meta:
        db_table = "audit_record"
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        indexes = [
            models.Index(fields=["actor_id", "id"], name="audit_record_actor_id_idx"),
            models.Index(fields=["actor_label", "id"], name="audit_record_actor_label_idx"),
            models.Index(fields=["target_type", "target_id", "id"], name="audit_record_target_idx"),
            models.Index(fields=["request_id"], name="audit_record_request_id_idx", condition=~models.Q(request_id="")),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(actor_kind__in=ActorKind.values), name="audit_record_actor_kind"),
            models.CheckConstraint(condition=models.Q(outcome__in=Outcome.values), name="audit_record_outcome"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.outcome}"


class AuditPending(models.Model):
    """A record not yet sealed into the chain: the sealer's work queue, small, so it never scans the trail.

    Not protected by a trigger: the sealer deletes from it. Deleting a row here by hand leaves its record outside the
    chain, which `audit_verify` reports.
    """

    record = models.OneToOneField(
        AuditRecord, primary_key=True, on_delete=models.DO_NOTHING, related_name="pending", db_column="record_id"
    )

    class Meta:
        db_table = "audit_pending"
        verbose_name = _("待封存审计记录")
        verbose_name_plural = _("待封存审计记录")

    def __str__(self) -> str:
        return f"#{self.pk}"


class AuditChainLink(models.Model):
    """Position `sequence` of the chain: mac = HMAC-SM3(key, previous mac ‖ sequence ‖ canonical record)."""

    sequence = models.BigIntegerField(_("序号"), primary_key=True)
    record = models.OneToOneField(
        AuditRecord, on_delete=models.DO_NOTHING, related_name="link", db_column="record_id", verbose_name=_("记录")
    )
    mac = models.BinaryField(_("校验码"), max_length=32)

    class Meta:
        db_table = "audit_chain_link"
        verbose_name = _("审计链环")
        verbose_name_plural = _("审计链环")

    def __str__(self) -> str:
        return f"{self.sequence} → #{self.record_id}"


class AuditAnchor(models.Model):
    """Where verification starts after a retention purge removed the chain's beginning.

    `anchor_mac` binds the anchor to the chain key, so an inserted anchor cannot skip tampered links; a deleted anchor
    makes verification start earlier and find the purged links missing.
    """

    sequence = models.BigIntegerField(_("最后清除序号"), unique=True)
    mac = models.BinaryField(_("最后清除校验码"), max_length=32)
    purged_count = models.BigIntegerField(_("清除条数"))
    purged_before = models.DateTimeField(_("清除截止时间"))
    export_name = models.CharField(_("导出文件"), max_length=500)
    export_digest = models.CharField(_("导出文件 SM3"), max_length=64)
    created_at = models.DateTimeField(_("时间"), db_default=Now(), editable=False)
    anchor_mac = models.BinaryField(_("锚点校验码"), max_length=32)

    class Meta:
        db_table = "audit_anchor"
        verbose_name = _("审计链锚点")
        verbose_name_plural = _("审计链锚点")

    def __str__(self) -> str:
        return f"≤ {self.sequence}"
