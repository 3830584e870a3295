"""What operations keeps: the worker's heartbeat, the runs of background jobs, security events, the exchange log of
department systems' API calls, and the record of backups. None of it holds personal data: accounts appear by id,
addresses only in the evidence of a security event about that address."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerHeartbeat(models.Model):
    """The last sign of life of a job worker: written by the heartbeat job, so it proves the whole path (scheduler,
    broker, worker, database) works, not only that a process exists."""

    name = models.CharField(_("名称"), max_length=100, primary_key=True)
    host = models.CharField(_("主机"), max_length=255, blank=True)
    pid = models.IntegerField(_("进程号"), default=0)
    seen_at = models.DateTimeField(_("最近心跳"))

    class Meta:
        verbose_name = _("作业进程心跳")
        verbose_name_plural = _("作业进程心跳")

    def __str__(self) -> str:
        return self.name


class JobState(models.TextChoices):
    RUNNING = "running", _("运行中")
    SUCCEEDED = "succeeded", _("成功")
    RETRYING = "retrying", _("等待重试")
    FAILED = "failed", _("失败")


JOB_LABELS = {
    "heartbeat": _("心跳"),
    "metrics.rollup": _("指标采样"),
    "security.scan": _("安全规则扫描"),
    "cleanup": _("过期数据清理"),
    "hall.escalate": _("办件期限预警"),
    "licences.expire": _("证照到期失效"),
    "catalogue.escalate": _("共享申请超期督办"),
    "catalogue.masked_forms": _("重算数据资源脱敏形式"),
    "events.sweep": _("待投递领域事件清点"),
    "events.deliver": _("领域事件投递"),
    "audit.verify": _("审计链校验"),
    "backups.prune": _("备份清理"),
    "security.notify": _("安全事件通知"),
    "credit.rescreen": _("信用名单变化重新核查"),
    "credit.rescreen_due": _("名单生效或移出日重新核查"),
}


class JobRun(models.Model):
    """One run of a platform job (a clean-up, an escalation, a reminder), keyed so that the same run enqueued twice
    (a retried delivery, two schedulers) does the work once."""

    key = models.CharField(_("运行键"), max_length=200, unique=True)
    job = models.CharField(_("作业"), max_length=100, db_index=True)
    state = models.CharField(_("状态"), max_length=16, choices=JobState.choices, default=JobState.RUNNING)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    started_at = models.DateTimeField(_("开始时间"))
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("下次重试"), null=True, blank=True)
    result = models.IntegerField(_("处理条数"), null=True, blank=True)
    error = models.CharField(_("错误类型"), max_length=200, blank=True)  # the exception's class, never its text

    class Meta:
        verbose_name = _("作业运行")
        verbose_name_plural = _("作业运行")
        indexes = [models.Index(fields=["job", "-started_at"], name="operations_jobrun_job_idx")]
        permissions = [("view_operations", "See the operations dashboard")]

    def __str__(self) -> str:
        return self.key

    @property
    def job_label(self) -> str:
        return str(JOB_LABELS.get(self.job, self.job))


class Severity(models.TextChoices):
    LOW = "low", _("低")
    MEDIUM = "medium", _("中")
    HIGH = "high", _("高")
    CRITICAL = "critical", _("严重")


class EventState(models.TextChoices):
    OPEN = "open", _("待处理")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    CLOSED = "closed", _("已关闭")


RULE_LABELS = {
    "brute_force": _("单个账号多次登录失败"),
    "lockout": _("账号被锁定"),
    "credential_stuffing": _("同一地址尝试多个账号"),
    "mass_read": _("工作人员异常大量查询人口信息"),
    "outside_department": _("工作人员查询本部门辖区以外的人口信息"),
    "licence_verification": _("证照核验失败"),
    "new_address_range": _("从新的境外地址段登录"),
    "refresh_token_reuse": _("已吊销的刷新令牌被再次使用"),
    "audit_verification": _("审计链校验失败"),
    "duty_change": _("管理员职责授予或撤销"),
    "new_api_client": _("新接入的部门系统"),
}
SUBJECT_LABELS = {
    "accounts.user": _("账号"),
    "address": _("来源地址"),
    "oidc.client": _("接入系统"),
    "audit.chain": _("审计链"),
    "licences.licence": _("电子证照"),
}


EVIDENCE_LABELS = {
    "failures": _("失败次数"),
    "window_seconds": _("统计窗口（秒）"),
    "accounts": _("账号数"),
    "person_reads": _("查询人数"),
    "audit_record": _("审计记录"),
    "family_revoked": _("令牌族已吊销"),
    "duty": _("职责"),
    "change": _("变更"),
    "by_account": _("操作账号"),
    "grant_type": _("授权方式"),
    "checked": _("已校验记录"),
    "first_bad_record": _("首条异常记录"),
    "persons_outside": _("辖区外人数"),
    "department": _("所属部门"),
    "jurisdiction": _("部门辖区代码"),
    "failure": _("失败类型"),
    "last_failure": _("最近失败类型"),
    "key_id": _("签名密钥"),
    "network": _("地址段"),
    "earlier_sign_ins": _("此前登录次数"),
}


EVIDENCE_VALUES = {
    "system": _("系统管理员"),
    "security": _("安全管理员"),
    "audit": _("审计管理员"),
    "grant": _("授予"),
    "revoke": _("撤销"),
    "client-credentials": _("客户端凭证"),
    "authorization-code": _("授权码"),
    "stored_signature": _("库中证照签名不符"),
    "forged_document": _("提交的证照文件不真实"),
    "unknown_licence": _("查无此证照"),
}


class SecurityEvent(models.Model):
    """Something a rule found worth a security administrator's attention. The subject is an identifier (an account
    id, a client id, an address range, a rule's own object), the evidence counts and identifiers, never a name, an ID
    number or a phone number."""

    rule = models.CharField(_("规则"), max_length=64, db_index=True)
    severity = models.CharField(_("级别"), max_length=16, choices=Severity.choices)
    subject_type = models.CharField(_("对象类型"), max_length=64)
    subject_id = models.CharField(_("对象标识"), max_length=128)
    evidence = models.JSONField(_("证据"), default=dict)
    # One event per rule, subject and window: a rule firing again in the same window adds to the count.
    dedup_key = models.CharField(_("去重键"), max_length=255, unique=True)
    occurrences = models.PositiveIntegerField(_("次数"), default=1)
    state = models.CharField(_("状态"), max_length=16, choices=EventState.choices, default=EventState.OPEN)
    occurred_at = models.DateTimeField(_("发生时间"), db_index=True)
    last_seen_at = models.DateTimeField(_("最近发生"))
    notified_at = models.DateTimeField(_("通知时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("关闭时间"), null=True, blank=True)
    resolution = models.CharField(_("处理说明"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("安全事件")
        verbose_name_plural = _("安全事件")
        indexes = [models.Index(fields=["state", "-occurred_at"], name="operations_secevent_state_idx")]
        permissions = [("manage_securityevent", "Acknowledge and close security events")]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject_type}:{self.subject_id}"

    @property
    def rule_label(self) -> str:
        return str(RULE_LABELS.get(self.rule, self.rule))

    @property
    def evidence_items(self) -> list[tuple[str, object]]:
        return self.evidence_items_named({})

    def evidence_items_named(self, account_names: dict[str, str]) -> list[tuple[str, object]]:
        """The evidence for people: labels and values in words, accounts (`by_account`) by their user name."""

        def shown(key: str, value: object) -> object:
            if isinstance(value, bool):
                return str(_("是") if value else _("否"))
            if key == "by_account" and str(value) in account_names:
                return account_names[str(value)]
            return str(EVIDENCE_VALUES[value]) if isinstance(value, str) and value in EVIDENCE_VALUES else value

        return [(str(EVIDENCE_LABELS.get(k, k)), shown(k, v)) for k, v in (self.evidence or {}).items()]

    @property
    def subject_label(self) -> str:
        return self.subject_label_named({})

    def subject_label_named(self, account_names: dict[str, str]) -> str:
        """The subject for people: an account by its user name rather than its number."""
        subject = self.subject_id
        if self.subject_type == "accounts.user":
            subject = account_names.get(subject, subject)
        return f"{SUBJECT_LABELS.get(self.subject_type, self.subject_type)} {subject}"


class ScanCursor(models.Model):
    """How far a periodic rule has read the audit trail (the id of the last record it saw)."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("扫描位置")
        verbose_name_plural = _("扫描位置")

    def __str__(self) -> str:
        return f"{self.name}@{self.position}"


