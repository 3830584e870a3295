"""The stories the demo tells: for each capability, the demo accounts and the steps of a story that ends well.

Each step is a list of actions naming the labels exactly as the pages show them (the same msgids, so the English page
names the English labels). The stories page renders them; `tests/test_stories_browser.py` walks every story,
action by action, on the demo city, so a story that no longer works as written fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

ACCOUNTS_FILE = "var/demo-accounts.txt"

Kind = Literal["home", "sign_in", "sign_out", "link", "button", "fill", "choose", "number", "field", "see", "licence",
               "fill_licence", "request_number",
               "case", "photo"]  # fmt: skip


def _text(kind: str, target: str, value: str) -> str:
    """The action as a person reads it, in the current language (labels through the pages' own catalogue)."""
    label = gettext(target) if target else ""
    shown = gettext(value) if value else ""
    if kind == "home":
        return gettext("打开首页")
    if kind == "sign_in":
        text = gettext("点击「登录」，以 %(username)s 账户登录（密码见演示账户文件 %(file)s）") % {
            "username": target, "file": ACCOUNTS_FILE,
        }  # fmt: skip
        if value == "staff":
            text += gettext("，在「动态口令」中填写 uv run rongcheng totp %(username)s 给出的口令，点击「验证」") % {
                "username": target
            }
        return text
    if kind == "sign_out":
        return gettext("点击页头的「退出」")
    if kind in ("link", "button"):
        return gettext("点击「%(label)s」") % {"label": label}
    if kind == "fill":
        return gettext("在「%(label)s」中填写「%(value)s」") % {"label": label, "value": value}
    if kind == "choose":
        return gettext("在「%(label)s」中选择「%(value)s」") % {"label": label, "value": shown}
    if kind == "number":
        return gettext("点击办件编号（以 %(prefix)s 开头）") % {"prefix": target}
    if kind == "request_number":
        return gettext("点击申请编号（以 %(prefix)s 开头）") % {"prefix": target}
    if kind == "field":
        return gettext("「%(label)s」显示「%(value)s」") % {"label": label, "value": shown}
    if kind == "see":
        return gettext("页面显示「%(value)s」") % {"value": label}
    if kind == "licence":
        return gettext("点击「办理结果」中的电子证照标识，打开它的公开核验页")
    if kind == "fill_licence":
        return gettext("在「%(label)s」中填写一份电子证照的标识（例如故事1中居民得到的居住证的标识）") % {
            "label": label
        }
    if kind == "case":
        return gettext("点击刚才上报的案卷编号")
    if kind == "photo":
        return gettext("在「%(label)s」中选择一张照片") % {"label": label}
    raise ValueError(kind)


_lazy_text = lazy(_text, str)

# The problem category as the report form's list shows it (kind · major class · name): the kind is translated, the
# classes of the standard stay Chinese, so the English story names the option the English page offers.
STREETLIGHT = gettext_noop("部件 · 公用设施类 · 路灯")


@dataclass(frozen=True)
class Action:
    kind: Kind
    target: str = ""  # a label or text as the page shows it (its msgid), a username, or an application-number prefix
    value: str = ""  # what is typed or chosen, or the value a field shows

    @property
    def text(self) -> str:
        return _lazy_text(self.kind, self.target, self.value)


@dataclass(frozen=True)
class Story:
    key: str
    title: StrPromise
    capability: StrPromise
    accounts: tuple[tuple[str, StrPromise], ...]  # (username in the demo accounts file, who that is)
    steps: tuple[tuple[Action, ...], ...]
    ending: StrPromise


def _sign_in(username: str, staff: bool = False) -> Action:
    return Action("sign_in", username, "staff" if staff else "")


def _decide(prefix: str) -> tuple[tuple[Action, ...], ...]:
    return (
        (Action("link", "网上办事大厅"), Action("link", "工作台"), Action("number", prefix)),
        (Action("button", "受理"), Action("button", "开始审查"), Action("button", "准予许可"), Action("button", "办结"),
         Action("field", "状态", "办结")),
    )  # fmt: skip


def _result(username: str) -> tuple[tuple[Action, ...], ...]:
    return (
        (Action("sign_out"), _sign_in(username), Action("link", "我的办件"), Action("number", "FZ-")),
        (Action("licence"), Action("see", "真实有效：签名核验通过，证照当前有效。")),
    )


STORIES: tuple[Story, ...] = (
    Story(
        key="residence-permit",
        title=_("居民网上申领居住证，民警审批，居民拿到电子证照"),
        capability=_("网上办事大厅"),
        accounts=(("resident", _("市民（居民账户）")), ("police", _("户籍民警（工作人员，登录需动态口令）"))),
        steps=(
            (Action("home"), _sign_in("resident")),
            (
                Action("fill", "查找事项", "居住证"),
                Action("button", "搜索"),
                Action("link", "居住证办理"),
                Action("button", "在线申请"),
            ),
            (Action("button", "一键填入政府已有材料"), Action("button", "提交申请"), Action("see", "申请已提交。")),
            (Action("sign_out"), _sign_in("police", staff=True)),
            *_decide("FZ-GAJ-"),
            *_result("resident"),
        ),
        ending=_("材料全部由人口库和居民的不动产权证书自动填入，无需上传；办结后居住证即时签发，任何人可核验。"),
    ),
    Story(
        key="food-permit",
        title=_("企业网上申请食品经营许可，市场监管部门审批，企业拿到许可证"),
        capability=_("网上办事大厅"),
        accounts=(("company", _("企业法定代表人")), ("market", _("市场监管审批人员（工作人员，登录需动态口令）"))),
        steps=(
            (Action("home"), _sign_in("company")),
            (
                Action("fill", "查找事项", "食品经营"),
                Action("button", "搜索"),
                Action("link", "食品经营许可"),
                Action("button", "在线申请"),
            ),
            (Action("button", "一键填入政府已有材料"), Action("button", "提交申请"), Action("see", "申请已提交。")),
            (Action("sign_out"), _sign_in("market", staff=True)),
            *_decide("FZ-GSJ-"),
            *_result("company"),
        ),
        ending=_("营业执照和法定代表人信息自动填入；办结后食品经营许可证签发给企业，经营场所取自营业执照。"),
    ),
    Story(
        key="verify-licence",
        title=_("任何人核验一份电子证照"),
        capability=_("电子证照"),
        accounts=(),
        steps=(
            (Action("home"), Action("link", "验证电子证照")),
            (
                Action("fill_licence", "证照标识"),
                Action("button", "核验"),
                Action("see", "真实有效：签名核验通过，证照当前有效。"),
            ),
        ),
        ending=_("无需登录：页面核验颁发部门的 SM2 签名和证照当前状态，个人信息已脱敏。"),
    ),
    Story(
        key="registry-search",
        title=_("工作人员按目的查询人口库"),
        capability=_("基础数据资源库"),
        accounts=(("police", _("户籍民警（工作人员，登录需动态口令）")),),
        steps=(
            (Action("home"), _sign_in("police", staff=True)),
            (
                Action("link", "基础数据资源库"),
                Action("choose", "查询目的", "治安管理"),
                Action("fill", "姓名", "魏华杰"),
                Action("button", "查询"),
            ),  # the demo resident (seed 2017)
            (Action("link", "查看"), Action("field", "姓名", "魏华杰")),
        ),
        ending=_(
            "魏华杰是演示居民 resident 本人（默认种子 2017）。按角色的授权明文显示字段，其余脱敏；"
            "每次查看都记入审计日志，被查看的人可以看到（故事5）。"
        ),
    ),
    Story(
        key="who-read-my-data",
        title=_("居民查看谁查看了我的信息"),
        capability=_("基础数据资源库"),
        accounts=(("resident", _("市民（居民账户）")),),
        steps=(
            (Action("home"), _sign_in("resident")),
            (
                Action("link", "谁查看了我的信息"),
                Action("see", "市公安局"),
                Action("see", "治安管理"),
            ),
        ),
        ending=_("每一次查看都有记录：谁、何时、为何目的、看到了哪些未脱敏的信息。"),
    ),
    Story(
        key="data-sharing",
        title=_("民政局申请共享市场主体年报信息，市场监管局答复授权"),
        capability=_("数据共享开放"),
        accounts=(
            ("data-civil", _("民政局编目员（工作人员，登录需动态口令）")),
            ("data-steward", _("市场监管局数据管理员（工作人员，登录需动态口令）")),
        ),
        steps=(
            (Action("home"), _sign_in("data-civil", staff=True)),
            (
                Action("link", "数据共享开放"),
                Action("link", "政务信息资源目录"),
                Action("link", "市场主体年报信息"),
                Action("link", "申请共享"),
            ),
            (
                Action("fill", "用途", "核对低保申请人名下的市场主体"),
                Action("fill", "应用场景", "最低生活保障审核时核对申请人是否经营企业"),
                Action("button", "提交申请"),
                Action("field", "状态", "待提供方答复"),
            ),
            (Action("sign_out"), _sign_in("data-steward", staff=True)),
            (
                Action("link", "数据共享开放"),
                Action("link", "政务信息资源目录"),
                Action("link", "共享申请"),
                Action("request_number", "GX"),
            ),
            (Action("button", "同意共享"), Action("field", "状态", "已授权")),
        ),
        ending=_(
            "有条件共享的资源由提供方在10个工作日内答复；授权写明信息项和有效期，民政局的业务系统凭授权通过交换接口"
            "读取，每次读取记录用途，提供方可以看到谁用了多少、为什么用。"
        ),
    ),
    Story(
        key="card-pay-fee",
        title=_("居民用市民卡缴纳费用，拿到电子票据"),
        capability=_("市民卡"),
        accounts=(("resident", _("市民（居民账户）")),),
        steps=(
            (Action("home"), _sign_in("resident")),
            (Action("link", "市民卡"), Action("see", "待缴费用"), Action("button", "用市民卡缴费")),
            (Action("see", "缴费成功，电子票据已开具。"), Action("see", "真实有效：票据内容与平台签名一致。")),
        ),
        ending=_("费用从卡内余额扣缴，复式记账分毫不差；电子票据由平台 SM2 签名，任何人可凭票据号核验。"),
    ),
    Story(
        key="credit-report",
        title=_("企业查看自己的信用记录，生成信用报告，报告可核验"),
        capability=_("公共信用"),
        accounts=(("company", _("企业法定代表人")),),
        steps=(
            (Action("home"), _sign_in("company")),
            (Action("link", "公共信用"), Action("link", "我的信用"), Action("see", "核发食品经营许可证")),
            (Action("button", "生成信用报告"), Action("see", "真实有效：签名核验通过，报告内容未被改动。")),
        ),
        ending=_(
            "故事2办结时，食品经营许可的双公示记录自动生成并公示；信用报告由信用办的 SM2 密钥签名，"
            "报告上的二维码指向公开核验页，任何人扫码即可核验。"
        ),
    ),
    Story(
        key="city-case",
        title=_("市民上报路灯不亮，指挥中心立案派遣，处置单位修好，网格员核查，市民看到结案并评价"),
        capability=_("网格化管理"),
        accounts=(
            ("resident", _("市民（居民账户）")),
            ("cgchief", _("数字城管指挥中心值班长（工作人员，登录需动态口令）")),
            ("roadunit", _("市政工程管理处处置人员（工作人员，登录需动态口令）")),
            ("gridworker", _("鼓楼区网格员（工作人员，登录需动态口令）")),
        ),
        steps=(
            (Action("home"), _sign_in("resident")),
            (
                Action("link", "网格化管理"),
                Action("choose", "问题类别", STREETLIGHT),
                Action("fill", "问题描述", "路灯不亮，晚上路很黑"),
                Action("fill", "经度", "119.252"),  # in the demo grid worker's first cell: the map's pin gives it
                Action("fill", "纬度", "26.07"),
                Action("button", "提交"),
                Action("field", "状态", "信息收集"),
            ),
            (Action("sign_out"), _sign_in("cgchief", staff=True)),
            (
                Action("link", "网格化管理"),
                Action("link", "指挥中心工作台"),
                Action("case"),
                Action("button", "立案"),
                Action("button", "派遣"),
                Action("field", "状态", "已派遣"),
            ),
            (Action("sign_out"), _sign_in("roadunit", staff=True)),
            (
                Action("link", "网格化管理"),
                Action("link", "本单位待办案卷"),
                Action("case"),
                Action("button", "接收处置"),
                Action("photo", "处置后照片"),
                Action("button", "处置反馈"),
                Action("field", "状态", "处置反馈待核查"),
            ),
            (Action("sign_out"), _sign_in("gridworker", staff=True)),
            (Action("link", "网格化管理"), Action("link", "我的网格"), Action("case"), Action("button", "核查通过")),
            (Action("sign_out"), _sign_in("cgchief", staff=True)),
            (
                Action("link", "网格化管理"),
                Action("link", "指挥中心工作台"),
                Action("link", "待结案"),
                Action("case"),
                Action("button", "结案"),
                Action("field", "状态", "已结案"),
            ),
            (Action("sign_out"), _sign_in("resident")),
            (
                Action("link", "网格化管理"),
                Action("link", "我的上报"),
                Action("see", "已结案"),
                Action("case"),
                Action("choose", "满意度（1–5 星）", "5 ★"),
                Action("button", "评价"),
                Action("field", "状态", "已评价"),
            ),
        ),
        ending=_(
            "网格员、处置单位和时限由位置和类别决定：路灯归市政工程管理处，3 个工作日内处置；"
            "每一步都记入办理过程和审计日志，市民在「我的上报」中随时看到进展。"
        ),
    ),
    Story(
        key="merchant-settlement",
        title=_("公交集团查看市民卡刷卡乘车交易和每日结算"),
        capability=_("市民卡"),
        accounts=(("busop", _("福州公交集团票务结算员（商户账户）")),),
        steps=(
            (Action("home"), _sign_in("busop")),
            (
                Action("link", "市民卡"),
                Action("link", "商户交易与结算"),
                Action("see", "刷卡乘车"),
                Action("see", "结算额（元）"),
            ),
        ),
        ending=_(
            "车载终端离线上传的刷卡按刷卡时间入账；市民卡清算员每日清分后，商户看到每个业务日的笔数、交易额、"
            "手续费和结算额。"
        ),
    ),
)
