// All UI text, Chinese first (zh-CN is the default; en for visitors and tests).
// Pure module: importable in node for tests (localStorage is optional).

const STORAGE_KEY = "semon.lang";
export const LANGS = ["zh-CN", "en"];

const zh = {
  app_title: "西宁市特种设备监测平台",
  nav_board: "应急处置看板", nav_agency: "检验机构", nav_bureau: "监管局", nav_login: "登录",
  logout: "退出登录", dev_mode: "开发模式（未启用登录）", lang_switch: "English",
  live: "实时", not_live: "连接中断，正在重连…", connecting: "正在连接…", reconnect_in: "{s} 秒后重连",
  enable_sound: "开启声音", sound_on: "声音已开启",
  login_title: "登录", username: "用户名", password: "密码", login_submit: "登录",
  login_failed: "用户名或密码错误", login_unavailable: "登录服务暂不可用",
  forbidden: "您无权访问此页面。", go_home: "返回首页", loading: "加载中…", error: "出错了：{msg}",
  sep: "：", retry: "重试", none: "无", yes: "是", no: "否", close: "关闭", unknown: "未知",
  // Board
  entrapments: "困人救援", no_entrapments: "当前无困人事件", other_alarms: "其他告警", no_alarms: "当前无告警",
  entrapment_banner: "困人告警！{n} 起未应答", trapped_for: "被困时长", trapped_ended: "已解困（{t}）",
  ack_deadline: "应答期限", arrival_deadline: "到场期限", overdue_by: "已超时 {t}", remaining: "剩余 {t}",
  awaiting_dispatch: "待派遣", arrived_at: "到场 {time}", late: "超时", on_time: "准时",
  incident_state: "状态", maintenance_unit: "维保单位", contact: "联系人/电话", comment: "备注",
  comment_placeholder: "处置备注（可选）", add_comment: "记录备注", false_alarm: "误报",
  confirm_false_alarm: "确认标记为误报？", step_conflict: "事件已被他人更新：{msg}", step_failed: "操作失败：{msg}",
  step_acknowledged: "应答", step_dispatched: "派遣维保单位", step_on_site: "确认到场",
  step_released: "确认解困", step_closed: "结案",
  dispatch_needs: "派遣需要填写维保单位和联系人", escalated: "已升级至二级救援：{who}",
  no_incident: "未建立救援事件", read_only: "只读",
  device: "设备", address: "地址", district: "区县", registration_code: "设备代码", owner: "使用单位",
  agency: "检验机构", status: "状态", last_inspection: "上次检验", next_due: "下次检验",
  fit_for_use: "可以使用", online: "在线", offline: "离线", last_seen: "最后上报", telemetry: "最新数据",
  open_alarms: "未消除告警", not_registered: "未登记", device_not_found: "未找到该设备",
  raised_at: "告警时间", severity: "级别", type: "类型", phone: "电话", category: "类别",
  // Agency
  agency_title: "检验机构工作台", overdue_list: "超期未检", due_list: "60 天内到期", notices: "通知",
  no_equipment: "无设备", no_notices: "无通知", days_overdue: "超期 {n} 天", days_left: "剩余 {n} 天",
  record_inspection: "录入检验结果", schedule: "检验项目", inspected_on: "检验日期", result: "结论",
  report_no: "报告编号", submit: "提交", recorded: "已录入，下次检验日期：{date}", record_this: "录入",
  agency_code: "检验机构代码", filter_agency: "按检验机构筛选（代码）", kind: "类型", recipient: "接收方",
  channel: "渠道", attempts: "尝试次数", last_error: "最近错误", created_at: "生成时间", delivered_at: "送达时间",
  due_date: "到期日", refresh: "刷新",
  // Bureau
  bureau_title: "监管总览", alarm_load: "实时告警负荷", total_open: "未消除告警合计", by_severity: "按级别",
  by_type: "按类型", rescue_kpis: "困人救援指标（近 30 天）", kpi_by_district: "按区县",
  kpi_by_unit: "按维保单位", not_dispatched: "未派遣", incidents: "事件数", false_alarms: "误报", response: "应答",
  arrival: "到场", rescue: "救援", mean: "平均", median: "中位", late_acks: "应答超时",
  late_arrivals: "到场超时", escalations: "升级", inspection_rate: "定检率（目标 {target}%）",
  rate_by_district: "按区县", rate_by_category: "按类别", city_rate: "全市定检率", in_use: "在用",
  overdue: "超期", rate: "定检率", meets_target: "达标", below_target: "未达标", trend: "定检率趋势（近 90 天）",
  expired_running: "超期未检仍在运行", no_expired_running: "当前无超期运行设备", in_minutes: "单位：分钟",
  // Map (the city map of alarms and incidents)
  nav_map: "地图", map_title: "全市告警与救援分布", map_city: "全市", map_core: "城区",
  map_incidents: "救援事件", map_alarms: "告警", map_total: "合计", map_unlocated: "{n} 个未登记坐标",
  map_outlines_failed: "区划边界加载失败：{msg}", map_legend_incident: "困人救援", map_legend_critical: "紧急告警",
  map_legend_other: "其他告警", map_source: "区划边界：天地图（示意，非权威界线）",
  // Users (the administrator's page, /admin/users)
  nav_users: "用户管理", users_title: "用户管理", users_add: "新增用户", users_log: "操作记录",
  users_display_name: "显示名称", users_role: "角色", users_initial_password: "初始密码",
  users_password_rule: "密码至少 8 个字符；请当面或通过安全渠道告知用户。", users_new_password: "新密码",
  users_reset: "重置", users_disable: "停用", users_enable: "启用", users_active: "启用中", users_inactive: "已停用",
  users_you: "本人", users_not_yourself: "不能停用自己的账号", users_none: "暂无用户", users_no_events: "暂无操作记录",
  users_created_on: "创建日期", users_when: "时间", users_who: "操作人", users_action: "操作", users_detail: "详情",
  users_created: "已新增用户 {user}", users_password_set: "已重置 {user} 的密码，其登录已失效",
  users_disabled: "已停用 {user}，其登录已失效", users_enabled: "已启用 {user}",
  // Agency desk (helper "agency"): lists, export, results upload, conclusions
  equipment_list: "设备清单", search_equipment: "设备代码、登记证编号、地址或使用单位", search: "查询",
  all_districts: "全部区县", all_categories: "全部类别", all_statuses: "全部状态", due_window: "到期范围",
  window_overdue: "超期未检", window_due30: "30 天内到期", window_due60: "60 天内到期", window_due90: "90 天内到期",
  window_all: "全部", sort_by: "排序", sort_next_due: "按下次检验日期", sort_registration_code: "按设备代码",
  sort_district: "按区县", sort_category: "按类别", sort_address: "按地址", sort_status: "按状态",
  sort_owner: "按使用单位", descending: "倒序", page_size: "每页条数", per_page: "每页 {n} 条",
  prev_page: "上一页", next_page: "下一页", export_xlsx: "导出 Excel（全部筛选结果）",
  list_count: "第 {from}–{to} 条，共 {total} 条", upload_results: "批量上传检验结果", upload_file: "结果文件",
  upload: "上传", upload_template: "下载模板", upload_done: "已录入 {stored} 条，退回 {rejected} 条",
  upload_hint: "CSV（Excel 另存的 CSV、CSV UTF-8 或 Unicode 文本均可）或 XLSX；列：设备代码、检验项目、检验日期、检验结论、检验性质、报告编号、检验员、下次检验日期、安全状况等级。正确的行会保存，错误的行按行号列出。",
  line: "行号", reason: "原因", whole_file: "整个文件", safety_grade: "安全状况等级", conclusion: "检验结论",
  inspection_kind: "检验性质", inspector: "检验员", report_file: "检验报告文件", report_uploaded: "报告文件已上传",
};

