"""Citizen ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015): validation and generation.

Validation reports every broken rule under a stable rule id (`id_number.checksum`, `credit_code.division`...), so a
form, an API problem document and a bulk-import error report can all say exactly what is wrong. Rules that make the
rest meaningless (length, charset) stop early; the others are all checked and reported together.

Check characters are computed with one `int(text, base)` call instead of a Python loop over weights: the persons
registry validates and the demo generator makes millions of numbers, and the loop would dominate both. Each trick is
explained where it is used and tested against the weighted sums of the standards.

Input is never normalised, anywhere on the platform: an identifier is accepted exactly as written (18 characters,
upper case, no spaces), so that what is stored, indexed and signed is what the person typed and was checked. A
surrounding or inner space is reported as `<identifier>.whitespace` and a lower-case letter as
`id_number.lowercase_x` or `credit_code.lowercase`, saying what to change, never silently fixed. The registries,
licences, the service hall and identity all pass input through these validators unchanged (a test walks their entry
points). Where either kind is allowed (a licence holder), `holder_code_validate` says which kind it read the text as
(an ID number has only digits before its check character) and why that failed.

python-stdnum is not used for validation because it is wrong in ways that matter here (standards.md §1, §2): it checks
an ID number's division against the birth year, accepts a lower-case x, ignores the GB 11714 check character of a
credit code, and rejects credit codes whose first characters are letters.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, Literal, NamedTuple

from rongcheng.kernel.divisions import division_codes_ever_existed
from rongcheng.kernel.errors import ValidationFailed

Sex = Literal["male", "female"]

# ---------------------------------------------------------------------------------------------------------------------
# Shared
# ---------------------------------------------------------------------------------------------------------------------

_CHINA_UTC_OFFSET_SECONDS: Final = 8 * 3600
_UNIX_EPOCH: Final = date(1970, 1, 1)


def _compact(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@functools.lru_cache(maxsize=2)
def _china_date(epoch_day: int) -> tuple[date, str]:
    day = _UNIX_EPOCH + timedelta(days=epoch_day)
    return day, _compact(day)


def _china_today() -> tuple[date, str]:
    """Today in China (UTC+8 all year, no daylight saving), whatever the server's time zone: a child born this
    morning in Fuzhou must not be "born in the future" on a UTC server. Cached per day: this runs on every ID."""
    return _china_date(int((time.time() + _CHINA_UTC_OFFSET_SECONDS) // 86400))


def _error(field: str, rule: str, message: str) -> dict[str, Any]:
    return {"loc": [field], "rule": rule, "msg": message}


def _whitespace_check(value: str, field: str, kind: str, detail: str) -> None:
    if any(character.isspace() for character in value):
        raise ValidationFailed(
            detail, errors=[_error(field, f"{kind}.whitespace", "remove the spaces: 18 characters, nothing else")]
        )


# ---------------------------------------------------------------------------------------------------------------------
# GB 11643-1999 citizen ID number
# ---------------------------------------------------------------------------------------------------------------------

ID_NUMBER_LENGTH: Final = 18
# Earlier birth dates are typing errors (0985 for 1985), not people; the bound is generous on purpose.
EARLIEST_BIRTH_DATE: Final = date(1800, 1, 1)
_EARLIEST_BIRTH_COMPACT: Final = _compact(EARLIEST_BIRTH_DATE)

# ISO 7064 MOD 11-2 check character, indexed by S mod 11 where S = Σ aᵢ·Wᵢ and Wᵢ = 2^(18−i) mod 11.
_ID_CHECK_CHARACTERS: Final = "10X98765432"
_ID_CHECK_SET: Final = frozenset("0123456789X")
# Every MMDD of a leap year; 0229 is then checked against the year.
_MONTH_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_REAL_MONTH_DAYS: Final = frozenset(
    f"{month:02d}{day:02d}" for month, days in enumerate(_MONTH_DAYS, start=1) for day in range(1, days + 1)
)


@dataclass(frozen=True, slots=True)
class IdNumber:
    value: str
    division_code: str
    birth_date: date
    sequence: int
    sex: Sex


def _id_weighted_sum_mod_11(body17: str) -> int:
    """S mod 11 for 17 ASCII digits. int(body, 13) is Σ aᵢ·13^(17−i), and 13 ≡ 2 (mod 11), so twice it is
    Σ aᵢ·2^(18−i) ≡ S: the whole weighted sum in one C call. python-stdnum uses the same identity."""
    return (2 * int(body17, 13)) % 11


def id_number_check_character(body17: str) -> str:
    if not (len(body17) == 17 and body17.isascii() and body17.isdigit()):
        raise ValueError(f"an ID number body is 17 digits, not {body17!r}")
    return _ID_CHECK_CHARACTERS[_id_weighted_sum_mod_11(body17)]


def _is_real_birth_date(compact: str, today_compact: str) -> bool:
    """For 8 ASCII digits YYYYMMDD. Comparing the fixed-width strings orders them as dates, without building one."""
    if compact > today_compact or compact < _EARLIEST_BIRTH_COMPACT:
        return False
    month_day = compact[4:]
    if month_day not in _REAL_MONTH_DAYS:
        return False
    if month_day == "0229":
        year = int(compact[:4])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def id_number_is_valid(value: str, *, today: date | None = None) -> bool:
    """The same rules as `id_number_validate`, without building errors or a result: for bulk filtering."""
    if len(value) != ID_NUMBER_LENGTH or not value.isascii():
        return False
    body = value[:17]
    if not body.isdigit() or value[17] not in _ID_CHECK_SET:
        return False
    today_compact = _china_today()[1] if today is None else _compact(today)
    return (
        _is_real_birth_date(body[6:14], today_compact)
        and body[:6] in division_codes_ever_existed()
        and _ID_CHECK_CHARACTERS[_id_weighted_sum_mod_11(body)] == value[17]
    )


def id_number_validate(value: str, *, field: str = "id_number", today: date | None = None) -> IdNumber:
    """Accept an 18-character ID number exactly as written (no upper-casing, no trimming; see the module docstring).

    The division must be a code that ever existed, not one in force in the birth year: a number keeps the code in
    force when it was first assigned, so 350181197611300041 (福清市, a code from 1990, holder born 1976) is valid.
    `today` defaults to the date in China.
    """
    _whitespace_check(value, field, "id_number", "The ID number is not valid.")
    if len(value) != ID_NUMBER_LENGTH:
        raise ValidationFailed(
            "The ID number is not valid.",
            errors=[_error(field, "id_number.length", f"an ID number has 18 characters, not {len(value)}")],
        )
    body, check = value[:17], value[17]
    if not (value.isascii() and body.isdigit() and check in "0123456789Xx"):
        raise ValidationFailed(
            "The ID number is not valid.",
            errors=[_error(field, "id_number.charset", "characters 1-17 must be digits and character 18 a digit or X")],
        )
    errors = []
    if check == "x":
        errors.append(_error(field, "id_number.lowercase_x", "the check character X must be upper case"))
        check = "X"
    today_date, today_compact = _china_today() if today is None else (today, _compact(today))
    compact_birth = body[6:14]
    if not _is_real_birth_date(compact_birth, today_compact):
        # The message does not repeat the date: error reports and logs must not show what masking hides.
        if compact_birth > today_compact and compact_birth[4:] in _REAL_MONTH_DAYS:
            message = f"the birth date (characters 7-14) is after today ({today_date.isoformat()})"
        else:
            message = f"the birth date (characters 7-14) is not a real date from {EARLIEST_BIRTH_DATE.year} on"
        errors.append(_error(field, "id_number.birth_date", message))
    division_code = body[:6]
    if division_code not in division_codes_ever_existed():
        errors.append(_error(field, "id_number.division", f"{division_code} is not a GB/T 2260 division code"))
    if _ID_CHECK_CHARACTERS[_id_weighted_sum_mod_11(body)] != check:
        errors.append(_error(field, "id_number.checksum", "the check character does not match (ISO 7064 MOD 11-2)"))
    if errors:
        raise ValidationFailed("The ID number is not valid.", errors=errors)
    sequence = int(body[14:17])
    return IdNumber(
        value=value,
        division_code=division_code,
        birth_date=date(int(compact_birth[:4]), int(compact_birth[4:6]), int(compact_birth[6:])),
        sequence=sequence,
        sex="male" if sequence % 2 else "female",
    )


def id_number_make(*, division_code: str, birth_date: date, sequence: int) -> str:
    """Compose a number with its check character. Odd sequences are men's, even ones women's (GB 11643).

    It does not look at the clock, so that a seeded generator is reproducible: a birth date after today gives a
    number that `id_number_validate` rejects.
    """
    if not 0 <= sequence <= 999:
        raise ValueError(f"the sequence is 0..999, not {sequence}")
    if division_code not in division_codes_ever_existed():
        raise ValueError(f"{division_code!r} is not a GB/T 2260 division code")
    if birth_date < EARLIEST_BIRTH_DATE:
        raise ValueError(f"birth dates start at {EARLIEST_BIRTH_DATE.isoformat()}")
    body = f"{division_code}{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}{sequence:03d}"
    return body + _ID_CHECK_CHARACTERS[(2 * int(body, 13)) % 11]


# ---------------------------------------------------------------------------------------------------------------------
# GB 32100-2015 unified social credit code, with its GB 11714 organisation code
# ---------------------------------------------------------------------------------------------------------------------

CREDIT_CODE_LENGTH: Final = 18
# 31 characters: no I, O, S, V, Z. A character's value is its index.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_CODE_ALPHABET_SET: Final = frozenset(CREDIT_CODE_ALPHABET)
# Maps each character to the digit that int() reads as the character's value (J, value 18, becomes I...).
_CREDIT_CODE_TO_BASE_DIGITS: Final = str.maketrans(CREDIT_CODE_ALPHABET, "0123456789ABCDEFGHIJKLMNOPQRSTU")
_ORGANIZATION_CODE_CHARACTERS: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# GB 11714 check character, indexed by S mod 11: C9 = 11 − (S mod 11), 10 written X and 11 written 0.
_ORGANIZATION_CHECK_CHARACTERS: Final = "0X987654321"
# Central-level bodies are registered under 100000 (中华人民共和国), which GB/T 2260 lists as no division. [MEM]
NATIONAL_REGISTRATION_DIVISION: Final = "100000"

# Early Fujian pilot codes that fail the position-18 check although their GB 11714 character is right; public
# validators (bluesky335/IDCheck) list them as genuine. They are accepted as suspect, for manual or online checking
# (standards.md §2); any other code failing that check is rejected.
KNOWN_PILOT_CODES_FAILING_CHECK: Final = frozenset({"91350100M0001TGQXM", "91350211M0000XUF46", "91350203M0001FUE2P"})


class RegistrationDepartment(NamedTuple):
    name: str
    categories: Mapping[str, str]
    # False when the sources list only some categories: then any category 1-9 is accepted.
    complete: bool


# Position 1 (登记管理部门) and position 2 (机构类别), from GB 32100 via standards.md §2 (1, 5, 9, Y) and the
# credentialkit OrgCategory enum (the others, and the 其他 category of 9).
REGISTRATION_DEPARTMENTS: Final[Mapping[str, RegistrationDepartment]] = {
    "1": RegistrationDepartment(
        "机构编制", {"1": "机关", "2": "事业单位", "3": "编办直接管理机构编制的群众团体", "9": "其他"}, True
    ),
    "2": RegistrationDepartment("外交", {"1": "外国常驻新闻机构", "9": "其他"}, False),
    "3": RegistrationDepartment("司法行政", {"1": "律师执业机构", "6": "商事调解组织", "9": "其他"}, False),
    "4": RegistrationDepartment("文化", {"1": "外国在华文化中心", "9": "其他"}, False),
    "5": RegistrationDepartment(
        "民政",
        {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "4": "村民委员会", "5": "居民委员会", "9": "其他"},
        True,
    ),
    "6": RegistrationDepartment(
        "旅游", {"1": "外国政府旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻代表机构", "9": "其他"}, False
    ),
    "7": RegistrationDepartment("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}, False),
    "8": RegistrationDepartment("工会", {"1": "基层工会", "2": "非法人工会组织", "9": "其他"}, False),
    "9": RegistrationDepartment(
        "工商/市场监管", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社", "9": "其他"}, True
    ),
    "A": RegistrationDepartment("中央军委改革和编制办公室", {"1": "军队文职人员用人单位", "9": "其他"}, False),
    "G": RegistrationDepartment("公安", {"1": "境外非政府组织代表机构", "9": "其他"}, False),
    "J": RegistrationDepartment("住房城乡建设", {"1": "业主大会", "9": "其他"}, False),
    "N": RegistrationDepartment(
        "农业农村", {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"}, False
    ),
    "Q": RegistrationDepartment(
        "侨联", {"1": "区县级侨联组织", "2": "乡镇级侨联组织", "3": "村级侨联组织", "9": "其他"}, False
    ),
    "Y": RegistrationDepartment("其他", {"1": "其他"}, True),
}
_OPEN_CATEGORIES: Final = frozenset("123456789")


@dataclass(frozen=True, slots=True)
class CreditCode:
    """A code that passed validation. `suspect` codes broke `suspect_rule` but are known to be genuine: show them,
    and have an officer confirm them (online lookup) before relying on them."""

    value: str
    registration_department: str
    category: str
    division_code: str
    organization_code: str  # positions 9-17: the GB 11714 code with its own check character
    suspect: bool = False
    suspect_rule: str | None = None
    suspect_reason: str | None = None


def _credit_code_weighted_sum_mod_31(body17: str) -> int:
    """S mod 31 where S = Σ Cᵢ·3^(i−1), for characters of the credit code alphabet. After mapping each character to
    the digit of its value and reversing, int(…, 34) is Σ Cᵢ·34^(i−1), and 34 ≡ 3 (mod 31)."""
    return int(body17.translate(_CREDIT_CODE_TO_BASE_DIGITS)[::-1], 34) % 31


def _organization_weighted_sum_mod_11(body8: str) -> int:
    """S mod 11 where S = Σ Cᵢ·Wᵢ, W = 3 7 9 10 5 8 4 2 = 2^(9−i) mod 11, and a character's value is int()'s own
    (A=10 … Z=35). int(body, 35) is Σ Cᵢ·35^(8−i) and 35 ≡ 2 (mod 11), so twice it is S. Base 35 has no Z, whose
    value 35 ≡ 2 (mod 11) contributes as a 2 does."""
    return (2 * int(body8.replace("Z", "2"), 35)) % 11


def organization_code_check_character(body8: str) -> str:
    if not (len(body8) == 8 and _ORGANIZATION_CODE_CHARACTERS.issuperset(body8)):
        raise ValueError(f"an organisation code body is 8 digits or upper-case letters, not {body8!r}")
    return _ORGANIZATION_CHECK_CHARACTERS[_organization_weighted_sum_mod_11(body8)]


def credit_code_check_character(body17: str) -> str:
    if not (len(body17) == 17 and _CREDIT_CODE_ALPHABET_SET.issuperset(body17)):
        raise ValueError(f"a credit code body is 17 characters of {CREDIT_CODE_ALPHABET}, not {body17!r}")
    return CREDIT_CODE_ALPHABET[-_credit_code_weighted_sum_mod_31(body17) % 31]


def _category_problem(department: str, category: str) -> str | None:
    known = REGISTRATION_DEPARTMENTS.get(department)
    if known is None:
        return f"{department} is not a registration department code"
    if category in known.categories or (not known.complete and category in _OPEN_CATEGORIES):
        return None
    return f"{department}{category}: {category} is not an organisation category of {known.name} ({department})"


def _division_problem(division_code: str) -> str | None:
    if not division_code.isdigit():
        return f"characters 3-8 ({division_code}) must be digits"
    if division_code != NATIONAL_REGISTRATION_DIVISION and division_code not in division_codes_ever_existed():
        return f"{division_code} is not a GB/T 2260 division code"
    return None


def credit_code_validate(value: str, *, field: str = "credit_code") -> CreditCode:
    """Accept an 18-character code exactly as written (upper case, no spaces).

    A wrong GB 11714 character (position 17) is always rejected. A wrong position 18 is rejected too, except for
    `KNOWN_PILOT_CODES_FAILING_CHECK`, returned as suspect.
    """
    _whitespace_check(value, field, "credit_code", "The unified social credit code is not valid.")
    if len(value) != CREDIT_CODE_LENGTH:
        raise ValidationFailed(
            "The unified social credit code is not valid.",
            errors=[_error(field, "credit_code.length", f"a credit code has 18 characters, not {len(value)}")],
        )
    errors = []
    code = value
    if value.isascii():
        code = value.upper()
        if code != value:
            errors.append(_error(field, "credit_code.lowercase", "letters must be upper case"))
    if not _CREDIT_CODE_ALPHABET_SET.issuperset(code):
        invalid = "".join(sorted(set(code) - _CREDIT_CODE_ALPHABET_SET))
        errors.append(
            _error(field, "credit_code.charset", f"{invalid!r} not allowed: only digits and letters except I O S V Z")
        )
        raise ValidationFailed("The unified social credit code is not valid.", errors=errors)
    department, category, division_code, organization_code = code[0], code[1], code[2:8], code[8:17]
    problem = _division_problem(division_code)
    if problem:
        errors.append(_error(field, "credit_code.division", problem))
    problem = _category_problem(department, category)
    if problem:
        errors.append(_error(field, "credit_code.category", problem))
    if _ORGANIZATION_CHECK_CHARACTERS[_organization_weighted_sum_mod_11(code[8:16])] != code[16]:
        errors.append(
            _error(field, "credit_code.organization_code_check", "character 17 is not the GB 11714 check character")
        )
    check_fails = CREDIT_CODE_ALPHABET[-_credit_code_weighted_sum_mod_31(code[:17]) % 31] != code[17]
    suspect = check_fails and not errors and code in KNOWN_PILOT_CODES_FAILING_CHECK
    if check_fails and not suspect:
        errors.append(_error(field, "credit_code.check", "character 18 is not the check character (GB 32100)"))
    if errors:
        raise ValidationFailed("The unified social credit code is not valid.", errors=errors)
    return CreditCode(
        value=code,
        registration_department=department,
        category=category,
        division_code=division_code,
        organization_code=organization_code,
        suspect=suspect,
        suspect_rule="credit_code.check" if suspect else None,
        suspect_reason=(
            "an early Fujian pilot code that fails the check of character 18; confirm it with the registry"
            if suspect
            else None
        ),
    )


def credit_code_is_valid(value: str) -> bool:
    """True for a clean code; False for an invalid one and for a suspect one (it needs a person to confirm it)."""
    if len(value) != CREDIT_CODE_LENGTH or not _CREDIT_CODE_ALPHABET_SET.issuperset(value):
        return False
    return (
        _division_problem(value[2:8]) is None
        and _category_problem(value[0], value[1]) is None
        and _ORGANIZATION_CHECK_CHARACTERS[_organization_weighted_sum_mod_11(value[8:16])] == value[16]
        and CREDIT_CODE_ALPHABET[-_credit_code_weighted_sum_mod_31(value[:17]) % 31] == value[17]
    )


def credit_code_make(*, registration_department: str, category: str, division_code: str, organization_body: str) -> str:
    """Compose a code: the GB 11714 character closes the organisation body, the GB 32100 character the whole.

    The body is drawn from the credit code alphabet, so the whole code is too (a GB 11714 check is 0-9 or X).
    """
    problem = _category_problem(registration_department, category) or _division_problem(division_code)
    if problem:
        raise ValueError(problem)
    if not (len(organization_body) == 8 and _CREDIT_CODE_ALPHABET_SET.issuperset(organization_body)):
        raise ValueError(f"the organisation body is 8 characters of {CREDIT_CODE_ALPHABET}, not {organization_body!r}")
    body = (
        registration_department
        + category
        + division_code
        + organization_body
        + _ORGANIZATION_CHECK_CHARACTERS[_organization_weighted_sum_mod_11(organization_body)]
    )
    return body + CREDIT_CODE_ALPHABET[-_credit_code_weighted_sum_mod_31(body) % 31]


def holder_code_validate(value: str, *, field: str = "holder_code") -> IdNumber | CreditCode:
    """An ID number or a unified social credit code, as written. Text whose first 17 characters are digits is read as
    an ID number, anything else as a credit code; a failure names the kind tried and its broken rules."""
    body = value.strip()[:17]
    if body.isascii() and body.isdigit():
        try:
            return id_number_validate(value, field=field)
        except ValidationFailed as exc:
            raise ValidationFailed(f"Read as a citizen ID number: {exc.detail}", errors=exc.errors) from None
    try:
        return credit_code_validate(value, field=field)
    except ValidationFailed as exc:
        raise ValidationFailed(f"Read as a unified social credit code: {exc.detail}", errors=exc.errors) from None
