"""Fill the message catalogues from the tables below, compile them, and report what is left untranslated.

Templates are written in Simplified Chinese (the default language) and model labels in English, so each catalogue
translates the other language's strings: ENGLISH (Chinese msgid → English) fills locale `en`, CHINESE (English msgid
→ Chinese) fills locale `zh_Hans`; a msgid already in the catalogue's language is its own translation. A plural
msgid maps to a tuple with one form per plural form of the language (English: singular, plural); a single string
serves every form. The tables are the only source: a translation edited in a .po file, or one msgmerge guessed
(`#, fuzzy`), is replaced. Run after makemessages in src/rongcheng:

    rongcheng manage makemessages -l en -l zh_Hans --no-wrap --no-location --ignore "*/tests/*"
    uv run python scripts/translations.py

It exits non-zero, listing them, if any msgid is left without a translation. `--check` only reports, writing nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

LOCALE = Path(__file__).resolve().parent.parent / "src" / "rongcheng" / "locale"

Table = dict[str, str | tuple[str, ...]]

ENGLISH: Table = {
    # portal, divisions, accounts
    "统一身份认证": "Unified identity",
    "一次登录，实名认证，各部门系统通过 OpenID Connect 接入。": "Sign in once with a real-name identity; every department's system connects through OpenID Connect.",
    "基础数据资源库": "Base registries",
    "人口、法人、地址和空间基础数据的唯一权威来源。": "The single source of truth for persons, legal entities, addresses and spatial base data.",
    "电子证照": "Electronic licences",
    "SM2 签名的电子证照，任何人可验证，凭身份证号复用。": "Licences signed with SM2, verifiable by anyone, reused by ID number.",
    "网上办事大厅": "Online service hall",
    "全流程网上办事，材料免提交，全城通办。": "Apply and get decisions fully online, without resubmitting papers, at any window in the city.",
    "网格化管理": "Grid management",
    "城市问题按位置派遣到网格和部门，限时办结。": "City problems routed by location to the right grid and department, handled to a deadline.",
    "市民卡": "Citizen card",
    "公交、停车、水电、缴费，一卡通付，账目分毫不差。": "Fares, parking, utilities and fees on one card, on a ledger that never loses a cent.",
    "公共信用": "Public credit",
    "双公示、红黑名单、信用报告和信用修复。": "Licensing and penalty disclosures, red and black lists, credit reports and credit repair.",
    "数据共享开放": "Data sharing and open data",
    "政务信息资源目录、共享审批和开放数据接口。": "The government data catalogue, approved sharing between departments and open-data APIs.",
    "时空信息": "Spatio-temporal data",
    "OGC API - Features 提供行政区划、网格和兴趣点。": "Divisions, grid cells and points of interest through OGC API - Features.",
    "协同办公": "Collaborative office",
    "公文起草、会签、收文、归档，手机可用。": "Drafting, countersigning, receiving and archiving official documents, also on a phone.",
    "城市物联网": "City sensors",
    "设备登记、MQTT 遥测接入、超限自动立案。": "Device registry, MQTT telemetry and cases opened automatically on thresholds.",
    "监控与安全": "Monitoring and security",
    "榕城数字政府平台": "Rongcheng digital government platform",
    "在网上办事、查看办理进度、使用和核验电子证照。": "Apply for services online, follow your applications, use and verify electronic licences.",
    "我要办事": "Apply for a service",
    "查找事项": "Find a service",
    "例如：居住证、公积金": "For example: residence permit, housing fund",
    "搜索": "Search",
    "按人生事件": "By life event",
    "按部门": "By department",
    "全部事项": "All services",
    "我的办件": "My applications",
    "查看申请进度、补正材料、评价服务。": "Follow your applications, send corrections, rate the service.",
    "我的证照": "My licences",
    "查看电子证照，管理授权，了解谁使用了您的证照。": "See your electronic licences, manage authorizations, see who used them.",
    "验证电子证照": "Verify a licence",
    "输入证照标识，核验证照是否真实有效。无需登录。": "Type a licence identifier to check that the licence is genuine and valid. No sign-in needed.",
    "即将推出": "Coming",
    "生育": "Having a baby",
    "结婚": "Getting married",
    "住房": "Housing",
    "社会保障": "Social security",
    "养老和助残": "Old age and disability",
    "开办企业": "Starting a business",
    "出行": "Driving",
    "防篡改审计日志和国密算法；7×24 监控建设中。": "A tamper-evident audit trail and national cryptography; round-the-clock monitoring is coming.",
    "无权访问": "Not allowed",
    "表单已过期": "The form has expired",
    "办件列表": "Applications",
    # registries: purposes of a read
    "政务服务办理": "Deciding an application",
    "治安管理": "Public security",
    "社会救助": "Social assistance",
    "卫生健康": "Health services",
    "统计分析（汇总）": "Statistics (aggregated)",
    "数据治理（纠错）": "Data-quality correction",
    "本人查询": "The person reading their own record",
    "这个表单已过期或不是从本站页面提交的，所以没有被受理，什么也没有改变。请返回上一页，刷新后再试一次。": "This form has expired or was not sent from a page of this site, so it was not accepted and nothing changed. Please go back, reload the page and try again.",
    "您当前的账户不能打开这个页面。它可能只对工作人员或其他类型的账户开放。": "Your account cannot open this page. It may be open only to staff or to another kind of account.",
    "登录后再试": "Sign in and try again",
    "页面不存在": "Page not found",
    "您要找的页面不存在，或者您无权查看。请检查网址，或从下面的入口重新开始。": "The page you are looking for does not exist, or you may not see it. Check the address, or start again from one of the links below.",
    "服务器出错": "Server error",
    "服务器出错，运维人员已收到通知。您的操作没有保存，请稍后再试。": "The server failed and the operators have been told. Nothing you did was saved; please try again later.",
    "错误代码 %(status)s": "Error %(status)s",
    "电子证照核验": "Licence verification",
    "输入证照上的证照标识，或扫描证照上的二维码，查看证照是否真实有效。无需登录。": "Type the licence identifier printed on the licence, or scan its QR code, to see whether it is genuine and valid. No sign-in needed.",
    "证照标识": "Licence identifier",
    "证照标识以 1.2.156.3005.2 开头，印在证照二维码下方。": "A licence identifier begins with 1.2.156.3005.2 and is printed under the licence's QR code.",
    "核验": "Verify",
    "跳到正文": "Skip to content",
    "榕城": "Rongcheng",
    "账户": "Account",
    "管理后台": "Administration",
    "退出": "Sign out",
    "登录": "Sign in",
    "榕城数字政府平台 · 开源软件": "Rongcheng digital government platform · open-source software",
    "请求无效": "Bad request",
    "请求无效，请检查输入的内容后重试。": "The request is not valid; check what you entered and try again.",
    "本次访问已记录。": "This attempt has been recorded.",
    "请求过于频繁": "Too many requests",
    "提交的内容太大，服务器无法接收。请缩小文件或分次提交。": "What you sent is too large for the server. Make the file smaller or send it in parts.",
    "提交的内容太大": "Too large",
    "返回首页": "Back to the home page",
    "平台能力": "Capabilities",
    "规划任务 %(tasks)s": "Plan task %(tasks)s",
    "用户名": "Username",
    "密码": "Password",
    "男": "male",
    "女": "female",
    "在世": "living",
    "死亡": "deceased",
    "注销": "deregistered",
    "存续": "active",
    "吊销": "revoked",
    "地级市": "prefecture-level city",
    "区县": "county or district",
    "街道/乡镇": "street or township",
    "社区/村": "community or village",
    "审计日志": "Audit trail",
    # audit
    "主体": "Actor",
    "用户名或主体标识": "Username or actor ID",
    "操作": "Action",
    "前缀匹配，如 registries.person": "Matches the beginning, e.g. registries.person",
    "对象类型": "Target type",
    "对象标识": "Target ID",
    "结果": "Outcome",
    "全部": "all",
    "起始日期": "From",
    "截止日期": "To",
    "起始日期晚于截止日期。": "The start date is after the end date.",
    "用户": "user",
    "接口客户端": "API client",
    "系统": "system",
    "匿名": "anonymous",
    "成功": "success",
    "拒绝": "denied",
    "失败": "failure",
    "时间": "Time",
    "主体类型": "actor kind",
    "主体标识": "actor ID",
    "主体名称": "actor name",
    "来源地址": "Source address",
    "目的": "Purpose",
    "详情": "details",
    "审计记录": "audit record",
    "待封存审计记录": "audit record awaiting sealing",
    "序号": "sequence number",
    "记录": "Record",
    "校验码": "MAC",
    "审计链环": "audit chain link",
    "最后清除序号": "last purged sequence number",
    "最后清除校验码": "last purged MAC",
    "清除条数": "records purged",
    "清除截止时间": "purged before",
    "导出文件": "export file",
    "导出文件 SM3": "export file SM3 digest",
    "锚点校验码": "anchor MAC",
    "审计链锚点": "audit chain anchor",
    "审计记录只增不改，以 SM3 密钥链防篡改；本次查询也将记入审计日志。": "Audit records are only ever added, never changed, and a keyed SM3 chain makes any tampering evident; this search is recorded in the audit trail too.",
    "查询": "Search",
    "翻页参数无效，请重新查询。": "The paging parameter is not valid; please search again.",
    "按时间倒序": "Newest first",
    "编号": "No.",
    "对象": "Target",
    "下一页": "Next page",
    "没有符合条件的审计记录。": "No audit records match.",
    # registries: forms and their error messages
    "请选择": "Please choose",
    "身份证号应为 18 位。": "An ID number has 18 characters.",
    "身份证号前 17 位应为数字，末位为数字或 X。": "The first 17 characters of an ID number are digits; the last is a digit or X.",
    "校验位 X 应为大写。": "The check character X must be upper case.",
    "身份证号中的出生日期无效。": "The birth date in the ID number is not valid.",
    "身份证号中的行政区划代码无效。": "The division code in the ID number is not valid.",
    "身份证号校验位不符。": "The check character of the ID number does not match.",
    "请填写名称。": "Enter a name.",
    "姓名不超过 50 个字符。": "A name has at most 50 characters.",
    "不是有效的民族代码（GB/T 3304）。": "Not a valid ethnicity code (GB/T 3304).",
    "不是有效的行政区划代码（GB/T 2260）。": "Not a valid division code (GB/T 2260).",
    "不是有效的电话号码。": "Not a valid phone number.",
    "地址不超过 200 个字符。": "An address has at most 200 characters.",
    "登记机关不超过 100 个字符。": "A registration authority has at most 100 characters.",
    "请填写原因。": "Enter a reason.",
    "该项不可更正。": "This field cannot be corrected.",
    "请选择关闭类型。": "Choose why the record is closed.",
    "日期超出记录的存续期间，且不能晚于今天。": "The date must fall within the record's lifetime and cannot be later than today.",
    "日期无效或晚于今天。": "The date is not valid or is later than today.",
    "法定代表人须为在世的登记人员。": "The legal representative must be a registered, living person.",
    "请填写身份证号、姓名或行政区划。": "Enter an ID number, a name or a division.",
    "请选择查询目的。": "Choose a purpose.",
    "未知的查询目的。": "Unknown purpose.",
    "记录已被他人修改，请查看最新内容后重新提交。": "Someone else has changed the record; please look at its latest content and submit again.",
    "记录已关闭，不能再修改。": "The record is closed and can no longer be changed.",
    "查询目的": "Purpose",
    "每次查询都记入审计日志": "Every search is recorded in the audit trail",
    "身份证号": "ID number",
    "按身份证号精确查找": "Finds exactly this ID number",
    "姓名": "Name",
    "户籍行政区划代码": "Registered-residence division code",
    "行政区划代码为 6 位数字。": "A division code has 6 digits.",
    "更正原因": "Reason for the correction",
    "请至少填写一项更正内容。": "Fill in at least one field to correct.",
    "民族": "Ethnicity",
    "不变": "unchanged",
    "电话": "Phone",
    "地址": "Address",
    "名称": "Name",
    "法定代表人身份证号": "Legal representative's ID number",
    "更换法定代表人时填写；须为在世的登记人员": "Only to change the legal representative; must be a registered, living person",
    "住所": "Registered address",
    "登记机关": "Registration authority",
    "成立日期": "Established on",
    "日期": "Date",
    "原因": "Reason",
    "关闭类型": "Closed because",
    "数据类别": "Registry",
    "人口库（自然人）": "Persons registry (persons)",
    "法人库（法人）": "Entities registry (legal entities)",
    "文件": "File",
    "CSV（UTF-8 编码）或 Excel（.xlsx），第一行为列名。": "CSV (UTF-8) or Excel (.xlsx), with the column names in the first row.",
    "严格模式": "Strict mode",
    "任何一行有错误，则整个文件都不导入。": "If any row has an error, nothing from the file is imported.",
    "您没有导入法人库的权限。": "You are not allowed to import into the entities registry.",
    # registries: models
    "人口库": "persons registry",
    "法人库": "entities registry",
    # registries: pages
    "谁查看了我的信息": "Who viewed my data",
    "统一社会信用代码": "Unified social credit code",
    "类型": "Type",
    "登记区划": "Registration division",
    "法定代表人": "Legal representative",
    "状态": "Status",
    "版本": "Version",
    "查看记录须说明目的；本次查看将记入审计日志，当事人可以看到。": "Viewing a record needs a purpose; this view will be recorded in the audit trail, where the person concerned can see it.",
    "查看": "View",
    "更正法人记录 %(record_id)s": "Correct legal entity record %(record_id)s",
    "法人记录 %(record_id)s": "Legal entity record %(record_id)s",
    "为数据治理目的查看，已记入审计日志。": "Viewed for data governance and recorded in the audit trail.",
    "记录已关闭，不能再更正；历史版本仍可查看。": "The record is closed and can no longer be corrected; its previous versions can still be viewed.",
    "更正": "Correction",
    "只填写需要更正的项，留空的项保持不变。统一社会信用代码不能更正。原记录保存为历史版本。": "Fill in only the fields to correct; fields left blank stay as they are. The unified social credit code cannot be corrected. The record as it was is kept as a previous version.",
    "提交更正": "Submit the correction",
    "关闭记录": "Close the record",
    "吊销或注销时关闭记录。关闭后记录保留但不再变更。": "Close the record when the entity is revoked or deregistered. A closed record is kept but no longer changes.",
    "查看目的：%(label)s。本次查看已记入审计日志；法定代表人的个人信息脱敏显示。": "Purpose: %(label)s. This view has been recorded in the audit trail; the legal representative's personal data is shown masked.",
    "更正或关闭记录": "Correct or close the record",
    "历史版本": "Previous versions",
    "由旧到新；每个版本由谁、何时、因何被替换": "Oldest first; who replaced each version, when and why",
    "有效期": "Valid",
    "变更": "Change",
    "至今": "now",
    "当前版本": "Current version",
    "基础库批量导入": "Bulk import into the base registries",
    "逐行校验；已登记且内容相同的行不会重复导入，内容不同的行作为冲突报告，请通过更正功能修改。每次导入都记入审计日志。": "Every row is checked. A row already registered with the same content is not imported again; one with different content is reported as a conflict, to be fixed with a correction. Every import is recorded in the audit trail.",
    "文件未导入，库中数据没有变化。": "The file was not imported; the registry has not changed.",
    "导入结果": "Import result",
    "严格模式：有行被拒绝，整个文件未导入，库中数据没有变化。": "Strict mode: rows were rejected, so nothing from the file was imported and the registry has not changed.",
    "全部行均已处理，没有错误。": "All rows were processed without errors.",
    "读取行数": "Rows read",
    "新增": "Added",
    "已登记且相同（未改动）": "Already registered and identical (left unchanged)",
    "被拒绝": "Rejected",
    "错误报告": "Error report",
    "下载完整错误报告（CSV）": "Download the full error report (CSV)",
    "此处仅显示前 %(shown)s 条。": (
        "Only the first %(shown)s error is shown here.",
        "Only the first %(shown)s errors are shown here.",
    ),
    "另有 %(omitted)s 条错误未逐条列出。": "%(omitted)s more errors are not listed one by one.",
    "行号": "Row",
    "列": "Column",
    "规则": "Rule",
    "说明": "Message",
    "上传文件": "Upload a file",
    "导入": "Import",
    "列名": "Column names",
    "第一行为列名，可用英文或中文；标 * 的列必须有。身份证号、统一社会信用代码列请设为文本格式。": "The first row holds the column names, in English or Chinese; the columns marked * are required. Format the ID number and unified social credit code columns as text.",
    "英文列名": "English column name",
    "中文列名": "Chinese column name",
    "您的账户尚未与人口库中的本人记录关联，因此无法列出查看记录。": "Your account is not yet linked to your own record in the persons registry, so the views of it cannot be listed.",
    "完成实名认证（核验身份证号）后，账户即与本人记录关联，此处将列出各部门工作人员、部门系统和平台功能查看您信息的每一次记录。": "Once you complete real-name verification (your ID number is checked), your account is linked to your record, and every view of your data by department staff, department systems and platform functions will be listed here.",
    "翻页参数无效。": "The paging parameter is not valid.",
    "从第一页开始": "Start from the first page",
    "每一次查看您在人口库中的记录都会记入审计日志：谁、何时、为何目的、看到了哪些未脱敏的信息。如有疑问，可向查看部门或 12345 热线反映。": "Every view of your record in the persons registry is recorded in the audit trail: who, when, for what purpose, and which data they saw unmasked. If you have questions, contact the department that viewed it or the 12345 hotline.",
    "查看者": "Viewed by",
    "明文查看的信息": "Data seen unmasked",
    "方式": "How",
    "本人": "You",
    "部门系统": "Department system",
    "平台功能": "Platform function",
    "工作人员": "Staff member",
    "无（均已脱敏）": "None (all masked)",
    "更早的记录": "Earlier views",
    "还没有人查看过您的记录。": "No one has viewed your record yet.",
    "没有更早的记录了。": "There are no earlier views.",
    "更正人员记录 %(record_id)s": "Correct person record %(record_id)s",
    "人员记录 %(record_id)s": "Person record %(record_id)s",
    "明文显示：": "Shown unmasked: ",
    "个人信息均已脱敏。": "All personal data is masked.",
    "民族代码": "Ethnicity code",
    "户籍区划": "Registered-residence division",
    "只填写需要更正的项，留空的项保持不变。身份证号不能更正：号码错误即为另一人。原记录保存为历史版本。": "Fill in only the fields to correct; fields left blank stay as they are. The ID number cannot be corrected: a different number is a different person. The record as it was is kept as a previous version.",
    "死亡或注销时关闭记录。关闭后记录保留但不再变更。": "Close the record when the person has died or been deregistered. A closed record is kept but no longer changes.",
    "人口库查询": "Persons registry search",
    "查看目的：%(label)s。本次查看已记入审计日志。": "Purpose: %(label)s. This view has been recorded in the audit trail.",
    "性别": "Sex",
    "出生日期": "Birth date",
    "查询结果按您的授权脱敏显示；每次查询都记入审计日志，当事人可以看到谁为何查看了其信息。": "Results are masked as your entitlements require; every search is recorded in the audit trail, where the persons concerned can see who viewed their data and why.",
    "按记录号排序": "By record number",
    "记录号": "Record number",
    "人口库中没有该身份证号的登记人员。": "No one with this ID number is registered in the persons registry.",
    "没有符合条件的人员。": "No persons match.",
    "数据质量检查": "Data-quality check",
    "检查三类问题：同一人登记为两条记录（姓名、出生日期、性别、户籍区划相同而身份证号不同）；法定代表人不是在世人员的存续法人；坐标落在所属区县范围（其下网格的外包矩形）之外的地址。检查本身及报告中列出的人员均记入审计日志。": "Checks for three kinds of problem: one person registered as two records (same name, birth date, sex and registered-residence division but different ID numbers); active legal entities whose legal representative is not a living person; addresses whose coordinates lie outside their county (the bounding box of its grid cells). The check itself and the persons listed in the report are recorded in the audit trail.",
    "立即检查": "Check now",
    "%(at)s 的检查结果：%(n)s 个问题": "Result of the check at %(at)s: %(n)s problems",
    "疑似重复登记：%(n)s 组": "Suspected duplicate registrations: %(n)s groups",
    "法定代表人不是在世人员：%(n)s 个法人": "Legal representative not a living person: %(n)s legal entities",
    "法人": "Legal entity",
    "法定代表人记录": "Legal representative's record",
    "坐标在所属区县之外的地址：%(n)s 个（共检查 %(checked)s 个）": "Addresses with coordinates outside their county: %(n)s (of %(checked)s checked)",
    "未检查：%(no_point)s 个地址没有坐标，%(no_geometry)s 个地址所属区县没有网格数据。": "Not checked: %(no_point)s addresses without coordinates and %(no_geometry)s addresses whose county has no grid cells.",
    "地址记录": "Address record",
    "所属区划": "Division",
    "经度": "Longitude",
    "纬度": "Latitude",
    "每类最多列出 %(listed_max)s 项；完整清单请用命令 registry_quality 导出。": "At most %(listed_max)s items are listed of each kind; export the full list with the registry_quality command.",
    "最近一次检查": "Latest check",
    "%(at)s，由 %(who)s 执行：%(n)s 个问题。": "%(at)s, run by %(who)s: %(n)s problems.",
    "报告本身不保存；点击“立即检查”查看完整结果。": "The report itself is not kept; click “Check now” to see the full result.",
    "还没有运行过数据质量检查。": "No data-quality check has been run yet.",
    "查询结果": "Search results",
    "查看记录": "Record view",
    "按身份证号查找": "Lookup by ID number",
    "查看记录及历史": "Record and history view",
    "查看历史时点": "View as of a past time",
    "网上办事大厅为您的申请预填材料": "The online service hall prefilled your application",
    "查看法人（法定代表人）": "Legal entity view (legal representative)",
    "关闭": "Closure",
    "已更正，原记录已保存为历史版本。": "Corrected; the record as it was has been kept as a previous version.",
    "记录已关闭，原记录已保存为历史版本。": "The record is closed; the record as it was has been kept as a previous version.",
    "您无权查询人口库，不能更换法定代表人。": "You may not search the persons registry, so you cannot change the legal representative.",
    "请在查询表单中输入身份证号，不要放在网址中。": "Enter the ID number in the search form, not in the address.",
    # rate limits (portal error page)
    "请求过于频繁，请 %(seconds)s 秒后再试。": (
        "Too many requests; try again in %(seconds)s second.",
        "Too many requests; try again in %(seconds)s seconds.",
    ),
}

CHINESE: Table = {
    # accounts
    "code": "代码", "name": "名称", "short name": "简称", "unified social credit code": "统一社会信用代码",
    "division code": "行政区划代码", "department": "部门", "departments": "部门", "resident": "市民",
    "company representative": "法人经办人", "staff": "工作人员", "API client": "接入系统", "kind": "类型",
    "display name": "显示名称", "ID number blind index": "公民身份号码盲索引", "account": "账户", "accounts": "账户",
    # divisions
    "level": "级别", "valid from": "启用日期", "valid to": "停用日期", "division": "行政区划", "divisions": "行政区划",
    "polygon": "多边形", "grid cell": "单元网格", "grid cells": "单元网格",
    # registries
    "address": "地址", "addresses": "地址", "longitude": "经度", "latitude": "纬度",
    "ID number (encrypted)": "公民身份号码（密文）", "ID number (masked)": "公民身份号码（脱敏）",
    "sex": "性别", "birth date": "出生日期", "ethnicity": "民族", "registered-residence division": "户籍所在地",
    "phone (encrypted)": "电话（密文）", "phone blind index": "电话盲索引", "phone (masked)": "电话（脱敏）",
    "status": "状态", "closed on": "关闭日期", "version": "版本", "current version valid from": "当前版本生效时间",
    "person": "自然人", "persons": "自然人", "legal entity": "法人", "legal entities": "法人",
    "registration department code": "登记管理部门码", "category code": "机构类别码", "entity type": "法人类型",
    "registration division": "登记管理机关行政区划", "legal representative": "法定代表人",
    "registered address": "住所", "registration authority": "登记机关", "established on": "成立日期",
    "registry": "基础库", "record": "记录", "snapshot (encrypted)": "快照（密文）", "replaced by": "变更方式",
    "reason": "原因", "changed by": "变更人", "changed by (name)": "变更人姓名",
    "record version": "记录版本", "record versions": "记录版本",
    "period": "统计期", "value": "数值", "unit": "单位", "source department": "来源部门",
    "indicator value": "宏观经济数据", "indicator values": "宏观经济数据",
    "field": "字段", "purpose": "用途", "role": "角色", "granted by": "授权人", "granted at": "授权时间",
    "field entitlement": "字段授权", "field entitlements": "字段授权",
}  # fmt: skip

# One catalogue entry, as msgmerge writes it with --no-wrap: comments, then msgctxt, msgid and msgid_plural, each a
# quoted string or several (a multi-line msgid), then one msgstr or the indexed msgstr[n] of a plural. Obsolete
# entries (`#~`) are comments and never match.
_STRING = r'"(?:[^"\\\n]|\\.)*"'
_LINES = rf"{_STRING}(?:\n{_STRING})*"
_ENTRY = re.compile(
    rf"^(?P<comments>(?:#.*\n)*)"
    rf"(?:msgctxt (?P<context>{_LINES})\n)?"
    rf"msgid (?P<id>{_LINES})\n"
    rf"(?:msgid_plural (?P<plural>{_LINES})\n)?"
    rf"(?P<strs>(?:msgstr(?:\[\d+\])? {_LINES}(?:\n|\Z))+)",
    re.MULTILINE,
)
_MSGSTR = re.compile(rf"^msgstr(?:\[(?P<index>\d+)\])? (?P<text>{_LINES})", re.MULTILINE)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|\{\w*\}")
_CHINESE = re.compile(r"[\u3400-\u9fff]")
NATIVE = {"en": False, "zh_Hans": True}  # whether the catalogue's language is Chinese


def _unquote(lines: str) -> str:
    """The text of one or more quoted PO strings."""
    parts = re.findall(_STRING, lines)
    return "".join(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), p[1:-1]) for p in parts)


def _quote(text: str) -> str:
    """A PO string; text with an inner line break is split after each one, as msgmerge --no-wrap does."""

    def one(part: str) -> str:
        escaped = part.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'

    if "\n" not in text[:-1]:
        return one(text)
    return '""\n' + "\n".join(one(line) for line in text.splitlines(keepends=True))


def _forms(match: re.Match[str]) -> list[str]:
    """The msgstr forms of an entry: one for a singular, as many as the catalogue's plural forms for a plural."""
    return [_unquote(m.group("text")) for m in _MSGSTR.finditer(match.group("strs"))]


