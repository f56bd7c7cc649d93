"""The register's columns under a Chinese register's headings, and its coded values in Chinese:
pure, no I/O.

A Chinese office's register names its columns in Chinese (设备代码, 设备类别, 安装地址, 区县代码,
使用单位, 在用状态, …), as the registration records of TSG 08-2017 特种设备使用管理规则 (附件:
使用登记表) and the provincial platforms' exports do. Each column of ``registry.io_rows.COLUMNS``
has one Chinese heading the export writes (``HEADINGS``) and the other names offices use for it
(``ALIASES``); the import takes the English name, the Chinese heading or an alias, in any case
and with full-width brackets or spaces. Coded values (category, status, type) are written in
Chinese by a Chinese export (the Chinese names the import already takes: ``registry.io_rows``,
``registry/intervals.toml`` ``aliases``), so a file exported in zh-CN reads back as the same
register.

A party's name without its code cannot identify the party: a file with 使用单位 (the owner's
name) but no 使用单位代码 leaves its owners as stored, with a warning (``Header``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# The export's Chinese heading of each column (the register's own term where there is one).
HEADINGS: Mapping[str, str] = {
    "registration_code": "设备代码",
    "use_registration_no": "使用登记证编号",
    "rescue_code": "救援识别码",
    "category": "设备类别",
    "type": "设备品种/类型",
    "address": "安装地址",
    "district_code": "区县代码",
    "area": "区域类别",
    "place": "使用场所",
    "latitude": "纬度",
    "longitude": "经度",
    "owner_code": "使用单位代码",
    "owner_name": "使用单位",
    "maintenance_code": "维保单位代码",
    "maintenance_name": "维保单位",
    "maintenance_phone": "维保单位电话",
    "maintenance_contacts": "维保单位值班联系人",
    "agency_code": "检验机构代码",
    "agency_name": "检验机构",
    "agency_email": "检验机构电子邮箱",
    "agency_webhook_url": "检验机构Webhook",
    "status": "在用状态",
    "commissioned_on": "投用日期",
    "scheme": "检验方案",
    "installed_on": "安装监督检验日期",
    "renovated_on": "改造监督检验日期",
    "major_repair_on": "重大修理监督检验日期",
    "manufactured_on": "制造日期",
    "stopped_on": "停用日期",
    "resumed_on": "重新启用日期",
    "relocated_on": "移装日期",
    "floors": "层站数",
    "rated_speed_mps": "额定速度(m/s)",
    "rated_pressure_mpa": "额定压力(MPa)",
    "rated_outlet_temp_c": "额定出口温度(°C)",
    "medium": "介质",
    "safety_grade": "安全状况等级",
    "gas": "充装气体类别",
    "design_life_years": "设计使用年限(年)",
    "internal_impossible": "无法进行内部检验",
    "lifts_molten_metal": "吊运熔融金属",
    "periodic_inspection": "需定期检验",
    "reports_events": "上报故障代码",
    "code_table": "故障代码表",
    "entrapment_outside_door_zone_s": "非平层困人判定时间(秒)",
    "entrapment_in_door_zone_s": "平层困人判定时间(秒)",
    "entrapment_min_detections": "困人判定最少检测次数",
    "entrapment_held_modes": "不判困人的服务模式",
    # The registration record's 上次/下次检验日期 are the periodic inspection's; 下次检验日期 is the
    # date the last report states (the due date from then on), the computed one is 定期检验到期日.
    "last_periodic": "上次检验日期",
    "stated_next_periodic": "下次检验日期",
    "periodic_months": "定期检验周期(月)",
    "next_periodic": "定期检验到期日",
    "last_self_test": "上次自行检测日期",
    "stated_next_self_test": "下次自行检测日期",
    "next_self_test": "自行检测到期日",
    "last_external": "上次外部检验日期",
    "stated_next_external": "下次外部检验日期",
    "external_months": "外部检验周期(月)",
    "next_external": "外部检验到期日",
    "last_internal": "上次内部检验日期",
    "stated_next_internal": "下次内部检验日期",
    "internal_months": "内部检验周期(月)",
    "next_internal": "内部检验到期日",
    "last_hydrostatic": "上次耐压试验日期",
    "stated_next_hydrostatic": "下次耐压试验日期",
    "hydrostatic_months": "耐压试验周期(月)",
    "next_hydrostatic": "耐压试验到期日",
    "last_annual": "上次年度检验日期",
    "stated_next_annual": "下次年度检验日期",
    "annual_months": "年度检验周期(月)",
    "next_annual": "年度检验到期日",
    "next_due": "最近到期日",
    "fit_for_use": "准用状态",
}

# Other names offices give the same column.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "registration_code": ("注册代码", "设备注册代码"),
    "use_registration_no": ("使用登记证号", "使用登记证号码", "登记证编号"),
    "category": ("设备种类", "类别"),
    "type": ("设备品种", "设备类型", "品种"),
    "address": ("设备地址", "使用地址", "安装地点"),
    "district_code": ("行政区划代码", "所在区县代码"),
    "owner_code": ("使用单位统一社会信用代码", "使用单位社会信用代码"),
    "owner_name": ("使用单位名称",),
    "maintenance_code": ("维保单位统一社会信用代码",),
    "maintenance_name": ("维保单位名称", "维护保养单位"),
    "maintenance_phone": ("维保电话", "维保单位联系电话"),
    "agency_name": ("检验机构名称",),
    "status": ("设备状态", "使用状态"),
    "commissioned_on": ("投入使用日期",),
    "rated_speed_mps": ("额定速度",),
    "rated_pressure_mpa": ("额定压力",),
    "last_periodic": ("上次定期检验日期",),
    "stated_next_periodic": ("下次定期检验日期",),
}


def _fold(name: str) -> str:
    """A heading as compared: NFKC (full-width brackets and letters as ASCII), lower case, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).lower()


def heading_index(names: tuple[str, ...]) -> dict[str, str]:
    """Folded heading → column name, for the columns ``names`` (the register's layout)."""
    index: dict[str, str] = {}
    for name in names:
        for heading in (name, HEADINGS.get(name), *ALIASES.get(name, ())):
            if heading is not None:
                index.setdefault(_fold(heading), name)
    return index


def column_of(heading: str, index: Mapping[str, str]) -> str | None:
    """The column a file's heading names, or None."""
    return index.get(_fold(heading))


def chinese_heading(name: str) -> str:
    """The export's zh-CN heading of a column (its English name where it has none)."""
    return HEADINGS.get(name, name)
