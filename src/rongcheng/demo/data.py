"""Fixed facts of the demo city: departments named in the 2017 plan, county-level divisions, names."""

from __future__ import annotations

from datetime import date

# (code, full name, short name) — units named as 责任单位 in the 2017 Digital Fuzhou plan.
DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("FZ-SZB", "福州市数字福州建设领导小组办公室", "市数字办"),
    ("FZ-GAJ", "福州市公安局", "市公安局"),
    ("FZ-WJW", "福州市卫生和计划生育委员会", "市卫计委"),
    ("FZ-MZJ", "福州市民政局", "市民政局"),
    ("FZ-RSJ", "福州市人力资源和社会保障局", "市人社局"),
    ("FZ-FGW", "福州市发展和改革委员会", "市发改委"),
    ("FZ-JXW", "福州市经济和信息化委员会", "市经信委"),
    ("FZ-LYJ", "福州市旅游局", "市旅游局"),
    ("FZ-SGB", "福州市审批制度改革办公室", "市审改办"),
    ("FZ-FWZX", "福州市行政（市民）服务中心管理委员会", "市行政服务中心管委会"),
    ("FZ-ZZB", "福州市社会治安综合治理委员会办公室", "市综治办"),
    ("FZ-DAJ", "福州市档案局", "市档案局"),
    ("FZ-TXJ", "福州市通信管理局", "市通信管理局"),
    ("FZ-JJJT", "福州市交通建设集团有限公司", "市交建集团"),
    ("FZ-GSJ", "福州市市场监督管理局", "市市场监管局"),
    ("FZ-CGW", "福州市城市管理委员会", "市城管委"),
)

# County-level divisions of Fuzhou (GB/T 2260) with their periods as far as the demo needs them.
# 长乐市 350182 became 长乐区 350112 in the MCA table of 2017-10 (standards.md §3).
COUNTIES: tuple[tuple[str, str, date | None, date | None, str | None], ...] = (
    ("350102", "鼓楼区", None, None, None),
    ("350103", "台江区", None, None, None),
    ("350104", "仓山区", None, None, None),
    ("350105", "马尾区", None, None, None),
    ("350111", "晋安区", None, None, None),
    ("350121", "闽侯县", None, None, None),
    ("350122", "连江县", None, None, None),
    ("350123", "罗源县", None, None, None),
    ("350124", "闽清县", None, None, None),
    ("350125", "永泰县", None, None, None),
    ("350128", "平潭县", None, None, None),
    ("350181", "福清市", None, None, None),
    ("350182", "长乐市", None, date(2017, 9, 30), "350112"),
    ("350112", "长乐区", date(2017, 10, 1), None, None),
)
CHANGLE_CHANGE = date(2017, 10, 1)
SUCCESSORS = {code: successor for code, _n, _f, _t, successor in COUNTIES if successor}

# Synthetic bounding boxes (lon_min, lat_min, lon_max, lat_max), roughly where each district lies.
COUNTY_BOXES: dict[str, tuple[float, float, float, float]] = {
    "350102": (119.25, 26.06, 119.31, 26.12),
    "350103": (119.28, 26.03, 119.33, 26.07),
    "350104": (119.20, 25.97, 119.34, 26.04),
    "350105": (119.40, 25.95, 119.55, 26.05),
    "350111": (119.30, 26.07, 119.50, 26.25),
    "350121": (118.90, 25.90, 119.25, 26.25),
    "350122": (119.40, 26.15, 119.90, 26.45),
    "350123": (119.30, 26.35, 119.70, 26.65),
    "350124": (118.70, 26.10, 119.00, 26.40),
    "350125": (118.50, 25.60, 119.00, 26.00),
    "350128": (119.60, 25.35, 119.90, 25.65),
    "350181": (119.10, 25.45, 119.60, 25.80),
    "350112": (119.40, 25.75, 119.70, 26.00),
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许邓冯韩曹曾彭萧蔡潘田董袁于余叶蒋杜苏魏程吕丁沈任"
    "姚卢傅钟姜崔谭廖范汪陆金石戴贾韦夏邱方侯邹熊孟秦白江阎薛尹段雷黎史龙陶贺顾毛郝龚邵万钱严赖覃洪武莫孔"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红文斌宇浩凯秀梅婷雪琳"
    "晨曦欣怡子涵梓轩宇航佳怡雨桐思远嘉豪志强俊杰海燕晓东春梅秋菊榕闽"
)
STREET_SUFFIXES = ("街道", "镇", "乡")
STREET_WORDS = (
    "东街南街温泉鼓东鼓西华大安泰洪山五凤水部茶亭瀛洲宁化上海新港后洲义洲苍霞仓前建新城门盖山螺洲下渡对湖临江"
)
COMMUNITY_WORDS = "榕荫三坊七巷乌山于山屏山西湖左海金牛闽江白马五一五四东街鼓楼茶园朱紫冶山光禄"
# Roads of the synthetic addresses (each grid cell has a few buildings on one of them).
ROAD_WORDS = (
    "五四路", "八一七路", "湖东路", "东街", "杨桥路", "工业路",
    "福飞路", "华林路", "古田路", "白马路", "六一路", "江滨路",
)  # fmt: skip
ADDRESSES_PER_CELL = 6
ENTITY_WORDS = ("闽都", "榕城", "海峡", "三山", "鼓山", "闽江", "东南", "海西", "左海", "乌山", "马尾", "琅岐")
ENTITY_TRADES = ("科技", "贸易", "建设", "餐饮", "物流", "信息技术", "食品", "医药", "文化传媒", "茶业", "电子", "旅游")