const en = {
  app_title: "Xining Special Equipment Monitoring",
  nav_board: "Emergency board", nav_agency: "Inspection agency", nav_bureau: "Bureau", nav_login: "Log in",
  logout: "Log out", dev_mode: "development mode (no login)", lang_switch: "中文",
  live: "live", not_live: "not live: reconnecting…", connecting: "connecting…", reconnect_in: "reconnecting in {s} s",
  enable_sound: "enable sound", sound_on: "sound on",
  login_title: "Log in", username: "Username", password: "Password", login_submit: "Log in",
  login_failed: "wrong username or password", login_unavailable: "login is unavailable",
  forbidden: "You may not open this page.", go_home: "Home", loading: "loading…", error: "error: {msg}",
  sep: ": ", retry: "retry", none: "none", yes: "yes", no: "no", close: "close", unknown: "unknown",
  entrapments: "Entrapments", no_entrapments: "no entrapment", other_alarms: "Other alarms", no_alarms: "no alarm",
  entrapment_banner: "ENTRAPMENT! {n} not acknowledged", trapped_for: "trapped for", trapped_ended: "freed ({t})",
  ack_deadline: "acknowledge by", arrival_deadline: "arrival by", overdue_by: "late by {t}", remaining: "{t} left",
  awaiting_dispatch: "awaiting dispatch", arrived_at: "arrived {time}", late: "late", on_time: "on time",
  incident_state: "state", maintenance_unit: "maintenance unit", contact: "contact / phone", comment: "comment",
  comment_placeholder: "comment (optional)", add_comment: "add comment", false_alarm: "false alarm",
  confirm_false_alarm: "Mark as a false alarm?", step_conflict: "someone else updated it: {msg}",
  step_failed: "failed: {msg}",
  step_acknowledged: "Acknowledge", step_dispatched: "Dispatch maintenance", step_on_site: "On site",
  step_released: "Passengers released", step_closed: "Close",
  dispatch_needs: "dispatch needs the maintenance unit and a contact", escalated: "escalated to {who}",
  no_incident: "no incident", read_only: "read only",
  device: "device", address: "address", district: "district", registration_code: "registration code",
  owner: "owner", agency: "inspection agency", status: "status", last_inspection: "last inspection",
  next_due: "next due", fit_for_use: "fit for use", online: "online", offline: "offline", last_seen: "last seen",
  telemetry: "latest telemetry", open_alarms: "open alarms", not_registered: "not registered",
  device_not_found: "device not found", raised_at: "raised", severity: "severity", type: "type", phone: "phone",
  category: "category",
  agency_title: "Inspection agency", overdue_list: "Overdue", due_list: "Due within 60 days", notices: "Notices",
  no_equipment: "no equipment", no_notices: "no notice", days_overdue: "{n} days overdue", days_left: "{n} days left",
  record_inspection: "Record an inspection", schedule: "schedule", inspected_on: "inspected on", result: "result",
  report_no: "report no.", submit: "Submit", recorded: "recorded; next due {date}", record_this: "record",
  agency_code: "agency code", filter_agency: "filter by agency (code)", kind: "kind", recipient: "recipient",
  channel: "channel", attempts: "attempts", last_error: "last error", created_at: "created", delivered_at: "delivered",
  due_date: "due", refresh: "refresh",
  bureau_title: "City overview", alarm_load: "Live alarm load", total_open: "open alarms", by_severity: "by severity",
  by_type: "by type", rescue_kpis: "Rescue KPIs (last 30 days)", kpi_by_district: "by district",
  kpi_by_unit: "by maintenance unit", not_dispatched: "not dispatched", incidents: "incidents", false_alarms: "false alarms", response: "response",
  arrival: "arrival", rescue: "rescue", mean: "mean", median: "median", late_acks: "late acks",
  late_arrivals: "late arrivals", escalations: "escalations", inspection_rate: "Inspection rate (target {target}%)",
  rate_by_district: "by district", rate_by_category: "by category", city_rate: "city rate", in_use: "in use",
  overdue: "overdue", rate: "rate", meets_target: "meets target", below_target: "below target",
  trend: "Inspection-rate trend (90 days)", expired_running: "Running with an expired inspection",
  no_expired_running: "none running with an expired inspection", in_minutes: "in minutes",
  // Map (the city map of alarms and incidents)
  nav_map: "Map", map_title: "Alarms and incidents across the city", map_city: "Whole city", map_core: "Urban core",
  map_incidents: "incidents", map_alarms: "alarms", map_total: "total", map_unlocated: "{n} without coordinates",
  map_outlines_failed: "the district outlines could not be loaded: {msg}", map_legend_incident: "entrapment rescue",
  map_legend_critical: "critical alarm", map_legend_other: "other alarm",
  map_source: "district outlines: Tianditu (for orientation, not an authoritative boundary)",
  // Users (the administrator's page, /admin/users)
  nav_users: "Users", users_title: "Users", users_add: "Add user", users_log: "Changes",
  users_display_name: "display name", users_role: "role", users_initial_password: "initial password",
  users_password_rule: "At least 8 characters; hand it over in person or by a safe channel.",
  users_new_password: "new password", users_reset: "Reset", users_disable: "Disable", users_enable: "Enable",
  users_active: "active", users_inactive: "disabled", users_you: "you", users_not_yourself: "you cannot disable yourself",
  users_created_on: "created", users_none: "no users", users_no_events: "no changes recorded", users_when: "when", users_who: "by",
  users_action: "change", users_detail: "detail", users_created: "user {user} added",
  users_password_set: "password of {user} reset; their sessions ended", users_disabled: "{user} disabled; their sessions ended",
  users_enabled: "{user} enabled",
  // Agency desk (helper "agency"): lists, export, results upload, conclusions
  equipment_list: "Equipment", search_equipment: "code, certificate no., address or owner", search: "Search",
  all_districts: "all districts", all_categories: "all categories", all_statuses: "all statuses",
  due_window: "due window", window_overdue: "overdue", window_due30: "due within 30 days",
  window_due60: "due within 60 days", window_due90: "due within 90 days", window_all: "all", sort_by: "sort by",
  sort_next_due: "next due", sort_registration_code: "registration code", sort_district: "district",
  sort_category: "category", sort_address: "address", sort_status: "status", sort_owner: "owner",
  descending: "descending", page_size: "rows per page", per_page: "{n} per page", prev_page: "previous",
  next_page: "next", export_xlsx: "Export XLSX (whole filtered list)", list_count: "{from}–{to} of {total}",
  upload_results: "Upload inspection results", upload_file: "results file", upload: "Upload",
  upload_template: "template", upload_done: "{stored} recorded, {rejected} rows refused",
  upload_hint: "CSV (Excel's CSV, CSV UTF-8 or Unicode Text) or XLSX; columns: registration code, schedule, inspected on, conclusion, kind, report no., inspector, next stated, safety grade, in English or Chinese. Good rows are stored; bad ones are listed by line.",
  line: "line", reason: "reason", whole_file: "whole file", safety_grade: "safety grade", conclusion: "conclusion",
  inspection_kind: "kind", inspector: "inspector", report_file: "report file", report_uploaded: "report file uploaded",
};

