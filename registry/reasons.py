"""A file's row reasons and the inspection API's refusals in the user's language: the common
English reasons (``registry.results``, ``registry.io_rows``, ``registry.store``,
``registry.conclusions``) matched by pattern to a message key of the register's catalogue
(``MESSAGES``, rendered by ``web.i18n.render``), their variable parts as its parameters. A reason
no pattern matches keeps its English text (web.i18n's rule for a key no catalogue holds). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

from web.i18n import render

# Key → English pattern (named groups: the message's parameters). Kept to the reasons an
# agency meets most: the unit not in the register, a date in the future or before the unit's
# commissioning, a conclusion not of the category, a required column missing, a code in
# exponent form, the same inspection twice in a file, a correction, a 复检 with no failure.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((key, re.compile(pattern)) for key, pattern in (
    ("registry.not_in_register", r"equipment (?P<code>.+) is not in the register"),
    ("registry.row_in_future", r"(?P<column>\w+) (?P<date>\d{4}-\d\d-\d\d) is in the future"),
    ("registry.row_before_commissioning",
     r"inspected_on (?P<date>[\d-]+) is before the unit was commissioned \((?P<since>[\d-]+)\)"),
    ("registry.row_before_1950", r"inspected_on (?P<date>[\d-]+) is before (?P<since>[\d-]+)"),
    ("registry.row_conclusion", r"conclusion (?P<given>.+) is not one of (?P<category>\w+)'s: (?P<names>.+)"),
    ("registry.row_result", r"result (?P<given>.+) is not one of pass, conditional, fail"),
    ("registry.row_conclusion_missing", r"conclusion missing"),
    ("registry.row_column_missing", r"required column (?P<column>\w+) \((?P<heading>[^)]+)\) is missing"),
    ("registry.row_exponent", r"(?P<column>\w+) (?P<given>.+) is a number in exponent form: .*"),
    ("registry.row_not_a_date", r"(?P<column>\w+) (?P<given>.+) is not a date \(YYYY-MM-DD\)"),
    ("registry.row_twice", r"the same inspection as line (?P<line>\d+) \(.*"),
    ("registry.row_replaces",
     r"replaces the (?P<date>[\d-]+) (?P<kind>\w+) inspection of (?P<code>\S+) \((?P<schedule>\w+)\) already recorded"),
    ("registry.reinspection_alone",
     r"a reinspection \(复检\) of (?P<code>\S+)'s (?P<schedule>\w+) with no earlier failure on record"),
))

MESSAGES: dict[str, dict[str, str]] = {
    "registry.row_in_future": {"zh-CN": "{column} {date} 晚于今天", "en": "{column} {date} is in the future"},
    "registry.row_before_commissioning": {"zh-CN": "检验日期 {date} 早于设备投用日期 {since}",
                                          "en": "inspected_on {date} is before the unit was commissioned ({since})"},
    "registry.row_before_1950": {"zh-CN": "检验日期 {date} 早于 {since}",
                                 "en": "inspected_on {date} is before {since}"},
    "registry.row_conclusion": {"zh-CN": "检验结论 {given} 不是该类设备（{category}）的结论：{names}",
                                "en": "conclusion {given} is not one of {category}'s: {names}"},
    "registry.row_result": {"zh-CN": "结果 {given} 不是 pass、conditional、fail 之一",
                            "en": "result {given} is not one of pass, conditional, fail"},
    "registry.row_conclusion_missing": {"zh-CN": "缺少检验结论", "en": "conclusion missing"},
    "registry.row_column_missing": {"zh-CN": "缺少必填列“{heading}”（{column}）",
                                    "en": "required column {column} ({heading}) is missing"},
    "registry.row_exponent": {"zh-CN": "{column} {given} 是科学计数法的数字：表格软件已把代码截为 15 位，"
                                       "请把该列设为文本后重新输入",
                              "en": "{column} {given} is a number in exponent form: the spreadsheet has cut the code "
                                    "to 15 digits; format the column as text and type the code again"},
    "registry.row_not_a_date": {"zh-CN": "{column} {given} 不是日期（YYYY-MM-DD）",
                                "en": "{column} {given} is not a date (YYYY-MM-DD)"},
    "registry.row_twice": {"zh-CN": "与第 {line} 行是同一次检验（设备、检验项目、日期、检验性质相同）："
                                   "每次检验只填一行",
                           "en": "the same inspection as line {line} (unit, schedule, date and kind): give each "
                                 "inspection once"},
    "registry.row_replaces": {"zh-CN": "更正了已录入的 {code}（{schedule}，{kind}）{date} 的检验记录",
                              "en": "replaces the {date} {kind} inspection of {code} ({schedule}) already recorded"},
    "registry.reinspection_alone": {"zh-CN": "{code} 的 {schedule} 复检之前没有不合格记录，请核对检验性质",
                                    "en": "a reinspection (复检) of {code}'s {schedule} with no earlier failure on "
                                          "record"},
}


def localised(reason: str, lang: str, catalogue: Mapping[str, Mapping[str, str]]) -> str:
    """``reason`` (English) in ``lang`` when a pattern matches it and ``catalogue`` holds its key;
    otherwise ``reason`` itself."""
    if lang == "en":
        return reason
    for key, pattern in PATTERNS:
        found = pattern.fullmatch(reason)
        if found is not None:
            return render(catalogue, key, found.groupdict(), lang, reason)
    return reason