def _translate(match: re.Match[str], language: str, table: Table) -> list[str]:
    msgid = _unquote(match.group("id"))
    plural = _unquote(match.group("plural")) if match.group("plural") is not None else None
    count = len(_forms(match))
    if bool(_CHINESE.search(msgid)) == NATIVE[language]:
        return [msgid] if plural is None else [msgid, *[plural] * (count - 1)]
    value = table.get(msgid, "")
    forms = [value] * count if isinstance(value, str) else list(value)
    return forms if len(forms) == count else [""] * count


def fill(language: str, table: Table) -> None:
    path = LOCALE / language / "LC_MESSAGES" / "django.po"
    text = path.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        # A translation from the table replaces msgmerge's guess: drop the fuzzy flag and the guess's old msgid.
        comments = []
        for line in match.group("comments").splitlines():
            if line.startswith("#|"):
                continue
            if line.startswith("#,"):
                flags = [flag.strip() for flag in line[2:].split(",") if flag.strip() not in ("fuzzy", "")]
                if not flags:
                    continue
                line = "#, " + ", ".join(flags)
            comments.append(line + "\n")
        head = "".join(comments)
        if match.group("context") is not None:
            head += f"msgctxt {match.group('context')}\n"
        head += f"msgid {match.group('id')}\n"
        if _unquote(match.group("id")) == "":  # the header
            return head + match.group("strs")
        forms = _translate(match, language, table)
        if match.group("plural") is None:
            return head + f"msgstr {_quote(forms[0])}\n"
        head += f"msgid_plural {match.group('plural')}\n"
        return head + "".join(f"msgstr[{index}] {_quote(form)}\n" for index, form in enumerate(forms))

    path.write_text(_ENTRY.sub(replace, text), encoding="utf-8")
    subprocess.run(["msgfmt", "--check", "-o", str(path.with_suffix(".mo")), str(path)], check=True)