class ExchangeRecord(models.Model):
    """One call of a department system (a client-credentials token) to the platform's API, as X-Road's operational
    monitoring keeps it: the four timestamps (request in at the platform, handed to the service, answered by the
    service, answer out), sizes, caller, service, outcome and stated purpose. No path, no body, no person."""

    client_id = models.CharField(_("调用方"), max_length=100, db_index=True)
    service = models.CharField(_("服务"), max_length=200, db_index=True)  # the route template and method
    purpose = models.CharField(_("目的"), max_length=100, blank=True)
    request_id = models.CharField(_("请求编号"), max_length=64)
    request_in_at = models.DateTimeField(_("请求到达"), db_index=True)
    request_out_at = models.DateTimeField(_("交给服务"))
    response_in_at = models.DateTimeField(_("服务应答"))
    response_out_at = models.DateTimeField(_("应答发出"))
    request_bytes = models.PositiveIntegerField(_("请求字节"), default=0)
    response_bytes = models.PositiveIntegerField(_("应答字节"), default=0)
    status = models.PositiveSmallIntegerField(_("状态码"))
    succeeded = models.BooleanField(_("成功"))

    class Meta:
        verbose_name = _("交换记录")
        verbose_name_plural = _("交换记录")
        indexes = [models.Index(fields=["service", "client_id", "request_in_at"], name="operations_exch_svc_idx")]

    def __str__(self) -> str:
        return f"{self.client_id} {self.service}"


class MetricSample(models.Model):
    """The platform's counters as the `metrics.rollup` job read them once a minute: the operations dashboard draws
    its request and error rates and latency from the differences between samples."""

    taken_at = models.DateTimeField(_("时间"), unique=True)
    requests = models.BigIntegerField(_("请求总数"))
    errors = models.BigIntegerField(_("错误总数"))  # answers with status 500 and above
    latency_sum = models.FloatField(_("耗时总和"))
    slow = models.BigIntegerField(_("慢请求"))  # answered in more than a second

    class Meta:
        verbose_name = _("指标采样")
        verbose_name_plural = _("指标采样")

    def __str__(self) -> str:
        return self.taken_at.isoformat()
