"""The alerts' error messages in each language: the catalogue ``alerts.api`` hands the shell
(``Part.messages``, ``web.i18n``), and the names of the states, steps and fields those messages
speak of, in the console's words (``console/static/i18n.js``: ``incident_state``, ``step``, the
close record's ``rec_*``). No imports of the alerts' own modules: the pure incident logic
(``alerts.incidents``) and the stores name their errors with these.

The English text of an error stays its message (what logs, scripts and older clients read); a
parameter that names a state, a step or a field is given in both languages (``named``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

# An incident's states (console: incident_state).
STATE_NAMES: Final[Mapping[str, str]] = {
    "raised": "待接警", "acknowledged": "已接警", "dispatched": "已派遣", "responded": "已响应", "on_site": "已到场",
    "released": "已解困", "closed": "已结案", "false_alarm": "误报",
}
# The steps of an incident's history (console: step).
STEP_NAMES: Final[Mapping[str, str]] = {
    "raised": "接入", "acknowledged": "接警", "dispatched": "派遣", "responded": "响应", "no_answer": "无人接听",
    "on_site": "到场", "released": "解困", "closed": "结案", "false_alarm": "误报", "comment": "备注",
    "ack_overdue": "接警超时", "response_overdue": "响应超时", "arrival_overdue": "到场超时", "escalated": "升级",
    "alarm_cleared": "告警消除", "alarm_linked": "关联设备告警",
}
# The fields a step carries (console: the close record's rec_*, the dispatch form).
FIELD_NAMES: Final[Mapping[str, str]] = {
    "persons_released": "解救人数", "injuries": "受伤人数", "cause_class": "困人原因", "self_release": "自行脱困",
    "callback_confirmed": "回访确认", "maintenance_unit": "维保单位", "contact": "联系人", "tier": "救援级别",
}
# What an operator does with an alarm (console: alarm_acknowledge, alarm_shelve, alarm_unshelve).
ALARM_ACTION_NAMES: Final[Mapping[str, str]] = {"acknowledged": "确认", "shelved": "搁置", "unshelved": "取消搁置"}
# The register's categories (特种设备目录), as a refused phone report names them.
CATEGORY_NAMES: Final[Mapping[str, str]] = {
    "elevator": "电梯", "boiler": "锅炉", "pressure_vessel": "压力容器", "pressure_piping": "压力管道",
    "gas_cylinder": "气瓶", "crane": "起重机械", "in_plant_vehicle": "场（厂）内专用机动车辆",
    "large_amusement_ride": "大型游乐设施", "passenger_ropeway": "客运索道",
}
# The alarm types an operator cannot handle as alarms (alerts.desks: not shelvable).
ALARM_TYPE_NAMES: Final[Mapping[str, str]] = {"entrapment": "困人"}


def named(zh_names: Mapping[str, str], values: Iterable[str] | str, *, empty_zh: str = "",
          empty_en: str = "") -> dict[str, str]:
    """``values`` (one, or several joined: "、" in Chinese, ", " in English) as a parameter in each
    language (``web.i18n.Named``); a value without a Chinese name keeps its own."""
    items = [values] if isinstance(values, str) else [str(v) for v in values]
    if not items:
        return {"zh-CN": empty_zh, "en": empty_en}
    return {"zh-CN": "、".join(zh_names.get(v, v) for v in items), "en": ", ".join(items)}


MESSAGES: Final[Mapping[str, Mapping[str, str]]] = {
    # Incidents (alerts.incidents, alerts.incident_store, alerts.api)
    "alerts.incident_not_found": {"zh-CN": "没有编号为 {id} 的救援事件", "en": "incident {id} not found"},
    "alerts.incident_open": {"zh-CN": "设备 {device_id} 已有未结的救援事件：{id}",
                             "en": "device {device_id} has an open incident already: {id}"},
    "alerts.step_not_allowed": {"zh-CN": "事件 {id} 当前为“{state}”，不能再“{step}”（可执行：{allowed}）",
                                "en": "incident {id} is {state}: {step} is not allowed (allowed: {allowed})"},
    "alerts.tier_back": {"zh-CN": "事件 {id} 已是第 {tier} 级救援，派遣不能退回第 {to} 级",
                         "en": "incident {id} is at tier {tier}: a dispatch cannot go back to tier {to}"},
    "alerts.not_operator_step": {"zh-CN": "“{step}”不是值班员可执行的操作，可执行：{steps}",
                                 "en": "{step} is not a step an operator takes; one of {steps}"},
    "alerts.actor_needed": {"zh-CN": "每一步都需要操作人", "en": "every step needs an actor"},
    "alerts.tier_unknown": {"zh-CN": "救援级别须为 {tiers} 之一，不能是 {tier}",
                            "en": "tier must be one of {tiers}, not {tier}"},
    "alerts.dispatch_needs": {"zh-CN": "派遣需要填写维保单位和联系人",
                              "en": "dispatched needs the maintenance unit and its contact"},
    "alerts.dispatch_fields": {"zh-CN": "维保单位和联系人只用于“派遣”和“无人接听”",
                               "en": "maintenance_unit and contact belong to the dispatched and no_answer steps"},
    "alerts.tier_field": {"zh-CN": "救援级别只用于“派遣”", "en": "tier belongs to the dispatched step"},
    "alerts.close_needs": {"zh-CN": "结案需填写：{fields}", "en": "closed needs {fields} (missing)"},
    "alerts.negative": {"zh-CN": "{field}不能为负数", "en": "{field} cannot be negative"},
    "alerts.injuries_exceed_released": {
        "zh-CN": "受伤人数（{injuries}）不能多于解救人数（{released}）：受伤人数只计被解救者中受伤的人",
        "en": "injuries ({injuries}) cannot exceed persons_released ({released}): injuries count the released "
              "persons hurt"},
    "alerts.not_an_elevator": {
        "zh-CN": "{device_id} 登记为{category}，不是电梯：96333 困人事件只对电梯、自动扶梯和自动人行道建立",
        "en": "{device_id} is registered as {category}, not an elevator: a 96333 entrapment is opened on an "
              "elevator, escalator or moving walk"},
    "alerts.stale_view": {
        "zh-CN": "事件 {id} 已由 {who} 于 {at} 变为“{state}”；此操作基于显示为“{expected}”的旧画面，请重新查看",
        "en": "incident {id} is already {state} by {who} at {at}; the step was taken on a view that showed it "
              "{expected}: look again"},
    "alerts.no_answer_callee": {
        "zh-CN": "记录无人接听需填写未接听的单位和电话：本事件尚无已知的联系单位",
        "en": "no_answer needs who did not answer: maintenance_unit and contact (the phone called); none is known "
              "for this incident yet"},
    "alerts.close_fields": {"zh-CN": "{fields}只用于“结案”", "en": "{fields} belong to the closed step"},
    # Alarms (alerts.alarm_store, alerts.api)
    "alerts.alarm_not_found": {"zh-CN": "没有编号为 {id} 的告警", "en": "alarm {id} not found"},
    "alerts.alarm_not_handled": {"zh-CN": "告警 {id} 为{type}告警，不能{action}，请在其救援事件中处置",
                                 "en": "alarm {id} is an {type}: it cannot be {action}; "
                                       "work it through its rescue incident"},
    "alerts.alarm_cleared": {"zh-CN": "告警 {id} 已消除", "en": "alarm {id} is cleared already"},
    # Periods (the handover, the KPIs, the monthly report)
    "alerts.since_until": {"zh-CN": "起始时间须早于截止时间", "en": "since must be before until"},
    "alerts.report_month": {"zh-CN": "月份须为 YYYY-MM 格式，而不是 {month}",
                            "en": "month must be YYYY-MM, not {month}"},
    "alerts.report_year": {"zh-CN": "年份须在 {min} 至 {max} 之间", "en": "the year must be between {min} and {max}"},
}