// Names of domain values, per language: [zh, en].
const NAMES = {
  alarm_type: {
    entrapment: ["困人", "entrapment"], alarm_button: ["报警按钮（无人）", "alarm button (empty car)"],
    safety_circuit_open: ["安全回路断开", "safety circuit open"], door_close_fault: ["关门故障", "door close fault"],
    door_open_fault: ["开门故障", "door open fault"],
    stopped_outside_door_zone: ["门区外停梯", "stopped outside the door zone"],
    unintended_car_movement: ["开门走车", "unintended car movement"],
    motor_runtime_limiter: ["电动机运转时间限制器动作", "motor run-time limiter"],
    floor_position_lost: ["楼层位置丢失", "floor position lost"], prevent_restart_fault: ["防止重开故障", "prevent-restart fault"],
    overrun_top: ["冲顶", "overrun top"], overrun_bottom: ["蹲底", "overrun bottom"], overspeed: ["超速", "overspeed"],
    main_power_lost: ["主电源断电", "main power lost"], extreme_low_water: ["极低水位", "extreme-low water"],
    high_water: ["高水位", "high water"], over_pressure: ["超压", "over-pressure"],
    over_temperature: ["超温", "over-temperature"], flame_failure: ["熄火", "flame failure"],
    inspection_expired_running: ["超期未检仍在运行", "running with an expired inspection"],
    offline: ["离线", "offline"], silent: ["无数据", "silent"],
  },
  severity: { critical: ["紧急", "critical"], major: ["重要", "major"], minor: ["一般", "minor"], warning: ["提示", "warning"] },
  incident_state: {
    raised: ["待应答", "raised"], acknowledged: ["已应答", "acknowledged"], dispatched: ["已派遣", "dispatched"],
    on_site: ["已到场", "on site"], released: ["已解困", "released"], closed: ["已结案", "closed"],
    false_alarm: ["误报", "false alarm"],
  },
  category: {
    elevator: ["电梯", "elevator"], boiler: ["锅炉", "boiler"], pressure_vessel: ["压力容器", "pressure vessel"],
    pressure_piping: ["压力管道", "pressure piping"], gas_cylinder: ["气瓶", "gas cylinder"], crane: ["起重机械", "crane"],
    in_plant_vehicle: ["场（厂）内专用机动车辆", "in-plant vehicle"],
    large_amusement_ride: ["大型游乐设施", "large amusement ride"], passenger_ropeway: ["客运索道", "passenger ropeway"],
  },
  district: {
    "630102": ["城东区", "Chengdong"], "630103": ["城中区", "Chengzhong"], "630104": ["城西区", "Chengxi"],
    "630105": ["城北区", "Chengbei"], "630106": ["湟中区", "Huangzhong"], "630121": ["大通县", "Datong County"],
    "630123": ["湟源县", "Huangyuan County"],
  },
  equipment_status: { in_use: ["在用", "in use"], stopped: ["停用", "stopped"], scrapped: ["报废", "scrapped"] },
  schedule: {
    periodic: ["定期检验", "periodic"], external: ["外部检验", "external"], internal: ["内部检验", "internal"],
    hydrostatic: ["水（耐）压试验", "hydrostatic"],
  },
  result: { pass: ["合格", "pass"], conditional: ["有条件合格", "conditional"], fail: ["不合格", "fail"] },
  notice_kind: { due: ["到期提醒", "due"], overdue: ["超期通知", "overdue"] },
  // Agency desk (helper "agency")
  inspection_kind: { regular: ["定期检验", "regular"], reinspection: ["复检", "re-inspection"] },
  notice_state: { pending: ["待发送", "pending"], delivered: ["已送达", "delivered"], failed: ["失败", "failed"], cancelled: ["已取消", "cancelled"] },
  channel: { webhook: ["Webhook", "webhook"], email: ["电子邮件", "e-mail"] },
  role: { operator: ["值班员", "operator"], agency: ["检验机构", "agency"], bureau: ["监管局", "bureau"], admin: ["管理员", "admin"] },
  // Users: what user_events records
  user_action: {
    created: ["新增", "created"], password_reset: ["重置密码", "password reset"], disabled: ["停用", "disabled"],
    enabled: ["启用", "enabled"],
  },
  kind: { elevator: ["电梯", "elevator"], boiler: ["锅炉", "boiler"] },
  telemetry: {
    running: ["运行", "running"], direction: ["方向", "direction"], floor: ["楼层", "floor"],
    door_locked: ["门锁闭", "door locked"], door_zone: ["平层区", "in door zone"], passenger: ["有人", "passenger"],
    mode: ["服务模式", "mode"], power: ["电源", "power"], speed_mps: ["速度 m/s", "speed m/s"],
    trip_count: ["运行次数", "trips"], run_hours: ["运行小时", "run hours"], burner_on: ["燃烧器", "burner"],
    flame: ["火焰", "flame"], pressure_mpa: ["压力 MPa", "pressure MPa"], water_level_mm: ["水位 mm", "water level mm"],
    outlet_temp_c: ["出水温度 °C", "outlet °C"], return_temp_c: ["回水温度 °C", "return °C"],
    flue_temp_c: ["排烟温度 °C", "flue °C"], feedwater_flow_m3h: ["给水流量 m³/h", "feed water m³/h"],
    fuel_flow_m3h: ["燃料流量 m³/h", "fuel m³/h"],
  },
  telemetry_value: {
    up: ["上行", "up"], down: ["下行", "down"], stop: ["停止", "stopped"], normal: ["正常", "normal"],
    inspection: ["检修", "inspection"], fire_return: ["消防返回", "fire return"], firefighter: ["消防员", "firefighter"],
    emergency_power: ["应急电源", "emergency power"], seismic: ["地震", "seismic"], out_of_service: ["停止服务", "out of service"],
    main: ["主电源", "mains"], battery: ["电池", "battery"], off: ["断电", "off"],
  },
};

const DICTS = { "zh-CN": zh, en };
let current = readStored();

function readStored() {
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    return LANGS.includes(stored) ? stored : "zh-CN";
  } catch {
    return "zh-CN"; // storage blocked: the default
  }
}

export function lang() {
  return current;
}

export function setLang(value) {
  current = LANGS.includes(value) ? value : "zh-CN";
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, current);
  } catch {
    // not persisted; this page still switches
  }
}

// t("remaining", {t: "05:00"}): the string for the current language, zh-CN where en lacks it.
export function t(key, vars = {}) {
  const text = DICTS[current][key] ?? zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

// name("alarm_type", "entrapment") → 困人; the raw value where the name is not known.
export function name(group, value) {
  if (value === null || value === undefined) return "";
  const pair = NAMES[group]?.[value];
  if (!pair) return String(value);
  return pair[current === "en" ? 1 : 0];
}

export function keysOf(group) {
  return Object.keys(NAMES[group] ?? {});
}
