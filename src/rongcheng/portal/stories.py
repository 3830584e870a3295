"""The stories the demo tells: for each capability, the demo accounts and the steps of a story that ends well.

Each step is a list of actions naming the labels exactly as the pages show them (the same msgids, so the English page
names the English labels). The stories page renders them; `tests/test_stories_browser.py` walks every story,
action by action, on the demo city, so a story that no longer works as written fails there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

ACCOUNTS_FILE = "var/demo-accounts.txt"

Kind = Literal["home", "sign_in", "sign_out", "link", "button", "fill", "choose", "number", "field", "see", "licence",
               "fill_licence"]  # fmt: skip


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
    raise ValueError(kind)


_lazy_text = lazy(_text, str)


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
)
