"""Fault and event codes of wire protocol v1.

Elevator codes follow the GB/T 24476-2017 platforms; boiler codes are this protocol's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventClass(StrEnum):
    FAULT = "fault"
    ENTRAPMENT = "entrapment"
    STATE = "state"
    ALARM_BUTTON = "alarm_button"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class EventCode:
    code: int
    name: str
    zh: str
    event_class: EventClass


def _table(*codes: EventCode) -> dict[int, EventCode]:
    return {c.code: c for c in codes}


ELEVATOR_EVENT_CODES: dict[int, EventCode] = _table(
    EventCode(1, "safety_circuit_open", "安全回路断路", EventClass.FAULT),
    EventCode(2, "door_close_fault", "关门故障", EventClass.FAULT),
    EventCode(3, "door_open_fault", "开门故障", EventClass.FAULT),
    EventCode(4, "stopped_outside_unlocking_zone", "门区外停梯", EventClass.FAULT),
    EventCode(5, "unintended_car_movement", "开门走车", EventClass.FAULT),
    EventCode(6, "motor_runtime_limiter", "电动机运转时间限制器动作", EventClass.FAULT),
    EventCode(7, "floor_position_lost", "楼层位置丢失", EventClass.FAULT),
    EventCode(8, "prevent_restart_fault", "防止电梯再启动故障", EventClass.FAULT),
    EventCode(9, "overrun_top", "冲顶", EventClass.FAULT),
    EventCode(10, "overrun_bottom", "蹲底", EventClass.FAULT),
    EventCode(11, "passengers_trapped", "困人", EventClass.ENTRAPMENT),
    EventCode(40, "back_to_normal", "恢复正常", EventClass.RECOVERY),
    EventCode(41, "main_power_lost", "主电源断电", EventClass.STATE),
    EventCode(42, "out_of_service", "停止服务", EventClass.STATE),
    EventCode(43, "inspection_mode", "检修", EventClass.STATE),
    EventCode(44, "fire_return", "消防返回", EventClass.STATE),
    EventCode(45, "firefighter", "消防员运行", EventClass.STATE),
    EventCode(46, "emergency_power", "应急电源运行", EventClass.STATE),
    EventCode(47, "seismic", "地震运行", EventClass.STATE),
    EventCode(90, "alarm_button", "报警按钮", EventClass.ALARM_BUTTON),
)

BOILER_EVENT_CODES: dict[int, EventCode] = _table(
    EventCode(101, "extreme_low_water", "极低水位", EventClass.FAULT),
    EventCode(102, "high_water", "高水位", EventClass.FAULT),
    EventCode(103, "over_pressure", "超压", EventClass.FAULT),
    EventCode(104, "over_temperature", "超温", EventClass.FAULT),
    EventCode(105, "flame_failure", "熄火", EventClass.FAULT),
    EventCode(140, "back_to_normal", "恢复正常", EventClass.RECOVERY),
)
