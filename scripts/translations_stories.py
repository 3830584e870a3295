# A table of sentences: one per line, however long.
# ruff: noqa: E501
"""Translations of the demo's stories page (portal.stories); see translations.py."""

from __future__ import annotations

ENGLISH: dict[str, str | tuple[str, ...]] = {
    "打开首页": "Open the home page",
    "点击「登录」，以 %(username)s 账户登录（密码见演示账户文件 %(file)s）": "click “Sign in” and sign in as %(username)s (the password is in the demo accounts file %(file)s)",
    "，在「动态口令」中填写 uv run rongcheng totp %(username)s 给出的口令，点击「验证」": ", type the code that uv run rongcheng totp %(username)s prints into “Authenticator code” and click “Verify”",
    "点击页头的「退出」": "click “Sign out” at the top of the page",
    "点击「%(label)s」": "click “%(label)s”",
    "在「%(label)s」中填写「%(value)s」": "type “%(value)s” into “%(label)s”",
    "在「%(label)s」中选择「%(value)s」": "choose “%(value)s” in “%(label)s”",
    "点击办件编号（以 %(prefix)s 开头）": "click the application number (it starts with %(prefix)s)",
    "「%(label)s」显示「%(value)s」": "“%(label)s” shows “%(value)s”",
    "页面显示「%(value)s」": "the page shows “%(value)s”",
    "点击「办理结果」中的电子证照标识，打开它的公开核验页": "click the licence identifier under “Result” to open its public verification page",
    "在「%(label)s」中填写一份电子证照的标识（例如故事1中居民得到的居住证的标识）": "type a licence's identifier into “%(label)s” (for example that of the residence permit the resident obtained in story 1)",
    "居民网上申领居住证，民警审批，居民拿到电子证照": "A resident applies online for a residence permit, the police officer approves it, the resident gets the electronic licence",
    "市民（居民账户）": "a resident (resident account)",
    "户籍民警（工作人员，登录需动态口令）": "the household-registration police officer (staff; signs in with an authenticator code)",
    "材料全部由人口库和居民的不动产权证书自动填入，无需上传；办结后居住证即时签发，任何人可核验。": "Every material is filled in from the population registry and the resident's property certificate, nothing is uploaded; once concluded, the residence permit is issued at once and anyone can verify it.",
    "企业网上申请食品经营许可，市场监管部门审批，企业拿到许可证": "A company applies online for a food-business permit, the market-regulation bureau decides it, the company gets the permit",
    "企业法定代表人": "a company's legal representative",
    "市场监管审批人员（工作人员，登录需动态口令）": "the market-regulation officer (staff; signs in with an authenticator code)",
    "营业执照和法定代表人信息自动填入；办结后食品经营许可证签发给企业，经营场所取自营业执照。": "The business licence and the legal representative's details are filled in; once concluded, the food-business permit is issued to the company, its premises taken from the business licence.",
    "任何人核验一份电子证照": "Anyone verifies an electronic licence",
    "无需登录：页面核验颁发部门的 SM2 签名和证照当前状态，个人信息已脱敏。": "No sign-in: the page checks the issuing department's SM2 signature and the licence's current status, with personal details masked.",
    "工作人员按目的查询人口库": "An officer searches the population registry for a stated purpose",
    "魏华杰是演示居民 resident 本人（默认种子 2017）。按角色的授权明文显示字段，其余脱敏；每次查看都记入审计日志，被查看的人可以看到（故事5）。": "魏华杰 is the demo resident's own person (default seed 2017). The fields the role is entitled to are shown in clear, the others masked; every view is recorded in the audit trail, and the person viewed can see it (story 5).",
    "居民查看谁查看了我的信息": "A resident sees who viewed their data",
    "每一次查看都有记录：谁、何时、为何目的、看到了哪些未脱敏的信息。": "Every view is on record: who, when, for what purpose, and which details they saw unmasked.",
    "试试这些故事": "Try these stories",
    "第一次来？试试这些故事：用演示账户一步一步走完办事流程。": "New here? Try these stories: the demo accounts take you through a service step by step.",
    "演示城市（uv run rongcheng demo）中的每一项能力都可以用演示账户从头走到好的结局。账户的密码不在本页：它们在演示账户文件 %(accounts_file)s 中；工作人员登录还需要动态口令，运行 uv run rongcheng totp 用户名 即可得到。": "In the demo city (uv run rongcheng demo) every capability can be taken from start to a good ending with the demo accounts. Their passwords are not on this page: they are in the demo accounts file %(accounts_file)s; staff also sign in with an authenticator code, which uv run rongcheng totp USERNAME prints.",
    "故事列表": "Stories",
    "故事%(number)s：%(title)s": "Story %(number)s: %(title)s",
    "能力：%(capability)s": "Capability: %(capability)s",
    "无需登录。": "No sign-in needed.",
    "步骤": "Steps",
    "结局：": "Ending: ",
}
