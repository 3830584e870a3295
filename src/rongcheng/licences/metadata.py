"""The one place that names licence content after GB/T 36903 元数据规范 (standards.md §5).

Element names are those used by public implementations of the standard (证照标识 ZZBS …); the type-specific face
(照面) fields travel as `KZ_<field name>`.
"""

from __future__ import annotations

from typing import Final

IDENTIFIER: Final = "ZZBS"  # 证照标识
TYPE_CODE: Final = "ZZLXDM"  # 证照类型代码
TITLE: Final = "ZZMC"  # 证照名称
NUMBER: Final = "ZZBH"  # 证照编号
ISSUER: Final = "ZZBFJG"  # 证照颁发机构
ISSUER_CODE: Final = "ZZBFJGDM"  # 证照颁发机构代码
ISSUED_ON: Final = "ZZBFRQ"  # 证照颁发日期
HOLDER: Final = "CZZT"  # 持证主体
HOLDER_CODE: Final = "CZZTDM"  # 持证主体代码
HOLDER_CODE_TYPE: Final = "CZZTDMLX"  # 持证主体代码类型
HOLDER_CODE_TYPE_CODE: Final = "CZZTDMLXDM"  # 持证主体代码类型代码 (GB/T 36903 Annex A)
VALID_FROM: Final = "ZZYXQQSRQ"  # 证照有效期起始日期
VALID_UNTIL: Final = "ZZYXQJZRQ"  # 证照有效期截止日期
SIGNER: Final = "ZZQZR"  # 证照签章人
SIGNED_AT: Final = "ZZQZSJ"  # 证照签章时间
SEAL_NAME: Final = "ZZQZMC"  # 证照签章名称: here the signing key's id
FACE_PREFIX: Final = "KZ_"  # type-specific face fields

# 持证主体代码类型: (name, code)
HOLDER_CODE_TYPES: Final = {"person": ("公民身份号码", "111"), "entity": ("统一社会信用代码", "001")}

# MOHURD's certificate-state codes (01 有效 02 暂扣 03 撤销 04 注销 05 失效), for exchanges that want them.
STATUS_CODES: Final = {"valid": "01", "suspended": "02", "revoked": "03", "cancelled": "04", "expired": "05"}

# Element name -> English label, for the exported document's readers.
LABELS: Final = {
    IDENTIFIER: "identifier",
    TYPE_CODE: "licence type code",
    TITLE: "licence name",
    NUMBER: "licence number",
    ISSUER: "issuing authority",
    ISSUER_CODE: "issuing authority code",
    ISSUED_ON: "issue date",
    HOLDER: "holder",
    HOLDER_CODE: "holder code",
    HOLDER_CODE_TYPE: "holder code type",
    HOLDER_CODE_TYPE_CODE: "holder code type code",
    VALID_FROM: "valid from",
    VALID_UNTIL: "valid until",
    SIGNER: "signer",
    SIGNED_AT: "signing time",
    SEAL_NAME: "signing key id",
}
