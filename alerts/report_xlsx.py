"""The monthly 96333 report as an XLSX workbook (openpyxl): one sheet of figures and splits, one
of the top ten. Labels in Chinese (zh-CN, the default) or English."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from alerts.monthly_report import MonthlyReport

LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "96333 电梯应急处置月报", "period": "统计期间", "timezone": "时区", "figure": "指标", "value": "数值",
        "incidents": "接警总数", "calls": "电话接警", "false_alarms": "误报", "entrapments": "困人事件",
        "persons_released": "解救人数", "injuries": "受伤人数", "dispatched": "已派单",
        "arrival_30min_rate_pct": "30分钟到场率 (%)", "response_rate_pct": "响应率 (%)", "lifts": "在用电梯 (台)",
        "entrapments_per_lift": "困人率 (次/台)", "entrapments_per_100_lifts": "困人率 (次/百台)",
        "tiers": "分级救援", "tier_1": "一级 维保单位", "tier_2": "二级 网格救援站", "tier_3": "三级 消防 119",
        "tier_none": "未派单", "causes": "困人原因", "places": "使用场所", "slots": "时段分布", "count": "次数",
        "top": "前十名", "top_units": "维保单位 (每百台困人)", "top_owners": "使用单位 (每百台困人)", "rank": "排名",
        "name": "名称", "per_100_lifts": "每百台困人", "cause_human": "人为", "cause_external": "外部/停电",
        "cause_door_system": "门系统", "cause_control_system": "控制系统", "cause_other": "其他",
        "cause_unrecorded": "未记录", "place_residential": "住宅", "place_mall": "商场", "place_hospital": "医院",
        "place_school": "学校", "place_office": "办公", "place_hotel": "宾馆", "place_transport": "交通",
        "place_public": "公共场所", "place_industrial": "工业", "place_other": "其他", "place_unknown": "未知",
    },
    "en": {
        "title": "96333 elevator emergency report", "period": "Period", "timezone": "Time zone", "figure": "Figure",
        "value": "Value", "incidents": "Incidents", "calls": "Calls (phone-reported)", "false_alarms": "False alarms",
        "entrapments": "Entrapments", "persons_released": "Persons released", "injuries": "Injuries",
        "dispatched": "Dispatched", "arrival_30min_rate_pct": "30-minute arrival rate (%)",
        "response_rate_pct": "Response rate (%)", "lifts": "Elevators in use",
        "entrapments_per_lift": "Entrapments per lift", "entrapments_per_100_lifts": "Entrapments per 100 lifts",
        "tiers": "Rescue tier", "tier_1": "1 maintenance unit", "tier_2": "2 second-tier station",
        "tier_3": "3 fire brigade 119", "tier_none": "not dispatched", "causes": "Causes", "places": "Places",
        "slots": "Time of day", "count": "Count", "top": "Top ten", "top_units": "Maintenance units (per 100 lifts)",
        "top_owners": "Owners (per 100 lifts)", "rank": "Rank", "name": "Name", "per_100_lifts": "Per 100 lifts",
        "cause_human": "human", "cause_external": "external / power", "cause_door_system": "door system",
        "cause_control_system": "control system", "cause_other": "other", "cause_unrecorded": "not recorded",
        "place_residential": "residential", "place_mall": "mall", "place_hospital": "hospital",
        "place_school": "school", "place_office": "office", "place_hotel": "hotel", "place_transport": "transport",
        "place_public": "public", "place_industrial": "industrial", "place_other": "other",
        "place_unknown": "unknown",
    },
}
FIGURES = ("incidents", "calls", "false_alarms", "entrapments", "persons_released", "injuries", "dispatched",
           "arrival_30min_rate_pct", "response_rate_pct", "lifts", "entrapments_per_lift",
           "entrapments_per_100_lifts")
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_xlsx(report: MonthlyReport, lang: str = "zh-CN") -> bytes:
    """The workbook's bytes: sheet 1 (the figures, then each split), sheet 2 (the top ten)."""
    words = LABELS.get(lang, LABELS["zh-CN"])

    def label(key: str) -> str:
        return words.get(key, key)

    data = report.as_json()
    bold = Font(bold=True)
    book = Workbook()
    sheet: Any = book.active
    sheet.title = "report" if lang == "en" else "月报"
    sheet.append([label("title")])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([label("period"), f"{report.since.isoformat()} – {report.until.isoformat()}"])
    sheet.append([label("timezone"), report.timezone])
    sheet.append([])
    sheet.append([label("figure"), label("value")])
    for key in FIGURES:
        sheet.append([label(key), data[key]])
    for title, prefix, counts in (("tiers", "tier_", report.tiers), ("causes", "cause_", report.causes),
                                  ("places", "place_", report.places)):
        sheet.append([])
        sheet.append([label(title), label("count")])
        sheet.cell(sheet.max_row, 1).font = bold
        for key, n in counts.items():
            sheet.append([label(prefix + key), n])
    sheet.append([])
    sheet.append([label("slots"), label("count")])
    sheet.cell(sheet.max_row, 1).font = bold
    for slot, n in report.slots:
        sheet.append([slot, n])
    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 26

    top: Any = book.create_sheet("top ten" if lang == "en" else "前十名")
    for title, rows in (("top_units", report.top_units), ("top_owners", report.top_owners)):
        top.append([label(title)])
        top.cell(top.max_row, 1).font = bold
        top.append([label("rank"), label("name"), label("entrapments"), label("lifts"), label("per_100_lifts")])
        for rank, row in enumerate(rows, 1):
            top.append([rank, row.name, row.entrapments, row.lifts, round(row.per_100_lifts, 2)])
        top.append([])
    top.column_dimensions["B"].width = 36
    out = BytesIO()
    book.save(out)
    return out.getvalue()
