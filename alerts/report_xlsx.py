"""The monthly 96333 report as an XLSX workbook (openpyxl): one sheet of figures and splits, one
of the top ten. Labels in Chinese (zh-CN, the default) or English, the printable page's own words;
the period as the page states it, first and last day inclusive."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from alerts.monthly_report import MonthlyReport

# The printable page's words (console/static/i18n.js, keys as there): the page and the workbook
# say the same thing under the same name (tests/unit/test_monthly_report.py compares the two).
LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "report_title": "96333 电梯应急处置月报", "report_period": "统计期间：{since} 至 {last}", "timezone": "时区",
        "figure": "指标", "value": "数值", "report_incidents": "接警总数", "calls": "电话接警", "false_alarms": "误报",
        "entrapments_n": "困人事件", "persons_released": "解救人数", "injuries": "受伤人数", "dispatched_n": "已派单",
        "arrival_30min_rate": "30 分钟到场率", "response_rate": "响应率", "lifts_in_use": "在用电梯（台）",
        "entrapments_per_lift": "困人率（次/台）", "entrapments_per_100_lifts": "每百台困人",
        "tiers": "分级救援", "causes": "困人原因", "places": "使用场所", "slots": "时段分布（{zone}）", "count": "次数",
        "top_units": "维保单位前十（每百台困人）", "top_owners": "使用单位前十（每百台困人）", "rank": "排名",
        "name_col": "名称", "lifts": "电梯（台）",
    },
    "en": {
        "report_title": "96333 elevator emergency report", "report_period": "Period: {since} to {last}",
        "timezone": "Time zone", "figure": "figure", "value": "value", "report_incidents": "incidents",
        "calls": "calls", "false_alarms": "false alarms", "entrapments_n": "entrapments",
        "persons_released": "persons released", "injuries": "injuries", "dispatched_n": "dispatched",
        "arrival_30min_rate": "30-minute arrival rate", "response_rate": "response rate",
        "lifts_in_use": "elevators in use", "entrapments_per_lift": "entrapments per lift",
        "entrapments_per_100_lifts": "per 100 lifts", "tiers": "Rescue tier", "causes": "Causes", "places": "Places",
        "slots": "Time of day ({zone})", "count": "count", "top_units": "Top ten maintenance units (per 100 lifts)",
        "top_owners": "Top ten owners (per 100 lifts)", "rank": "rank", "name_col": "name", "lifts": "lifts",
    },
}
# The names of the splits' rows (i18n.js NAMES: group → key → [zh-CN, en]).
NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "report_tier": {"1": ("一级 维保单位", "1 maintenance unit"), "2": ("二级 网格救援站", "2 second-tier station"),
                    "3": ("三级 消防 119", "3 fire brigade 119"), "none": ("未派单", "not dispatched")},
    "cause_class": {"human": ("人为", "human"), "external": ("外部/停电", "external / power cut"),
                    "door_system": ("门系统", "door system"), "control_system": ("控制系统", "control system"),
                    "other": ("其他", "other"), "unrecorded": ("未记录", "not recorded")},
    "place": {"residential": ("住宅", "residential"), "mall": ("商场", "mall"), "hospital": ("医院", "hospital"),
              "school": ("学校", "school"), "office": ("办公", "office"), "hotel": ("宾馆", "hotel"),
              "transport": ("交通枢纽", "transport"), "public": ("公共场所", "public"),
              "industrial": ("工业", "industrial"), "other": ("其他", "other"), "unknown": ("未知", "unknown")},
}
# (the report's JSON field, its label's key), in the page's order; rates are percent cells
FIGURES = (("incidents", "report_incidents"), ("calls", "calls"), ("false_alarms", "false_alarms"),
           ("entrapments", "entrapments_n"), ("persons_released", "persons_released"), ("injuries", "injuries"),
           ("dispatched", "dispatched_n"), ("arrival_30min_rate_pct", "arrival_30min_rate"),
           ("response_rate_pct", "response_rate"), ("lifts", "lifts_in_use"),
           ("entrapments_per_lift", "entrapments_per_lift"), ("entrapments_per_100_lifts", "entrapments_per_100_lifts"))
PERCENT_FORMAT = '0.00"%"'
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_xlsx(report: MonthlyReport, lang: str = "zh-CN") -> bytes:
    """The workbook's bytes: sheet 1 (the figures, then each split), sheet 2 (the top ten)."""
    words = LABELS.get(lang, LABELS["zh-CN"])
    column = 1 if lang == "en" else 0

    def label(key: str, **values: str) -> str:
        return words.get(key, key).format(**values)

    def named(group: str, key: str) -> str:
        pair = NAMES[group].get(key)
        return key if pair is None else pair[column]

    data = report.as_json()
    bold = Font(bold=True)
    book = Workbook()
    sheet: Any = book.active
    sheet.title = "report" if lang == "en" else "月报"
    sheet.append([label("report_title")])
    sheet["A1"].font = Font(bold=True, size=14)
    last = report.until - timedelta(days=1)  # the last day, inclusive, as the page states it
    sheet.append([label("report_period", since=report.since.isoformat(), last=last.isoformat())])
    sheet.append([label("timezone"), report.timezone])
    sheet.append([])
    sheet.append([label("figure"), label("value")])
    for key, word in FIGURES:
        sheet.append([label(word), data[key]])
        if key.endswith("_pct"):
            sheet.cell(sheet.max_row, 2).number_format = PERCENT_FORMAT
    for title, group, counts in (("tiers", "report_tier", report.tiers), ("causes", "cause_class", report.causes),
                                 ("places", "place", report.places)):
        sheet.append([])
        sheet.append([label(title), label("count")])
        sheet.cell(sheet.max_row, 1).font = bold
        for key, n in counts.items():
            sheet.append([named(group, key), n])
    sheet.append([])
    sheet.append([label("slots", zone=report.timezone), label("count")])
    sheet.cell(sheet.max_row, 1).font = bold
    for slot, n in report.slots:
        sheet.append([slot, n])
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 26

    top: Any = book.create_sheet("top ten" if lang == "en" else "前十名")
    for title, rows in (("top_units", report.top_units), ("top_owners", report.top_owners)):
        top.append([label(title)])
        top.cell(top.max_row, 1).font = bold
        top.append([label("rank"), label("name_col"), label("entrapments_n"), label("lifts"),
                    label("entrapments_per_100_lifts")])
        for rank, row in enumerate(rows, 1):
            top.append([rank, row.name, row.entrapments, row.lifts, round(row.per_100_lifts, 2)])
        top.append([])
    top.column_dimensions["B"].width = 36
    out = BytesIO()
    book.save(out)
    return out.getvalue()