def check(language: str, table: Table) -> list[str]:
    """Problems left in a catalogue: msgids without a translation, translations whose placeholders differ."""
    path = LOCALE / language / "LC_MESSAGES" / "django.po"
    problems = []
    used = set()
    for match in _ENTRY.finditer(path.read_text(encoding="utf-8")):
        msgid = _unquote(match.group("id"))
        if msgid == "":
            continue
        used.add(msgid)
        forms = _forms(match)
        flags = [flag.strip() for line in match.group("comments").splitlines() if line.startswith("#,")
                 for flag in line[2:].split(",")]  # fmt: skip
        if "fuzzy" in flags:
            problems.append(f"{language}: fuzzy: {msgid!r}")
        value = table.get(msgid)
        if isinstance(value, tuple) and len(value) != len(forms):
            problems.append(
                f"{language}: {len(value)} plural forms in the table, {len(forms)} in the catalogue: {msgid!r}"
            )
        if not all(forms):
            problems.append(f"{language}: untranslated: {msgid!r}")
            continue
        sources = [msgid] if match.group("plural") is None else [msgid, _unquote(match.group("plural"))]
        expected = {tuple(sorted(_PLACEHOLDER.findall(source))) for source in sources}
        for form in forms:
            if tuple(sorted(_PLACEHOLDER.findall(form))) not in expected:
                problems.append(f"{language}: placeholders differ: {msgid!r} → {form!r}")
    for msgid in sorted(set(table) - used):
        print(f"{language}: note: not in the catalogue (no longer used?): {msgid!r}", file=sys.stderr)
    return problems


def _app_tables() -> None:
    """Each app added after the first ones keeps its strings in scripts/translations_<app>.py (tables named ENGLISH
    and CHINESE, as here), so that apps built side by side do not edit one file."""
    import importlib.util

    for path in sorted(Path(__file__).parent.glob("translations_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ENGLISH.update(getattr(module, "ENGLISH", {}))
        CHINESE.update(getattr(module, "CHINESE", {}))


if __name__ == "__main__":
    _app_tables()
    catalogues = {"en": ENGLISH, "zh_Hans": CHINESE}
    if "--check" not in sys.argv[1:]:
        for language, table in catalogues.items():
            fill(language, table)
    found = [problem for language, table in catalogues.items() for problem in check(language, table)]
    for problem in found:
        print(problem, file=sys.stderr)
    sys.exit(1 if found else 0)
